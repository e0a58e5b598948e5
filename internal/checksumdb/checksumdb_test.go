package checksumdb

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

const dbName = "sum.modvault.test"

// fakeUpstream is an upstream module proxy that serves a test checksum
// database under /sumdb/dbName/ and records the request URIs it gets.
type fakeUpstream struct {
	URL  string
	vkey string

	mu   sync.Mutex
	uris []string
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, dbName)
	if err != nil {
		t.Fatal(err)
	}
	gosum := func(path, vers string) ([]byte, error) {
		switch path + "@" + vers {
		case "github.com/Azure/azure-sdk-for-go@v1.0.0", "example.com/a@v1.0.0":
			return fmt.Appendf(nil, "%s %s h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n%s %s/go.mod h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n", path, vers, path, vers), nil
		}
		// os.IsNotExist, which the sumdb server uses for 404, does not
		// see through fmt.Errorf's %w, but it does through a PathError.
		return nil, &fs.PathError{Op: "lookup", Path: path + "@" + vers, Err: fs.ErrNotExist}
	}
	db := http.StripPrefix("/sumdb/"+dbName, sumdb.NewServer(sumdb.NewTestServer(skey, gosum)))
	u := &fakeUpstream{vkey: vkey}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.uris = append(u.uris, r.RequestURI)
		u.mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"+dbName+"/")
		// The test tree is far from 256 records, so it has no full tile
		// (the test server would panic on one).
		if !ok || strings.HasPrefix(rest, "tile/") && !strings.Contains(rest, ".p/") {
			http.Error(w, "fake upstream: not found", http.StatusNotFound)
			return
		}
		db.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *fakeUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.uris...)
}

// startProxy serves a checksumdb.Proxy for dbName in front of the GOPROXY-
// style upstream list and returns its base URL.
func startProxy(t *testing.T, list string) string {
	t.Helper()
	proxies, _, err := upstream.ParseList(list)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	p := New([]string{dbName}, upstream.New(proxies, upstream.Options{}), st, log)
	if got := p.Names(); len(got) != 1 || got[0] != dbName {
		t.Fatalf("Names() = %q", got)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   string
}

// get sends "GET path" with path exactly as given on the request line, as
// the go command (or an attacker) would send it.
func get(t *testing.T, base, path string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: modvault.test\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestSupportedForConfiguredDatabase(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	if r := get(t, mv, "/sumdb/"+dbName+"/supported"); r.status != http.StatusOK {
		t.Errorf("supported: %d %s", r.status, r.body)
	}
}

// TestNotSupportedWithoutUpstream checks that modvault does not claim a
// checksum database it cannot serve: a 200 would make the go command send
// every lookup to modvault and fail verification.
// TestWithoutUpstreamTheStoreAnswers: with no upstream (air-gapped), the
// database is still supported, answered from the store, and what the store
// lacks is a plain 404.
func TestWithoutUpstreamTheStoreAnswers(t *testing.T) {
	// ("direct" is not in the list: it reaches the database itself.)
	for _, list := range []string{"", "off"} {
		mv := startProxy(t, list)
		if r := get(t, mv, "/sumdb/"+dbName+"/supported"); r.status != http.StatusOK {
			t.Errorf("upstream %q: supported: %d %s, want 200", list, r.status, r.body)
		}
		if r := get(t, mv, "/sumdb/"+dbName+"/lookup/example.com/a@v1.0.0"); r.status != http.StatusNotFound {
			t.Errorf("upstream %q: lookup of something not stored: %d %s, want 404", list, r.status, r.body)
		}
	}
}

func TestUnknownDatabaseIsNotFound(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	for _, path := range []string{
		"/sumdb/sum.other.test/supported",
		"/sumdb/sum.other.test/latest",
		"/sumdb/sum.other.test/lookup/example.com/a@v1.0.0",
		"/sumdb/sum.other.test/tile/8/0/000",
		"/sumdb/" + dbName,
		"/sumdb/",
		"/sumdb/%2e%2e/supported",
	} {
		r := get(t, mv, path)
		if r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, r.status, r.body)
		}
	}
	if got := up.requests(); len(got) != 0 {
		t.Errorf("upstream got %q for unknown databases", got)
	}
}

// TestLookupPassedThroughByteForByte checks that a lookup, whose path has a
// literal "!" as the go command sends it, reaches the upstream unchanged and
// its answer reaches the client unchanged.
func TestLookupPassedThroughByteForByte(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	const path = "/sumdb/" + dbName + "/lookup/github.com/!azure/azure-sdk-for-go@v1.0.0"
	r := get(t, mv, path)
	if r.status != http.StatusOK {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	if got := up.requests(); len(got) != 1 || got[0] != path {
		t.Errorf("upstream got %q, want exactly %q", got, path)
	}
	direct := get(t, up.URL, path)
	if direct.status != http.StatusOK || r.body != direct.body {
		t.Errorf("lookup through modvault:\n%s\nwant the upstream's bytes:\n%s", r.body, direct.body)
	}
	if !strings.Contains(r.body, "github.com/Azure/azure-sdk-for-go v1.0.0 h1:") {
		t.Errorf("lookup body lacks the go.sum line:\n%s", r.body)
	}
	// The signed tree head verifies with the database's key.
	_, signed, ok := strings.Cut(r.body, "\n\n")
	if !ok {
		t.Fatalf("lookup body has no signed note:\n%s", r.body)
	}
	v, err := note.NewVerifier(up.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(signed), note.VerifierList(v)); err != nil {
		t.Errorf("signed note does not verify: %v", err)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the upstream's text/plain", ct)
	}
}

func TestLookupErrorsPassedThrough(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	tests := []struct {
		path   string
		status int
	}{
		{"/sumdb/" + dbName + "/lookup/example.com/unknown@v1.0.0", http.StatusNotFound},
		{"/sumdb/" + dbName + "/lookup/example.com/a@not-a-version", http.StatusBadRequest},
	}
	for _, tt := range tests {
		if r := get(t, mv, tt.path); r.status != tt.status {
			t.Errorf("GET %s: %d %s, want %d", tt.path, r.status, r.body, tt.status)
		}
	}
}

func TestTilesAndLatestPassedThrough(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	// Two lookups put two records in the tree.
	for _, m := range []string{"example.com/a@v1.0.0", "github.com/!azure/azure-sdk-for-go@v1.0.0"} {
		if r := get(t, mv, "/sumdb/"+dbName+"/lookup/"+m); r.status != http.StatusOK {
			t.Fatalf("lookup %s: %d %s", m, r.status, r.body)
		}
	}
	for _, rest := range []string{"latest", "tile/8/0/000.p/2", "tile/8/data/000.p/2"} {
		path := "/sumdb/" + dbName + "/" + rest
		before := len(up.requests())
		r := get(t, mv, path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
			continue
		}
		if got := up.requests()[before:]; len(got) != 1 || got[0] != path {
			t.Errorf("GET %s: upstream got %q", path, got)
		}
		direct := get(t, up.URL, path)
		if r.body != direct.body {
			t.Errorf("GET %s: body %q, want the upstream's %q", path, r.body, direct.body)
		}
	}
	if r := get(t, mv, "/sumdb/"+dbName+"/tile/8/0/000.p/2"); len(r.body) != 2*32 {
		t.Errorf("partial tile of width 2 has %d bytes, want 64", len(r.body))
	}
	// A tile the upstream does not have is not found, so the go command
	// falls back to the full tile.
	if r := get(t, mv, "/sumdb/"+dbName+"/tile/8/0/000"); r.status != http.StatusNotFound {
		t.Errorf("missing tile: %d %s, want 404", r.status, r.body)
	}
}

func TestTraversalRejected(t *testing.T) {
	up := newFakeUpstream(t)
	mv := startProxy(t, up.URL)
	for _, path := range []string{
		"/sumdb/" + dbName + "/lookup/../../../secret",
		"/sumdb/" + dbName + "/lookup/%2e%2e/%2e%2e/%2e%2e/secret",
		"/sumdb/" + dbName + "/lookup/%2E%2E/%2E%2E/secret",
		"/sumdb/" + dbName + "/tile/.%2e/.%2e/.%2e/secret",
		"/sumdb/" + dbName + "/tile/%2e./%2e./secret",
		"/sumdb/" + dbName + "/lookup/..%2f..%2f..%2fsecret",
		"/sumdb/" + dbName + "/lookup/x%2F..%2F..%2F..%2Fsecret",
		"/sumdb/" + dbName + "/lookup/..%5c..%5csecret",
		"/sumdb/" + dbName + "/tile/8/0/.",
		"/sumdb/" + dbName + "/tile//8/0/000",
		"/sumdb/" + dbName + "/../" + dbName + "/latest",
		"/sumdb/" + dbName + "/secret",
		"/sumdb/" + dbName + "/",
	} {
		r := get(t, mv, path)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("GET %s: %d %s, want 4xx", path, r.status, r.body)
		}
	}
	if got := up.requests(); len(got) != 0 {
		t.Errorf("upstream got %q, want no request", got)
	}
}

func TestUpstreamFailureIsBadGateway(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for base, reason := range map[string]string{broken.URL: "500 Internal Server Error: boom", dead.URL: "unreachable"} {
		mv := startProxy(t, base)
		r := get(t, mv, "/sumdb/"+dbName+"/lookup/example.com/a@v1.0.0")
		if r.status != http.StatusBadGateway || !strings.Contains(r.body, reason) {
			t.Errorf("upstream %s: lookup %d %q, want 502 saying %q", base, r.status, r.body, reason)
		}
	}
}

func TestFallsThroughToNextUpstream(t *testing.T) {
	up := newFakeUpstream(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	mv := startProxy(t, broken.URL+"|"+up.URL)
	if r := get(t, mv, "/sumdb/"+dbName+"/lookup/example.com/a@v1.0.0"); r.status != http.StatusOK {
		t.Errorf("lookup: %d %s, want 200 from the second upstream", r.status, r.body)
	}
}

// TestPrivateLookupsAreRefused: a lookup of a module under a NoLookup
// pattern is answered 404 and never reaches the upstream, so a client
// without GONOSUMDB cannot leak private paths through modvault.
func TestPrivateLookupsAreRefused(t *testing.T) {
	up := newFakeUpstream(t)
	proxies, _, err := upstream.ParseList(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	p := New([]string{dbName}, upstream.New(proxies, upstream.Options{}), st, slog.New(slog.DiscardHandler))
	p.NoLookup = "corp.example.test,*.internal.test"
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	for _, path := range []string{
		"/sumdb/" + dbName + "/lookup/corp.example.test/repo@v1.0.0",
		"/sumdb/" + dbName + "/lookup/corp.example.test/!repo/v2@v2.0.0",
		"/sumdb/" + dbName + "/lookup/git.internal.test/x@v0.0.0-20260101000000-abcdefabcdef",
		"/sumdb/" + dbName + "/lookup/corp.example.test/%21bad%21@v1.0.0",
	} {
		if r := get(t, srv.URL, path); r.status != http.StatusNotFound || !strings.Contains(r.body, "GONOSUMDB") {
			t.Errorf("%s: %d %q, want 404 naming GONOSUMDB", path, r.status, r.body)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream got %d requests for private lookups: %q", n, up.requests())
	}
	// Others still pass.
	if r := get(t, srv.URL, "/sumdb/"+dbName+"/lookup/example.com/a@v1.0.0"); r.status == http.StatusNotFound && strings.Contains(r.body, "GONOSUMDB") {
		t.Errorf("a public lookup was refused: %q", r.body)
	}
}
