package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// FuzzHandler sends request paths through the whole server, over a file
// store that holds a version of example.com/m and of github.com/o/r (so
// that paths under both reach existing directories) and an upstream that
// answers 404 to everything: no path may get a 5xx answer (every path
// either names a stored object, names one that is not found, or names
// none at all) or make the server panic, and every error has a reason in
// its body.
func FuzzHandler(f *testing.F) {
	x300 := strings.Repeat("x", 300)
	for _, seed := range []string{
		"/example.com/m/@v/list",
		"/example.com/m/@latest",
		"/example.com/m/@v/v1.0.0.info",
		"/example.com/m/@v/v1.0.0.mod",
		"/example.com/m/@v/v1.0.0.zip",
		"/example.com/m/@v/v1.1.0.zip",
		"/example.com/m/@v/main.info",
		"/cached-only/example.com/m/@v/v1.0.0.zip",
		"/cached-only/example.com/n/@v/v1.0.0.info",
		// Elements longer than file systems allow, keys longer than object
		// stores take, paths longer than the operating system takes.
		"/github.com/" + x300 + "/@v/list",
		"/example.com/" + x300 + "/@v/list",
		"/github.com/o/" + x300 + "/@v/list",
		"/github.com/o/r/@v/" + x300 + ".info",
		"/github.com/" + x300 + "/@latest",
		"/github.com/" + x300 + "/@v/v1.0.0.info",
		"/github.com/" + x300 + "/@v/v1.0.0.mod",
		"/github.com/" + x300 + "/@v/v1.0.0.zip",
		"/github.com/" + x300 + "/@v/master.info",
		"/cached-only/github.com/" + x300 + "/@v/v1.0.0.zip",
		"/github.com/" + strings.Repeat("y", 255) + "/@v/list",
		"/github.com/" + strings.Repeat("y", 256) + "/@v/v1.0.0.info",
		"/example.com/m/@v/v1.0.0-" + x300 + ".info",
		"/example.com/m/@v/v1.0.0-" + x300 + ".zip",
		"/example.com/" + strings.Repeat("a/", 500) + "@v/list",
		"/example.com/" + strings.Repeat("abcdefghi/", 200) + "@v/v1.0.0.info",
		"/example.com/" + strings.Repeat("abcdefghi/", 500) + "@v/v1.0.0.zip",
		// Escapes, encoded and not.
		"/example.com/%21m/@v/list",
		"/example.com/%2521m/@v/list",
		"/example.com/!m/@v/v1.0.0.info",
		"/example.com/m/@v/v1.0.0%2Bincompatible.info",
		"/%65xample.com/m/@v/list",
		"/example.com/m%2f@v/list",
		"/example.com/m/@v/%2e%2e.info",
		"/example.com/m/@v/v1.0.0.info%3F",
		"/example.com/m/@v/v1.0.0.info?x=1",
		"/example.com/m/@v/v1.0.0.info#frag",
		"/example.com/m/@v/__0x41__.info",
		"/example.com/a__0x2F__b/@v/list",
		"/example.com/m\\@v/list",
		"/example.com/m/@v/v1.0.0%5c.info",
		"/example.com/%C3%BC/@v/list",
		"/example.com/%FF/@v/list",
		// Dots.
		"/../example.com/m/@v/list",
		"/example.com/m/@v/../../../../x.info",
		"/example.com/m/%2e%2e/%2e%2e/@v/list",
		"/./example.com/m/@v/list",
		"/example.com/./m/@v/list",
		// NUL and other control bytes, escaped.
		"/example.com/m%00/@v/list",
		"/example.com/m/@v/v1.0.0%00.info",
		"/example.com/m/@v/v1.0.0.info%00",
		"/example.com/m%0a/@v/list",
		// Uppercase.
		"/example.com/M/@v/list",
		"/Example.com/m/@v/list",
		"/example.com/m/@V/list",
		"/example.com/m/@v/V1.0.0.info",
		"/example.com/m/@v/LIST",
		"/EXAMPLE.COM/M/@LATEST",
		// @v tricks.
		"/example.com/m/@v/@v/list",
		"/@v/list",
		"/@latest",
		"/example.com/@v/@latest",
		"/example.com/m/@v/list/@v/list",
		"/example.com/m/@v/v1.0.0.info/@v/list",
		"/example.com/m/@v/v1.0.0.zip.info",
		"/example.com/m/@latest/@v/list",
		"/example.com/m/@v/",
		"/example.com/m/@v",
		"/example.com/m/@v/.info",
		"/example.com/m/@v/list.info",
		"/example.com/m/@v/v1.0.0",
		"/example.com/m/v2/@v/v1.0.0.info",
		"/example.com/m/@v/v2.0.0+incompatible.zip",
		// Other endpoints.
		"/",
		"/healthz",
		"/readyz",
		"/metrics",
		"/catalog",
		"/sumdb/sum.example/supported",
		"/sumdb/sum.example/lookup/example.com/m@v1.0.0",
		"/cached-only/",
		"/cached-only//example.com/m/@v/list",
		"*",
		"http://modvault.test/example.com/m/@v/list",
	} {
		f.Add(seed)
	}

	dir := filepath.Join(f.TempDir(), "store")
	st, err := store.Open(context.Background(), fileURL(dir))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	// Two versions, each with its .info last: the .info commits a version.
	for _, obj := range []struct{ key, body string }{
		{"example.com/m/@v/v1.0.0.mod", "module example.com/m\n"},
		{"example.com/m/@v/v1.0.0.zip", "PK not really a zip"},
		{"example.com/m/@v/v1.0.0.info", `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`},
		{"github.com/o/r/@v/v1.0.0.mod", "module github.com/o/r\n"},
		{"github.com/o/r/@v/v1.0.0.info", `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`},
	} {
		if err := st.Create(context.Background(), obj.key, strings.NewReader(obj.body)); err != nil {
			f.Fatal(err)
		}
	}
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: nothing here", http.StatusNotFound)
	}))
	f.Cleanup(notFound.Close)
	log := slog.New(slog.DiscardHandler)
	up := upstream.New([]upstream.Proxy{{URL: notFound.URL}}, upstream.Options{})
	opts := vault.Options{ListTTL: time.Nanosecond, FillTimeout: time.Minute, TempDir: f.TempDir(), Logger: log}
	v := vault.New(st, up, opts)
	cachedOnly := vault.New(st, upstream.New(nil, upstream.Options{}), opts)
	srv := server.New(v, cachedOnly, nil, log, server.Options{})

	// get answers GET target as the server would, with ok false for a
	// request line net/http would not pass on.
	get := func(target string) (status int, body string, ok bool) {
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return 0, "", false
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL, req.RequestURI = u, target
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b), true
	}
	// The fuzzed paths meet a server that serves what is stored.
	if status, body, _ := get("/example.com/m/@v/v1.0.0.mod"); status != http.StatusOK || body != "module example.com/m\n" {
		f.Fatalf("GET of a stored .mod: %d %q", status, body)
	}

	f.Fuzz(func(t *testing.T, target string) {
		status, body, ok := get(target)
		if !ok {
			return
		}
		if status >= 500 {
			t.Fatalf("GET %q: %d %s", target, status, body)
		}
		if status >= 400 && strings.TrimSpace(body) == "" {
			t.Errorf("GET %q: %d without a reason", target, status)
		}
	})
}
