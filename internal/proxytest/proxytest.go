// Package proxytest provides a fake upstream module proxy for tests: it
// serves modules generated in the test (real zips made with
// golang.org/x/mod/zip) over the GOPROXY protocol on a loopback address,
// together with a signed checksum database (golang.org/x/mod/sumdb) that
// knows their hashes, and counts every request it gets. It also runs the
// real go command against a proxy.
package proxytest

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

// Module is one module version to serve.
type Module struct {
	Path    string
	Version string
	Time    time.Time // commit time; zero means a fixed time in 2024
	// Files maps file names, relative to the module root, to contents.
	// A "go.mod" file is served as the .mod; without one the .mod is
	// "module Path\n", as for +incompatible versions.
	Files map[string]string
	// Large, if positive, adds a file "large.bin" of that many
	// incompressible bytes, generated while zipping (never held in memory).
	Large int64
}

type version struct {
	Module
	info    []byte
	mod     []byte
	zipPath string
	zipHash string
	modHash string
}

// Upstream is a fake upstream proxy with a checksum database.
type Upstream struct {
	// URL is the proxy's base URL, for GOPROXY.
	URL string
	// SumDBName is the checksum database's name; it is served under
	// URL/sumdb/SumDBName/.
	SumDBName string
	// SumDBKey is the database's verifier key ("name+hash+key").
	SumDBKey string
	// SumDBSignerKey is the database's signer key, for tests that forge
	// tree heads signed by it.
	SumDBSignerKey string

	t     testing.TB
	dir   string
	srv   *httptest.Server
	sumdb http.Handler

	mu       sync.Mutex
	versions map[string]map[string]*version // path → version → data
	requests map[string]int                 // URL path → count
	hidden   map[string]bool                // path@version the checksum database does not know
	delay    time.Duration
	fail     func(r *http.Request) (status int, ok bool)
}

// New starts a fake upstream serving mods. It is closed when the test ends.
func New(t testing.TB, mods ...Module) *Upstream {
	t.Helper()
	u := &Upstream{
		t:         t,
		dir:       t.TempDir(),
		SumDBName: "sum.modvault.test",
		versions:  make(map[string]map[string]*version),
		requests:  make(map[string]int),
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, u.SumDBName)
	if err != nil {
		t.Fatal(err)
	}
	u.SumDBKey, u.SumDBSignerKey = vkey, skey
	u.sumdb = http.StripPrefix("/sumdb/"+u.SumDBName, sumdb.NewServer(sumdb.NewTestServer(skey, u.gosum)))
	for _, m := range mods {
		u.Add(m)
	}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	t.Cleanup(u.srv.Close)
	return u
}

// GOSUMDB returns the GOSUMDB value for the upstream's checksum database.
func (u *Upstream) GOSUMDB() string { return u.SumDBKey }

// Add makes a module version available (like pushing a tag).
func (u *Upstream) Add(m Module) {
	u.t.Helper()
	if err := module.Check(m.Path, m.Version); err != nil {
		u.t.Fatalf("proxytest: %v", err)
	}
	if m.Time.IsZero() {
		m.Time = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	v := &version{Module: m}
	v.info, _ = json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, m.Time.UTC()})
	if gm, ok := m.Files["go.mod"]; ok {
		v.mod = []byte(gm)
	} else {
		v.mod = fmt.Appendf(nil, "module %s\n", m.Path)
	}
	esc, _ := module.EscapePath(m.Path)
	escVer, _ := module.EscapeVersion(m.Version)
	v.zipPath = filepath.Join(u.dir, filepath.FromSlash(esc), escVer+".zip")
	if err := os.MkdirAll(filepath.Dir(v.zipPath), 0o777); err != nil {
		u.t.Fatal(err)
	}
	if err := writeZip(v.zipPath, m); err != nil {
		u.t.Fatalf("proxytest: zipping %s@%s: %v", m.Path, m.Version, err)
	}
	var err error
	if v.zipHash, err = dirhash.HashZip(v.zipPath, dirhash.Hash1); err != nil {
		u.t.Fatal(err)
	}
	if v.modHash, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(v.mod)), nil
	}); err != nil {
		u.t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.versions[m.Path] == nil {
		u.versions[m.Path] = make(map[string]*version)
	}
	u.versions[m.Path][m.Version] = v
}

// TamperZip makes the upstream serve a zip with files instead of the
// version's own, while its checksum database keeps the original hash: a
// lying upstream.
func (u *Upstream) TamperZip(path, vers string, files map[string]string) {
	u.t.Helper()
	v := u.get(path, vers)
	tampered := v.zipPath + ".tampered.zip"
	if err := writeZip(tampered, Module{Path: path, Version: vers, Files: files}); err != nil {
		u.t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	v.zipPath = tampered
}

// TamperMod makes the upstream serve mod as the version's .mod, while its
// checksum database keeps the original hash.
func (u *Upstream) TamperMod(path, vers, mod string) {
	v := u.get(path, vers)
	u.mu.Lock()
	defer u.mu.Unlock()
	v.mod = []byte(mod)
}

// HideFromSumDB makes the checksum database answer "not found" for a
// version the proxy still serves (call it before the version is looked up:
// the database keeps what it once answered).
func (u *Upstream) HideFromSumDB(path, vers string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.hidden == nil {
		u.hidden = make(map[string]bool)
	}
	u.hidden[path+"@"+vers] = true
}

// Remove makes a module version unavailable (like deleting a tag).
func (u *Upstream) Remove(path, vers string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.versions[path], vers)
}

// ZipHash and ModHash return the h1: hashes of a version's zip and .mod.
func (u *Upstream) ZipHash(path, vers string) string { return u.get(path, vers).zipHash }

// ModHash returns the h1: hash of a version's .mod.
func (u *Upstream) ModHash(path, vers string) string { return u.get(path, vers).modHash }

// InfoBytes returns a version's .info as served.
func (u *Upstream) InfoBytes(path, vers string) []byte {
	v := u.get(path, vers)
	u.mu.Lock()
	defer u.mu.Unlock()
	return v.info
}

// ModBytes returns a version's .mod as served.
func (u *Upstream) ModBytes(path, vers string) []byte {
	v := u.get(path, vers)
	u.mu.Lock()
	defer u.mu.Unlock()
	return v.mod
}

// ZipBytes returns a version's zip as served.
func (u *Upstream) ZipBytes(path, vers string) []byte {
	v := u.get(path, vers)
	u.mu.Lock()
	zipPath := v.zipPath
	u.mu.Unlock()
	b, err := os.ReadFile(zipPath)
	if err != nil {
		u.t.Fatal(err)
	}
	return b
}

func (u *Upstream) get(path, vers string) *version {
	u.mu.Lock()
	defer u.mu.Unlock()
	v := u.versions[path][vers]
	if v == nil {
		u.t.Fatalf("proxytest: no %s@%s", path, vers)
	}
	return v
}

// Requests returns how many requests the upstream got for a URL path such as
// "/example.com/m/@v/v1.0.0.zip".
func (u *Upstream) Requests(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[path]
}

// RequestPaths returns every URL path the upstream (and its checksum
// database) was asked for, each once, in no particular order.
func (u *Upstream) RequestPaths() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var paths []string
	for p := range u.requests {
		paths = append(paths, p)
	}
	return paths
}

// TotalRequests returns how many requests the upstream got in all.
func (u *Upstream) TotalRequests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.requests {
		n += c
	}
	return n
}

// SetDelay delays every answer, to widen the window for races.
func (u *Upstream) SetDelay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
}

// SetFail makes the upstream answer a request with status (and a short
// text) whenever fn returns ok; nil clears it.
func (u *Upstream) SetFail(fn func(r *http.Request) (status int, ok bool)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fail = fn
}

// Close stops the upstream: from then on its address refuses connections.
func (u *Upstream) Close() { u.srv.Close() }

func (u *Upstream) gosum(path, vers string) ([]byte, error) {
	u.mu.Lock()
	v := u.versions[path][vers]
	if u.hidden[path+"@"+vers] {
		v = nil
	}
	u.mu.Unlock()
	if v == nil {
		// The sumdb server tests with os.IsNotExist, which does not unwrap.
		return nil, &fs.PathError{Op: "lookup", Path: path + "@" + vers, Err: fs.ErrNotExist}
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", path, vers, v.zipHash, path, vers, v.modHash), nil
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.requests[r.URL.Path]++
	delay, fail := u.delay, u.fail
	u.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if fail != nil {
		if status, ok := fail(r); ok {
			http.Error(w, fmt.Sprintf("proxytest: injected failure %d", status), status)
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/sumdb/"+u.SumDBName+"/") {
		u.sumdb.ServeHTTP(w, r)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	var escMod, rest string
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		escMod, rest = m, "@latest"
	} else if i := strings.LastIndex(p, "/@v/"); i >= 0 {
		escMod, rest = p[:i], p[i+4:]
	} else {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	mod, err := module.UnescapePath(escMod)
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	vers := u.versions[mod]
	var list []string
	for v := range vers {
		list = append(list, v)
	}
	u.mu.Unlock()
	semver.Sort(list)
	if len(list) == 0 {
		http.Error(w, "not found: module "+mod+": no versions", http.StatusNotFound)
		return
	}
	switch rest {
	case "list":
		var b strings.Builder
		for _, v := range list {
			if !module.IsPseudoVersion(v) {
				b.WriteString(v + "\n")
			}
		}
		io.WriteString(w, b.String())
		return
	case "@latest":
		best := list[len(list)-1]
		for _, v := range slices.Backward(list) {
			if !module.IsPseudoVersion(v) && semver.Prerelease(v) == "" {
				best = v
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(vers[best].info)
		return
	}
	ext := filepath.Ext(rest)
	escVer := strings.TrimSuffix(rest, ext)
	ver, err := module.UnescapeVersion(escVer)
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	v := vers[ver]
	var modBody []byte
	var zipPath string
	if v != nil {
		modBody, zipPath = v.mod, v.zipPath // Tamper may change them
	}
	u.mu.Unlock()
	if v == nil {
		http.Error(w, "not found: "+mod+"@"+ver+": invalid version: unknown revision "+ver, http.StatusNotFound)
		return
	}
	switch ext {
	case ".info":
		w.Header().Set("Content-Type", "application/json")
		w.Write(v.info)
	case ".mod":
		w.Write(modBody)
	case ".zip":
		w.Header().Set("Content-Type", "application/zip")
		http.ServeFile(w, r, zipPath)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// writeZip writes the module zip of m to path.
// The files are checked and zipped by golang.org/x/mod/zip; a Large file is
// then appended uncompressed ("stored"), since deflating 100 MB of random
// bytes is slow under the race detector and gains nothing.
func writeZip(path string, m Module) error {
	var files []modzip.File
	for name, content := range m.Files {
		files = append(files, memFile{name: name, data: []byte(content)})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: m.Path, Version: m.Version}, files); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if m.Large <= 0 {
		_, err := f.Write(buf.Bytes())
		return err
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, zf := range zr.File {
		if err := zw.Copy(zf); err != nil {
			return err
		}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: m.Path + "@" + m.Version + "/large.bin", Method: zip.Store})
	if err != nil {
		return err
	}
	rc, _ := largeFile{size: m.Large}.Open()
	if _, err := io.Copy(w, rc); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return fileInfo{f.name, int64(len(f.data))}, nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

// largeFile is an incompressible file generated on the fly.
type largeFile struct{ size int64 }

func (f largeFile) Open() (io.ReadCloser, error) {
	rng := mrand.NewChaCha8([32]byte{1})
	return io.NopCloser(io.LimitReader(rng, f.size)), nil
}

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
