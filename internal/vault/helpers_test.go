package vault_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// fileStore opens a file store in a new temporary directory.
func fileStore(t *testing.T) (st *store.Store, dir string) {
	t.Helper()
	dir = t.TempDir()
	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	st, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// newVault returns a vault over st that fills from the proxy at upURL (none
// if ""). Its fills are waited for when the test ends.
func newVault(t *testing.T, upURL string, st *store.Store, opts vault.Options) *vault.Vault {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var proxies []upstream.Proxy
	if upURL != "" {
		proxies = []upstream.Proxy{{URL: upURL}}
	}
	v := vault.New(st, upstream.New(proxies, upstream.Options{}), opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v.Shutdown(ctx)
	})
	return v
}

// file returns the file of kind of mod@ver, a canonical version.
func file(t testing.TB, mod, ver string, kind protocol.Kind) protocol.File {
	t.Helper()
	f, err := protocol.NewFile(module.Version{Path: mod, Version: ver}, kind)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// openBytes opens one file of a version through the vault and reads it all.
func openBytes(v *vault.Vault, mod, ver string, kind protocol.Kind) ([]byte, vault.Source, error) {
	f, err := protocol.NewFile(module.Version{Path: mod, Version: ver}, kind)
	if err != nil {
		return nil, "", err
	}
	obj, src, err := v.Open(context.Background(), f)
	if err != nil {
		return nil, src, err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, src, fmt.Errorf("reading %s@%s %s: %w", mod, ver, kind, err)
	}
	return b, src, nil
}

func mustOpen(t *testing.T, v *vault.Vault, mod, ver string, kind protocol.Kind) []byte {
	t.Helper()
	b, _, err := openBytes(v, mod, ver, kind)
	if err != nil {
		t.Fatalf("Open %s@%s %s: %v", mod, ver, kind, err)
	}
	return b
}

// reqPath returns the upstream URL path of one file of a version.
func reqPath(mod, ver string, kind protocol.Kind) string {
	return "/" + protocol.Request{Kind: kind, Module: mod, Version: ver}.Path()
}

func key(t *testing.T, mod, ver string, kind protocol.Kind) string {
	t.Helper()
	k, err := protocol.Key(mod, ver, kind)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// infoVersion returns the Version of a .info document.
func infoVersion(t *testing.T, body []byte) string {
	t.Helper()
	var info struct{ Version string }
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("bad .info %q: %v", body, err)
	}
	return info.Version
}

// sameTree reports how after differs from before.
func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("store lost %s", name)
		} else if a != b {
			t.Errorf("store changed %s", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("store gained %s", name)
		}
	}
}

// listKeys returns the keys the store lists under prefix.
func listKeys(t *testing.T, st *store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := st.List(context.Background(), prefix, func(e store.Entry) bool {
		keys = append(keys, e.Key)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// fakeProxy is an upstream proxy whose answers a test sets path by path:
// fixed bodies, or handlers for misbehaviour. Unknown paths get 404.
type fakeProxy struct {
	URL string

	mu       sync.Mutex
	bodies   map[string][]byte
	handlers map[string]http.HandlerFunc
	requests map[string]int
}

func newFakeProxy(t *testing.T) *fakeProxy {
	t.Helper()
	f := &fakeProxy{
		bodies:   make(map[string][]byte),
		handlers: make(map[string]http.HandlerFunc),
		requests: make(map[string]int),
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeProxy) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests[r.URL.Path]++
	body, ok := f.bodies[r.URL.Path]
	h := f.handlers[r.URL.Path]
	f.mu.Unlock()
	switch {
	case h != nil:
		h(w, r)
	case ok:
		w.Write(body)
	default:
		http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
	}
}

// set serves body at path.
func (f *fakeProxy) set(path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies[path] = body
	delete(f.handlers, path)
}

// handle serves path with h.
func (f *fakeProxy) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

func (f *fakeProxy) requestsFor(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// version serves a whole version: .info, .mod (gomod) and .zip.
func (f *fakeProxy) version(mod, ver, gomod string, zip []byte) {
	f.set(reqPath(mod, ver, protocol.Info), fmt.Appendf(nil, `{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, ver))
	f.set(reqPath(mod, ver, protocol.Mod), []byte(gomod))
	f.set(reqPath(mod, ver, protocol.Zip), zip)
}

// moduleZip builds a valid module zip with golang.org/x/mod/zip.
func moduleZip(t *testing.T, mod, ver string, files map[string]string) []byte {
	t.Helper()
	var zfiles []modzip.File
	for name, data := range files {
		zfiles = append(zfiles, memFile{name, data})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: mod, Version: ver}, zfiles); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type memFile struct{ name, data string }

func (f memFile) Path() string { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error) {
	return fileInfo{f.name, int64(len(f.data))}, nil
}
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f.data)), nil }

type fileInfo struct {
	name string
	size int64
}

func (fi fileInfo) Name() string       { return filepath.Base(fi.name) }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return nil }

// zipEntry is one entry of a zip built by rawZip.
type zipEntry struct {
	name, data string
}

// rawZip builds a zip with exactly the given entries, stored uncompressed
// (so a test can find an entry's data in the bytes), whatever the module zip
// rules say.
func rawZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
