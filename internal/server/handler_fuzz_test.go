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

	"github.com/modvault/modvault/internal/proxytest"
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
	for _, seed := range proxytest.RequestPaths() {
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
