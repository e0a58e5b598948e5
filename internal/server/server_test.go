package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// pseudo is a pseudo-version of example.com/m (after v1.1.0).
const pseudo = "v1.1.1-0.20240102030405-abcdefabcdef"

func gomod(path, extra string) string { return "module " + path + "\n\ngo 1.22\n" + extra }

// modules covers the protocol's corner cases: case-encoded paths and
// versions, modules differing only in case, versions without go.mod,
// +incompatible, a /v2 module, a pre-release, a pseudo-version, a
// retraction and a module nested under a path prefix that is not a module.
func modules() []proxytest.Module {
	return []proxytest.Module{
		{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/m", ""), "m.go": "package m\n"}},
		{Path: "example.com/m", Version: "v1.1.0", Files: map[string]string{"go.mod": gomod("example.com/m", "\nrequire example.com/nomod v1.0.0\n"), "m.go": "package m\n\nconst V = 1\n"}},
		{Path: "example.com/m", Version: "v1.2.0-pre", Files: map[string]string{"go.mod": gomod("example.com/m", ""), "m.go": "package m\n\nconst V = 2\n"}},
		{Path: "example.com/m", Version: pseudo, Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Files: map[string]string{"go.mod": gomod("example.com/m", ""), "m.go": "package m\n\nconst V = 3\n"}},
		{Path: "example.com/M", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/M", ""), "big.go": "package big\n"}},
		{Path: "example.com/m/v2", Version: "v2.0.0", Files: map[string]string{"go.mod": gomod("example.com/m/v2", ""), "m.go": "package m\n"}},
		{Path: "example.com/Upper", Version: "v1.0.0-RC1", Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600)), Files: map[string]string{"go.mod": gomod("example.com/Upper", ""), "u.go": "package upper\n"}},
		{Path: "example.com/nomod", Version: "v1.0.0", Files: map[string]string{"n.go": "package nomod\n"}},
		{Path: "example.com/old", Version: "v1.0.0", Files: map[string]string{"old.go": "package old\n"}},
		{Path: "example.com/old", Version: "v2.0.0+incompatible", Files: map[string]string{"old.go": "package old\n\nconst Old = 2\n"}},
		{Path: "example.com/retract", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/retract", ""), "r.go": "package retract\n"}},
		{Path: "example.com/retract", Version: "v1.1.0", Files: map[string]string{"go.mod": gomod("example.com/retract", "\nretract v1.0.0 // broken\n"), "r.go": "package retract\n"}},
		{Path: "example.com/parent/child", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/parent/child", ""), "c.go": "package child\n"}},
		{Path: "example.com/big", Version: "v1.0.0", Large: 100 << 10, Files: map[string]string{"go.mod": gomod("example.com/big", "")}},
	}
}

// modvault is a running modvault, assembled as the program assembles it.
type modvault struct {
	t   *testing.T
	URL string
}

// start runs modvault in front of the GOPROXY-style upstream list with the
// given store ("" for a new mem:// store). Upstream list answers are not
// reused, so every list reflects the upstream of that moment.
func start(t *testing.T, upstreamList, sumdbName, storage string) *modvault {
	t.Helper()
	if storage == "" {
		storage = "mem://"
	}
	cfg := config.Serve{
		Storage:         storage,
		Upstream:        upstreamList,
		ListTTL:         time.Nanosecond,
		FillTimeout:     time.Minute,
		TempDir:         t.TempDir(),
		ShutdownTimeout: time.Second,
	}
	if sumdbName != "" {
		cfg.SumDB = []string{sumdbName}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := app.New(context.Background(), cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &modvault{t: t, URL: srv.URL}
}

// startWith runs modvault in front of one proxytest upstream.
func startWith(t *testing.T, up *proxytest.Upstream) *modvault {
	return start(t, up.URL, up.SumDBName, "")
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends "method path" with the path exactly as given on the request
// line (no cleaning, no re-escaping), plus headers given as "Name: value".
func (mv *modvault) do(method, path string, headers ...string) response {
	mv.t.Helper()
	return rawRequest(mv.t, mv.URL, method, path, headers...)
}

func (mv *modvault) get(path string, headers ...string) response {
	mv.t.Helper()
	return mv.do(http.MethodGet, path, headers...)
}

// mustGet gets path and fails the test unless the answer is 200.
func (mv *modvault) mustGet(path string, headers ...string) []byte {
	mv.t.Helper()
	r := mv.get(path, headers...)
	if r.status != http.StatusOK {
		mv.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.body
}

func rawRequest(t *testing.T, base, method, path string, headers ...string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: modvault.test\r\nUser-Agent: Go-http-client/1.1\r\nConnection: close\r\n", method, path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if method == http.MethodPost || method == http.MethodPut {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// checkTextError checks that r is an error with the given status and a
// text/plain body, which the go command prints to the user.
func checkTextError(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d (%s), want %d", what, r.status, r.body, status)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: Content-Type %q, want text/plain", what, ct)
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		t.Errorf("%s: empty error body", what)
	}
}

func checkNotFound(t *testing.T, what string, r response) {
	t.Helper()
	checkTextError(t, what, r, http.StatusNotFound)
}

// listed returns the versions of a list answer.
func listed(body []byte) []string {
	var vers []string
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) > 0 {
			vers = append(vers, f[0])
		}
	}
	return vers
}

type info struct {
	Version string
	Time    string
}

func parseInfo(t *testing.T, what string, body []byte) info {
	t.Helper()
	var i info
	if err := json.Unmarshal(body, &i); err != nil {
		t.Fatalf("%s: .info is not JSON: %v\n%s", what, err, body)
	}
	return i
}

func TestUnknownModuleIsNotFoundOnEveryEndpoint(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, path := range []string{
		"/example.com/unknown/@v/list",
		"/example.com/unknown/@latest",
		"/example.com/unknown/@v/v1.0.0.info",
		"/example.com/unknown/@v/v1.0.0.mod",
		"/example.com/unknown/@v/v1.0.0.zip",
		"/example.com/unknown/@v/main.info",
		// A version that the module does not have.
		"/example.com/m/@v/v1.9.9.info",
		"/example.com/m/@v/v1.9.9.mod",
		"/example.com/m/@v/v1.9.9.zip",
	} {
		r := mv.get(path)
		checkNotFound(t, "GET "+path, r)
		if !bytes.HasPrefix(r.body, []byte("not found: ")) || bytes.Contains(r.body, []byte("not found: not found")) {
			t.Errorf("GET %s: body %q, want one \"not found: \" and the reason", path, r.body)
		}
	}
	// The upstream's reason reaches the user as it was given.
	r := mv.get("/example.com/m/@v/v1.9.9.info")
	if want := "not found: example.com/m@v1.9.9: invalid version: unknown revision v1.9.9\n"; string(r.body) != want {
		t.Errorf("body %q, want %q", r.body, want)
	}
}

// TestPathPrefixThatIsNotAModuleIsNotFound checks what the go command
// relies on when it resolves an import path: every prefix of
// example.com/parent/child/pkg that is not a module answers 404.
func TestPathPrefixThatIsNotAModuleIsNotFound(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, mod := range []string{"example.com/parent", "example.com", "example.com/parent/child/pkg"} {
		for _, ep := range []string{"/@v/list", "/@latest", "/@v/v1.0.0.info"} {
			checkNotFound(t, "GET /"+mod+ep, mv.get("/"+mod+ep))
		}
	}
	if r := mv.get("/example.com/parent/child/@v/list"); r.status != http.StatusOK || string(r.body) != "v1.0.0\n" {
		t.Errorf("the module itself: list %d %q", r.status, r.body)
	}
}

func TestInfoEchoesCanonicalVersionWithRFC3339Time(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	tests := []struct{ path, version, time string }{
		{"/example.com/m/@v/v1.0.0.info", "v1.0.0", "2024-01-02T03:04:05Z"},
		{"/example.com/m/@v/v1.2.0-pre.info", "v1.2.0-pre", "2024-01-02T03:04:05Z"},
		{"/example.com/m/@v/" + pseudo + ".info", pseudo, "2024-01-02T03:04:05Z"},
		{"/example.com/%21upper/@v/v1.0.0-%21r%21c1.info", "v1.0.0-RC1", "2024-05-06T05:08:09Z"},
		{"/example.com/old/@v/v2.0.0+incompatible.info", "v2.0.0+incompatible", "2024-01-02T03:04:05Z"},
		{"/example.com/m/v2/@v/v2.0.0.info", "v2.0.0", "2024-01-02T03:04:05Z"},
	}
	for _, tt := range tests {
		r := mv.get(tt.path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", tt.path, r.status, r.body)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", tt.path, ct)
		}
		i := parseInfo(t, tt.path, r.body)
		if i.Version != tt.version {
			t.Errorf("GET %s: Version %q, want %q", tt.path, i.Version, tt.version)
		}
		if _, err := time.Parse(time.RFC3339, i.Time); err != nil || i.Time != tt.time {
			t.Errorf("GET %s: Time %q (%v), want RFC3339 UTC %s", tt.path, i.Time, err, tt.time)
		}
	}
}

func TestModIsByteIdentical(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, m := range modules() {
		gm, ok := m.Files["go.mod"]
		if !ok {
			continue
		}
		path := "/" + escape(t, m.Path) + "/@v/" + escape(t, m.Version) + ".mod"
		r := mv.get(path)
		if r.status != http.StatusOK || string(r.body) != gm {
			t.Errorf("GET %s: %d %q, want %q", path, r.status, r.body, gm)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
}

func TestModWithoutGoModIsJustTheModuleLine(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for path, want := range map[string]string{
		"/example.com/nomod/@v/v1.0.0.mod":            "module example.com/nomod\n",
		"/example.com/old/@v/v1.0.0.mod":              "module example.com/old\n",
		"/example.com/old/@v/v2.0.0+incompatible.mod": "module example.com/old\n",
	} {
		if got := mv.mustGet(path); string(got) != want {
			t.Errorf("GET %s = %q, want %q", path, got, want)
		}
	}
}

func TestZipIsServedVerbatim(t *testing.T) { forEachStore(t, testZipIsServedVerbatim) }

func testZipIsServedVerbatim(t *testing.T, storage string) {
	up := proxytest.New(t, modules()...)
	mv := start(t, up.URL, up.SumDBName, storage)
	for _, mv2 := range [][2]string{{"example.com/m", "v1.0.0"}, {"example.com/Upper", "v1.0.0-RC1"}, {"example.com/old", "v2.0.0+incompatible"}, {"example.com/big", "v1.0.0"}} {
		mod, ver := mv2[0], mv2[1]
		path := "/" + escape(t, mod) + "/@v/" + escape(t, ver) + ".zip"
		want := up.ZipBytes(mod, ver)
		for _, pass := range []string{"first (filled from upstream)", "second (from the store)"} {
			r := mv.get(path)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s, %s: %d %s", path, pass, r.status, r.body)
			}
			if sha256.Sum256(r.body) != sha256.Sum256(want) {
				t.Errorf("GET %s, %s: %d bytes differ from the upstream's %d", path, pass, len(r.body), len(want))
			}
			if ct := r.header.Get("Content-Type"); ct != "application/zip" {
				t.Errorf("GET %s: Content-Type %q", path, ct)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Errorf("GET %s: Content-Length %q, want %d", path, cl, len(want))
			}
		}
		f := filepath.Join(t.TempDir(), "m.zip")
		if err := os.WriteFile(f, mv.mustGet(path), 0o666); err != nil {
			t.Fatal(err)
		}
		if h, err := dirhash.HashZip(f, dirhash.Hash1); err != nil || h != up.ZipHash(mod, ver) {
			t.Errorf("%s@%s: h1 %s (%v), want %s", mod, ver, h, err, up.ZipHash(mod, ver))
		}
	}
}

func escape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteString("!" + string(r+'a'-'A'))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestCaseEncodedPathsWithPercent21OrBang checks that the %21 the go
// command sends and a literal "!" both work, and that raw uppercase does
// not.
func TestCaseEncodedPathsWithPercent21OrBang(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, ext := range []string{".info", ".mod", ".zip"} {
		a := mv.mustGet("/example.com/%21upper/@v/v1.0.0-%21r%21c1" + ext)
		b := mv.mustGet("/example.com/!upper/@v/v1.0.0-!r!c1" + ext)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %%21 and ! answers differ", ext)
		}
	}
	if got := listed(mv.mustGet("/example.com/%21upper/@v/list")); !slices.Equal(got, []string{"v1.0.0-RC1"}) {
		t.Errorf("list = %q", got)
	}
	for _, path := range []string{
		"/example.com/Upper/@v/v1.0.0-RC1.info",
		"/example.com/Upper/@v/list",
		"/example.com/%21upper/@v/v1.0.0-RC1.info",
		"/example.com/%21upper/@v/v1.0.0-rc1.info",
		"/example.com/upper/@v/v1.0.0-%21r%21c1.info",
	} {
		r := mv.get(path)
		if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 400 or 404", path, r.status, r.body)
		}
	}
}

func TestIncompatibleVersionWithPlusOrPercent2B(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, ext := range []string{".info", ".mod", ".zip"} {
		a := mv.mustGet("/example.com/old/@v/v2.0.0+incompatible" + ext)
		b := mv.mustGet("/example.com/old/@v/v2.0.0%2Bincompatible" + ext)
		c := mv.mustGet("/example.com/old/@v/v2.0.0%2bincompatible" + ext)
		if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
			t.Errorf("%s: + and %%2B answers differ", ext)
		}
	}
	// "+" is never a space, and a space is never "+".
	for _, path := range []string{
		"/example.com/old/@v/v2.0.0%20incompatible.info",
		"/example.com/old/@v/v2.0.0%20incompatible.mod",
	} {
		if r := mv.get(path); r.status == http.StatusOK {
			t.Errorf("GET %s: 200 %s", path, r.body)
		}
	}
	if got := listed(mv.mustGet("/example.com/old/@v/list")); !slices.Contains(got, "v2.0.0+incompatible") {
		t.Errorf("list %q lacks v2.0.0+incompatible", got)
	}
}

// TestModulesDifferingOnlyInCaseStayDistinct uses a file store, where the
// two modules' files live side by side.
func TestModulesDifferingOnlyInCaseStayDistinct(t *testing.T) {
	up := proxytest.New(t, modules()...)
	dir := t.TempDir()
	mv := start(t, up.URL, "", fileURL(dir))
	for _, ext := range []string{".mod", ".zip", ".info"} {
		upper := mv.mustGet("/example.com/%21m/@v/v1.0.0" + ext)
		lower := mv.mustGet("/example.com/m/@v/v1.0.0" + ext)
		if ext != ".info" && bytes.Equal(upper, lower) {
			t.Errorf("example.com/M and example.com/m have the same %s", ext)
		}
	}
	if got := string(mv.mustGet("/example.com/%21m/@v/v1.0.0.mod")); got != gomod("example.com/M", "") {
		t.Errorf("example.com/M .mod = %q", got)
	}
	if got := string(mv.mustGet("/example.com/m/@v/v1.0.0.mod")); got != gomod("example.com/m", "") {
		t.Errorf("example.com/m .mod = %q", got)
	}
	if !bytes.Equal(mv.mustGet("/example.com/%21m/@v/v1.0.0.zip"), up.ZipBytes("example.com/M", "v1.0.0")) {
		t.Error("example.com/M zip differs from the upstream's")
	}
	if got := listed(mv.mustGet("/example.com/%21m/@v/list")); !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("example.com/M list = %q", got)
	}
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// TestTraversalNeverReadsOutsideTheStore puts a complete module version
// next to a file store, where a path that escaped the store would find it,
// and checks that no request reaches it.
func TestTraversalNeverReadsOutsideTheStore(t *testing.T) {
	up := proxytest.New(t, modules()...)
	root := t.TempDir()
	const secret = "SENTINEL-outside-the-store"
	for name, content := range map[string]string{
		"example.com/secret/@v/v1.0.0.info": `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z","Comment":"` + secret + `"}`,
		"example.com/secret/@v/v1.0.0.mod":  "module example.com/secret // " + secret + "\n",
		"example.com/secret/@v/v1.0.0.zip":  secret,
		"example.com/secret/@v/list":        "v1.0.0 " + secret + "\n",
		"secret.txt":                        secret,
		"secret.info":                       secret,
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	mv := start(t, up.URL, up.SumDBName, fileURL(filepath.Join(root, "store")))
	mv.mustGet("/example.com/m/@v/v1.0.0.info") // the store is in use
	for _, path := range []string{
		"/../example.com/secret/@v/v1.0.0.info",
		"/../example.com/secret/@v/v1.0.0.mod",
		"/../example.com/secret/@v/v1.0.0.zip",
		"/../example.com/secret/@v/list",
		"/%2e%2e/example.com/secret/@v/v1.0.0.info",
		"/%2E%2E/example.com/secret/@v/v1.0.0.mod",
		"/.%2e/example.com/secret/@v/v1.0.0.zip",
		"/example.com/m/../../example.com/secret/@v/v1.0.0.info",
		"/example.com/m/..%2f..%2fexample.com/secret/@v/v1.0.0.info",
		"/example.com/m/%2e%2e%2f%2e%2e%2fexample.com/secret/@v/v1.0.0.mod",
		"/example.com/m/@v/..%2f..%2f..%2f..%2fexample.com/secret/@v/v1.0.0.info",
		"/example.com/m/@v/..%2f..%2f..%2f..%2fsecret.info",
		"/example.com/m/@v/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.info",
		"/example.com/m/@v/..%5c..%5c..%5c..%5csecret.info",
		"/example.com/m/@v/../../../../secret.info",
		"/example.com/m/@v/..%2f..%2f..%2f..%2fsecret.txt",
		"/cached-only/../example.com/secret/@v/v1.0.0.info",
		"/cached-only/%2e%2e/example.com/secret/@v/v1.0.0.mod",
		"/cached-only/example.com/m/@v/..%2f..%2f..%2f..%2fsecret.info",
	} {
		for _, h := range [][]string{nil, {"Disable-Module-Fetch: true"}} {
			r := mv.get(path, h...)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("GET %s %q: %d, want 4xx", path, h, r.status)
			}
			if bytes.Contains(r.body, []byte(secret)) {
				t.Errorf("GET %s %q: answered with a file outside the store: %s", path, h, r.body)
			}
		}
	}
}

func TestMajorVersionMismatchIsNotFound(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, path := range []string{
		"/example.com/m/v2/@v/v1.0.0.info",
		"/example.com/m/v2/@v/v1.0.0.mod",
		"/example.com/m/v2/@v/v1.0.0.zip",
		"/example.com/m/@v/v2.0.0.info",
		"/example.com/m/@v/v2.0.0.zip",
		"/example.com/m/v2/@v/v3.0.0.info",
		"/example.com/m/v2/@v/v2.0.0+incompatible.info",
		"/example.com/m/@v/v1.0.0+incompatible.info",
		"/example.com/m/@v/v0.1.0+incompatible.mod",
		"/gopkg.in/yaml.v2/@v/v3.0.0+incompatible.zip",
	} {
		checkNotFound(t, "GET "+path, mv.get(path))
		if n := up.Requests(path); n != 0 {
			t.Errorf("GET %s: upstream asked %d times for a version the module cannot have", path, n)
		}
	}
}

// TestEverySuccessIsExactly200 checks all endpoints, cold and warm: the go
// command takes any other 2xx for an error.
func TestEverySuccessIsExactly200(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	paths := []string{
		"/example.com/m/@v/list",
		"/example.com/m/@latest",
		"/example.com/m/@v/v1.1.0.info",
		"/example.com/m/@v/v1.1.0.mod",
		"/example.com/m/@v/v1.1.0.zip",
		"/example.com/nomod/@v/list",
	}
	for _, pass := range []string{"cold", "warm"} {
		for _, path := range paths {
			if r := mv.get(path); r.status != http.StatusOK {
				t.Errorf("%s GET %s: %d %s", pass, path, r.status, r.body)
			}
		}
	}
}

// TestHEADMirrorsGET checks status and headers (all but Date) for answers
// of every kind, and that HEAD has no body.
func TestHEADMirrorsGET(t *testing.T) { forEachStore(t, testHEADMirrorsGET) }

func testHEADMirrorsGET(t *testing.T, storage string) {
	up := proxytest.New(t, modules()...)
	mv := start(t, up.URL, up.SumDBName, storage)
	for _, path := range []string{
		"/example.com/m/@v/v1.0.0.info",
		"/example.com/m/@v/v1.0.0.mod",
		"/example.com/m/@v/v1.0.0.zip",
		"/example.com/m/@v/list",
		"/example.com/m/@latest",
		"/example.com/unknown/@v/v1.0.0.info",
		"/example.com/m/@v/main.mod",
		"/Example.com/m/@v/list",
		"/cached-only/example.com/m/@v/v1.1.0.zip",
	} {
		get := mv.get(path)
		head := mv.do(http.MethodHead, path)
		if head.status != get.status {
			t.Errorf("%s: HEAD %d, GET %d", path, head.status, get.status)
		}
		if len(head.body) != 0 {
			t.Errorf("HEAD %s: body %q", path, head.body)
		}
		get.header.Del("Date")
		head.header.Del("Date")
		for k := range mergeKeys(get.header, head.header) {
			if g, h := get.header.Values(k), head.header.Values(k); !slices.Equal(g, h) {
				t.Errorf("%s: header %s: HEAD %q, GET %q", path, k, h, g)
			}
		}
	}
}

func mergeKeys(a, b http.Header) map[string]bool {
	keys := make(map[string]bool)
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func TestRangeOnZip(t *testing.T) { forEachStore(t, testRangeOnZip) }

func testRangeOnZip(t *testing.T, storage string) {
	up := proxytest.New(t, modules()...)
	mv := start(t, up.URL, up.SumDBName, storage)
	want := up.ZipBytes("example.com/big", "v1.0.0")
	const path = "/example.com/big/@v/v1.0.0.zip"
	full := mv.mustGet(path)
	if sha256.Sum256(full) != sha256.Sum256(want) {
		t.Fatal("full zip differs from the upstream's")
	}
	n := len(want)
	tests := []struct {
		rng        string
		start, end int // of the expected bytes
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=100-1099", 100, 1100},
		{"bytes=-22", n - 22, n},
		{fmt.Sprintf("bytes=%d-", n-1000), n - 1000, n},
		{fmt.Sprintf("bytes=10-%d", n+5000), 10, n},
	}
	for _, tt := range tests {
		r := mv.get(path, "Range: "+tt.rng)
		if r.status != http.StatusPartialContent {
			t.Errorf("Range %s: %d, want 206", tt.rng, r.status)
			continue
		}
		if got, wantCR := r.header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, n); got != wantCR {
			t.Errorf("Range %s: Content-Range %q, want %q", tt.rng, got, wantCR)
		}
		if !bytes.Equal(r.body, want[tt.start:tt.end]) {
			t.Errorf("Range %s: wrong bytes", tt.rng)
		}
	}
	if r := mv.get(path, fmt.Sprintf("Range: bytes=%d-", n+10)); r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range beyond the end: %d, want 416", r.status)
	}
	// The full zip is unchanged by range requests.
	if again := mv.mustGet(path); sha256.Sum256(again) != sha256.Sum256(want) {
		t.Error("full zip changed after range requests")
	}
}

func TestETagRevalidation(t *testing.T) { forEachStore(t, testETagRevalidation) }

func testETagRevalidation(t *testing.T, storage string) {
	up := proxytest.New(t, modules()...)
	mv := start(t, up.URL, up.SumDBName, storage)
	for _, ext := range []string{".info", ".mod", ".zip"} {
		path := "/example.com/m/@v/v1.0.0" + ext
		first := mv.get(path)
		etag := first.header.Get("ETag")
		if first.status != http.StatusOK || etag == "" || !strings.HasPrefix(etag, `"`) {
			t.Errorf("GET %s: %d, ETag %q; want 200 with a strong ETag", path, first.status, etag)
			continue
		}
		second := mv.get(path)
		if second.header.Get("ETag") != etag {
			t.Errorf("GET %s: ETag changed from %s to %s", path, etag, second.header.Get("ETag"))
		}
		r := mv.get(path, "If-None-Match: "+etag)
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("GET %s If-None-Match %s: %d %q, want 304 without body", path, etag, r.status, r.body)
		}
		r = mv.get(path, `If-None-Match: "something-else"`)
		if r.status != http.StatusOK || !bytes.Equal(r.body, first.body) {
			t.Errorf("GET %s with another ETag: %d, want 200 with the body", path, r.status)
		}
	}
}

func maxAge(cc string) (int, bool) {
	for d := range strings.SplitSeq(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

// TestCacheControl checks that version files may be cached for ever and
// that everything that can change (list, latest, queries, errors) may not.
func TestCacheControl(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, path := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/v1.0.0.mod", "/example.com/m/@v/v1.0.0.zip"} {
		cc := mv.get(path).header.Get("Cache-Control")
		age, ok := maxAge(cc)
		if !strings.Contains(cc, "immutable") || !ok || age < 24*3600 {
			t.Errorf("GET %s: Cache-Control %q, want immutable with a long max-age", path, cc)
		}
	}
	for _, path := range []string{"/example.com/m/@v/list", "/example.com/m/@latest"} {
		r := mv.get(path)
		cc := r.header.Get("Cache-Control")
		age, ok := maxAge(cc)
		if r.status != http.StatusOK || strings.Contains(cc, "immutable") || !ok || age <= 0 || age > 3600 {
			t.Errorf("GET %s: %d, Cache-Control %q, want a short max-age", path, r.status, cc)
		}
	}
	for _, path := range []string{"/example.com/unknown/@v/v1.0.0.info", "/example.com/unknown/@v/list", "/Bad/@v/list"} {
		cc := mv.get(path).header.Get("Cache-Control")
		if age, ok := maxAge(cc); strings.Contains(cc, "immutable") || ok && age > 1800 {
			t.Errorf("GET %s: error with Cache-Control %q", path, cc)
		}
	}
}

func TestListExcludesPseudoVersionsAndIncludesIncompatible(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	// Once a pseudo-version is stored, it is still not listed.
	mv.mustGet("/example.com/m/@v/" + pseudo + ".info")
	r := mv.get("/example.com/m/@v/list")
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("list Content-Type %q", ct)
	}
	got := listed(r.body)
	slices.Sort(got)
	if want := []string{"v1.0.0", "v1.1.0", "v1.2.0-pre"}; !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	got = listed(mv.mustGet("/example.com/old/@v/list"))
	slices.Sort(got)
	if want := []string{"v1.0.0", "v2.0.0+incompatible"}; !slices.Equal(got, want) {
		t.Errorf("old list = %q, want %q", got, want)
	}
}

// TestListFromAnUpstreamWithPseudoVersionsAndTimes checks a list whose
// upstream includes pseudo-versions, the optional time field and versions
// that no .info could be served for.
func TestListFromAnUpstreamWithPseudoVersionsAndTimes(t *testing.T) {
	lister := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/example.com/listy/@v/list" {
			http.NotFound(w, r)
			return
		}
		// Besides pseudo-versions, versions the module cannot have: v3.0.0
		// without +incompatible, and +incompatible on a v1.
		io.WriteString(w, "v1.0.0 2024-01-02T03:04:05Z\nv1.0.1-0.20240102030405-abcdefabcdef\n\nv2.0.0+incompatible\nv1.1.0-rc.1 2024-02-03T00:00:00Z\nv3.0.0\nv1.2.0+incompatible\nnot-a-version\n")
	}))
	defer lister.Close()
	mv := start(t, lister.URL, "", "")
	got := listed(mv.mustGet("/example.com/listy/@v/list"))
	slices.Sort(got)
	if want := []string{"v1.0.0", "v1.1.0-rc.1", "v2.0.0+incompatible"}; !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
}

// TestUntaggedModuleHasEmptyList checks that a module with only
// pseudo-versions answers an empty 200 list, not 404.
func TestUntaggedModuleHasEmptyList(t *testing.T) {
	up := proxytest.New(t, proxytest.Module{Path: "example.com/untagged", Version: "v0.0.0-20240102030405-abcdefabcdef", Files: map[string]string{"go.mod": gomod("example.com/untagged", "")}})
	mv := startWith(t, up)
	r := mv.get("/example.com/untagged/@v/list")
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("list: %d %q, want 200 and empty", r.status, r.body)
	}
	if i := parseInfo(t, "@latest", mv.mustGet("/example.com/untagged/@latest")); i.Version != "v0.0.0-20240102030405-abcdefabcdef" {
		t.Errorf("@latest Version %q", i.Version)
	}
}

func TestRetractedVersionsStayListed(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	got := listed(mv.mustGet("/example.com/retract/@v/list"))
	slices.Sort(got)
	if want := []string{"v1.0.0", "v1.1.0"}; !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	// The retraction reaches the go command in the latest .mod, unchanged.
	if mod := string(mv.mustGet("/example.com/retract/@v/v1.1.0.mod")); !strings.Contains(mod, "retract v1.0.0 // broken") {
		t.Errorf("latest .mod lacks the retract directive:\n%s", mod)
	}
	// The retracted version itself stays available.
	if i := parseInfo(t, "v1.0.0.info", mv.mustGet("/example.com/retract/@v/v1.0.0.info")); i.Version != "v1.0.0" {
		t.Errorf("retracted .info Version %q", i.Version)
	}
	mv.mustGet("/example.com/retract/@v/v1.0.0.zip")
}

// TestStoredVersionsSurviveMovedAndDeletedTags checks what users keep
// modvault for: a version once served keeps its bytes and stays listed
// after the upstream tag moves or disappears.
func TestStoredVersionsSurviveMovedAndDeletedTags(t *testing.T) {
	orig := proxytest.Module{Path: "example.com/moving", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/moving", ""), "a.go": "package moving\n"}}
	up := proxytest.New(t, orig)
	mv := startWith(t, up)
	before := map[string][]byte{}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		before[ext] = mv.mustGet("/example.com/moving/@v/v1.0.0" + ext)
	}
	origZip := up.ZipBytes(orig.Path, orig.Version)

	// The tag moves to a commit with another go.mod and other files.
	moved := orig
	moved.Time = orig.Time.Add(48 * time.Hour)
	moved.Files = map[string]string{"go.mod": gomod("example.com/moving", "\nrequire example.com/m v1.0.0\n"), "b.go": "package moving\n\nconst Moved = true\n"}
	up.Add(moved)
	if bytes.Equal(up.ZipBytes(orig.Path, orig.Version), origZip) {
		t.Fatal("test setup: the moved tag has the same zip")
	}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		if got := mv.mustGet("/example.com/moving/@v/v1.0.0" + ext); !bytes.Equal(got, before[ext]) {
			t.Errorf("%s changed after the upstream tag moved", ext)
		}
	}

	// The tag is deleted: the module is gone upstream.
	up.Remove(orig.Path, orig.Version)
	listRequests := up.Requests("/example.com/moving/@v/list")
	got := listed(mv.mustGet("/example.com/moving/@v/list"))
	if !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("list after the tag was deleted = %q, want [v1.0.0]", got)
	}
	if up.Requests("/example.com/moving/@v/list") == listRequests {
		t.Error("list was not asked of the upstream again; the test proves nothing")
	}
	if i := parseInfo(t, "@latest", mv.mustGet("/example.com/moving/@latest")); i.Version != "v1.0.0" {
		t.Errorf("@latest after the tag was deleted: Version %q", i.Version)
	}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		if got := mv.mustGet("/example.com/moving/@v/v1.0.0" + ext); !bytes.Equal(got, before[ext]) {
			t.Errorf("%s changed after the upstream tag was deleted", ext)
		}
	}
}

// TestZipOfMovedTagNotPairedWithOldMod checks that when only the .mod was
// served before the tag moved, the new commit's zip (whose go.mod differs)
// is not served with it: the go command would report a checksum mismatch.
func TestZipOfMovedTagNotPairedWithOldMod(t *testing.T) {
	orig := proxytest.Module{Path: "example.com/moving", Version: "v1.0.0", Files: map[string]string{"go.mod": gomod("example.com/moving", ""), "a.go": "package moving\n"}}
	up := proxytest.New(t, orig)
	mv := startWith(t, up)
	mod := mv.mustGet("/example.com/moving/@v/v1.0.0.mod")
	moved := orig
	moved.Files = map[string]string{"go.mod": gomod("example.com/moving", "\nrequire example.com/m v1.0.0\n"), "a.go": "package moving\n"}
	up.Add(moved)
	if r := mv.get("/example.com/moving/@v/v1.0.0.zip"); r.status == http.StatusOK {
		t.Error("served the moved tag's zip next to the old .mod")
	}
	if got := mv.mustGet("/example.com/moving/@v/v1.0.0.mod"); !bytes.Equal(got, mod) {
		t.Error(".mod changed")
	}
}

func TestEveryListedVersionHasInfoAndMod(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, mod := range []string{"example.com/m", "example.com/old", "example.com/retract", "example.com/Upper", "example.com/M", "example.com/m/v2"} {
		esc := escape(t, mod)
		vers := listed(mv.mustGet("/" + esc + "/@v/list"))
		if len(vers) == 0 {
			t.Errorf("%s: empty list", mod)
		}
		for _, v := range vers {
			if i := parseInfo(t, mod+"@"+v, mv.mustGet("/"+esc+"/@v/"+escape(t, v)+".info")); i.Version != v {
				t.Errorf("%s@%s: .info Version %q", mod, v, i.Version)
			}
			if m := mv.mustGet("/" + esc + "/@v/" + escape(t, v) + ".mod"); !strings.HasPrefix(string(m), "module "+mod+"\n") {
				t.Errorf("%s@%s: .mod %q does not declare %s", mod, v, m, mod)
			}
		}
	}
}

// TestCachedOnlyNeverFetches checks both ways of asking for cached content
// only: the /cached-only/ prefix and the Disable-Module-Fetch header.
func TestCachedOnlyNeverFetches(t *testing.T) {
	for _, mode := range []struct {
		name   string
		prefix string
		header []string
	}{
		{"prefix", "/cached-only", nil},
		{"header", "", []string{"Disable-Module-Fetch: true"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			up := proxytest.New(t, modules()...)
			mv := startWith(t, up)
			get := func(path string) response { return mv.get(mode.prefix+path, mode.header...) }
			n := up.TotalRequests()
			for _, path := range []string{
				"/example.com/m/@v/list",
				"/example.com/m/@latest",
				"/example.com/m/@v/v1.0.0.info",
				"/example.com/m/@v/v1.0.0.mod",
				"/example.com/m/@v/v1.0.0.zip",
				"/example.com/m/@v/main.info",
			} {
				checkNotFound(t, "uncached "+path, get(path))
			}
			if got := up.TotalRequests() - n; got != 0 {
				t.Fatalf("uncached content: %d upstream requests, want none", got)
			}

			want := map[string][]byte{}
			for _, ext := range []string{".info", ".mod", ".zip"} {
				want[ext] = mv.mustGet("/example.com/m/@v/v1.0.0" + ext)
			}
			n = up.TotalRequests()
			for _, ext := range []string{".info", ".mod", ".zip"} {
				r := get("/example.com/m/@v/v1.0.0" + ext)
				if r.status != http.StatusOK || !bytes.Equal(r.body, want[ext]) {
					t.Errorf("cached %s: %d %s", ext, r.status, r.body)
				}
			}
			if r := get("/example.com/m/@v/list"); r.status != http.StatusOK || !slices.Equal(listed(r.body), []string{"v1.0.0"}) {
				t.Errorf("cached list: %d %q, want the stored v1.0.0", r.status, r.body)
			}
			if r := get("/example.com/m/@latest"); r.status != http.StatusOK || parseInfo(t, "@latest", r.body).Version != "v1.0.0" {
				t.Errorf("cached @latest: %d %s", r.status, r.body)
			}
			checkNotFound(t, "uncached v1.1.0", get("/example.com/m/@v/v1.1.0.info"))
			checkNotFound(t, "uncached v1.0.0 of another module", get("/example.com/nomod/@v/v1.0.0.mod"))
			if got := up.TotalRequests() - n; got != 0 {
				t.Errorf("cached-only requests: %d upstream requests, want none", got)
			}
		})
	}
}

// queryUpstream is an upstream that resolves version queries, as a real
// proxy does, and answers 404 to everything else; it records the decoded
// paths it was asked for.
type queryUpstream struct {
	URL     string
	answers map[string]string // decoded path → .info body

	mu    sync.Mutex
	paths []string
}

func newQueryUpstream(t *testing.T, answers map[string]string) *queryUpstream {
	q := &queryUpstream{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q.mu.Lock()
		q.paths = append(q.paths, r.URL.Path)
		q.mu.Unlock()
		body, ok := q.answers[r.URL.Path]
		if !ok {
			http.Error(w, "not found: query upstream", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	q.URL = srv.URL
	return q
}

func (q *queryUpstream) asked(path string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Contains(q.paths, path)
}

func TestVersionQueriesPassedThrough(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mainInfo := `{"Version":"v1.1.0","Time":"2024-01-02T03:04:05Z","Origin":{"VCS":"git","Ref":"refs/heads/main"}}`
	hashInfo := `{"Version":"` + pseudo + `","Time":"2024-01-02T03:04:05Z"}`
	q := newQueryUpstream(t, map[string]string{
		"/example.com/m/@v/main.info":         mainInfo,
		"/example.com/m/@v/abcdefabcdef.info": hashInfo,
		"/example.com/m/@v/feature#1.info":    mainInfo,
		"/example.com/m/@v/bad.info":          `{"Version":"main"}`,
	})
	mv := start(t, q.URL+","+up.URL, "", "")
	for path, want := range map[string]string{
		"/example.com/m/@v/main.info":         mainInfo,
		"/example.com/m/@v/abcdefabcdef.info": hashInfo,
		"/example.com/m/@v/feature%231.info":  mainInfo,
	} {
		r := mv.get(path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
			continue
		}
		if string(r.body) != want {
			t.Errorf("GET %s = %s, want the upstream's %s", path, r.body, want)
		}
		if cc := r.header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: query answer cached for ever: %q", path, cc)
		}
	}
	if !q.asked("/example.com/m/@v/feature#1.info") {
		t.Error(`query "feature#1" did not reach the upstream as itself`)
	}
	// A query whose version is an escaped traversal reaches the upstream as
	// a version, not as a path outside the module.
	r := mv.get("/example.com/m/@v/%252e%252e%252f%252e%252e%252fadmin.info")
	checkNotFound(t, "escaped traversal query", r)
	if !q.asked("/example.com/m/@v/%2e%2e%2f%2e%2e%2fadmin.info") {
		t.Errorf("escaped traversal query reached the upstream as %q", q.paths)
	}
	// An answer that is not a canonical version is refused.
	if r := mv.get("/example.com/m/@v/bad.info"); r.status == http.StatusOK {
		t.Errorf("non-canonical query answer served: %s", r.body)
	}
	// Queries are never answered from the store in cached-only mode.
	n := up.TotalRequests()
	checkNotFound(t, "cached-only query", mv.get("/cached-only/example.com/m/@v/main.info"))
	if up.TotalRequests() != n {
		t.Error("cached-only query reached the upstream")
	}
}

func TestNonCanonicalModAndZipAreNotFound(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, path := range []string{
		"/example.com/m/@v/main.mod",
		"/example.com/m/@v/main.zip",
		"/example.com/m/@v/v1.0.mod",
		"/example.com/m/@v/v1.zip",
		"/example.com/m/@v/v1.0.0+meta.mod",
		"/example.com/m/@v/abcdefabcdef.zip",
	} {
		checkNotFound(t, "GET "+path, mv.get(path))
	}
	if n := up.TotalRequests(); n != 0 {
		t.Errorf("upstream got %d requests for non-canonical .mod/.zip", n)
	}
}

// TestUpstreamRefusalKeepsItsStatusAndReason checks that a 403, 404 or 410
// upstream answer reaches the client with its status, so that the client's
// own GOPROXY list behaves as it would have without modvault (it moves on
// after 404 and 410 only), and with the upstream's reason.
func TestUpstreamRefusalKeepsItsStatusAndReason(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusGone} {
		up := proxytest.New(t, modules()...)
		up.SetFail(func(*http.Request) (int, bool) { return status, true })
		mv := startWith(t, up)
		for _, path := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/v1.0.0.zip", "/example.com/m/@v/list", "/example.com/m/@latest"} {
			r := mv.get(path)
			if r.status != status {
				t.Errorf("upstream %d: GET %s: status %d (%s), want %d", status, path, r.status, r.body, status)
			}
			if want := fmt.Sprintf("injected failure %d", status); !bytes.Contains(r.body, []byte(want)) {
				t.Errorf("upstream %d: GET %s: body %q lacks the upstream's reason %q", status, path, r.body, want)
			}
		}
	}
}

func TestUpstreamServerErrorStopsCommaButNotPipe(t *testing.T) {
	broken := proxytest.New(t)
	broken.SetFail(func(*http.Request) (int, bool) { return http.StatusInternalServerError, true })
	good := proxytest.New(t, modules()...)

	comma := start(t, broken.URL+","+good.URL, "", "")
	for _, path := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/list", "/example.com/m/@latest"} {
		checkTextError(t, "comma: GET "+path, comma.get(path), http.StatusBadGateway)
	}
	if n := good.TotalRequests(); n != 0 {
		t.Errorf("comma: the next upstream got %d requests after a 500", n)
	}

	pipe := start(t, broken.URL+"|"+good.URL, "", "")
	body := pipe.mustGet("/example.com/m/@v/v1.0.0.info")
	if i := parseInfo(t, "pipe", body); i.Version != "v1.0.0" {
		t.Errorf("pipe: Version %q", i.Version)
	}
	if got := pipe.mustGet("/example.com/m/@v/v1.0.0.zip"); !bytes.Equal(got, good.ZipBytes("example.com/m", "v1.0.0")) {
		t.Error("pipe: zip differs from the second upstream's")
	}
}

func TestUnreachableUpstreamWithNothingStoredIsBadGateway(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	mv := start(t, dead.URL, "", "")
	for _, path := range []string{
		"/example.com/m/@v/list",
		"/example.com/m/@latest",
		"/example.com/m/@v/v1.0.0.info",
		"/example.com/m/@v/v1.0.0.mod",
		"/example.com/m/@v/v1.0.0.zip",
		"/example.com/m/@v/main.info",
	} {
		checkTextError(t, "GET "+path, mv.get(path), http.StatusBadGateway)
	}
}

func TestStoredContentServedWhileUpstreamIsDown(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	want := map[string][]byte{}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		want[ext] = mv.mustGet("/example.com/m/@v/v1.1.0" + ext)
	}
	up.Close()
	for _, ext := range []string{".info", ".mod", ".zip"} {
		if got := mv.mustGet("/example.com/m/@v/v1.1.0" + ext); !bytes.Equal(got, want[ext]) {
			t.Errorf("%s changed while the upstream is down", ext)
		}
	}
	if got := listed(mv.mustGet("/example.com/m/@v/list")); !slices.Equal(got, []string{"v1.1.0"}) {
		t.Errorf("list while the upstream is down = %q, want the stored [v1.1.0]", got)
	}
	if i := parseInfo(t, "@latest", mv.mustGet("/example.com/m/@latest")); i.Version != "v1.1.0" {
		t.Errorf("@latest while the upstream is down: %q", i.Version)
	}
	checkTextError(t, "unstored version", mv.get("/example.com/m/@v/v1.0.0.info"), http.StatusBadGateway)
}

func TestMethodsOtherThanGETAndHEADNotAllowed(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		r := mv.do(method, "/example.com/m/@v/v1.0.0.info")
		checkTextError(t, method, r, http.StatusMethodNotAllowed)
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s: Allow %q", method, allow)
		}
	}
	if n := up.TotalRequests(); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

// TestGzipAcceptingClientsGetCorrectBodies sends Accept-Encoding: gzip, as
// the go command does, and checks the decoded bodies.
func TestGzipAcceptingClientsGetCorrectBodies(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for path, want := range map[string]string{
		"/example.com/m/@v/list":        "v1.0.0\nv1.1.0\nv1.2.0-pre\n",
		"/example.com/m/@v/v1.0.0.mod":  gomod("example.com/m", ""),
		"/example.com/m/@v/v1.0.0.info": `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`,
		"/example.com/m/@v/v1.0.0.zip":  string(up.ZipBytes("example.com/m", "v1.0.0")),
	} {
		r := mv.get(path, "Accept-Encoding: gzip")
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
			continue
		}
		body := r.body
		switch ce := r.header.Get("Content-Encoding"); ce {
		case "":
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		default:
			t.Errorf("GET %s: Content-Encoding %q", path, ce)
		}
		got := string(body)
		if strings.HasSuffix(path, "/list") {
			vers := listed(body)
			slices.Sort(vers)
			got = strings.Join(vers, "\n") + "\n"
		}
		if got != want {
			t.Errorf("GET %s with gzip: %q, want %q", path, got, want)
		}
	}
}

// TestChecksumDatabaseThroughModvault checks the /sumdb/ routes, also under
// /cached-only/, where GOPROXY=…/cached-only makes the go command look.
func TestChecksumDatabaseThroughModvault(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startWith(t, up)
	for _, prefix := range []string{"", "/cached-only"} {
		mv.mustGet(prefix + "/sumdb/" + up.SumDBName + "/supported")
		lookup := mv.mustGet(prefix + "/sumdb/" + up.SumDBName + "/lookup/example.com/!upper@v1.0.0-!r!c1")
		if want := "example.com/Upper v1.0.0-RC1 " + up.ZipHash("example.com/Upper", "v1.0.0-RC1") + "\n"; !bytes.Contains(lookup, []byte(want)) {
			t.Errorf("%s lookup lacks %q:\n%s", prefix, want, lookup)
		}
		checkNotFound(t, prefix+" unknown database", mv.get(prefix+"/sumdb/sum.unknown.test/supported"))
	}
}

func TestOversizedUpstreamAnswerIsBadGateway(t *testing.T) {
	huge := `{"Version":"v1.0.0","Pad":"` + strings.Repeat("x", 100<<10) + `"}`
	q := newQueryUpstream(t, map[string]string{
		"/example.com/m/@v/v1.0.0.info": huge,
		"/example.com/m/@v/main.info":   huge,
	})
	mv := start(t, q.URL, "", "")
	for _, path := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/main.info"} {
		checkTextError(t, "GET "+path, mv.get(path), http.StatusBadGateway)
	}
}

// forEachStore runs test against a mem:// store (served through the blob
// reader) and a file:// store (served from the open file with sendfile).
func forEachStore(t *testing.T, test func(t *testing.T, storage string)) {
	t.Run("mem", func(t *testing.T) { test(t, "mem://") })
	t.Run("file", func(t *testing.T) { test(t, fileURL(t.TempDir())) })
}

// TestCachedSmallFileAnswersLikeServeContent checks that a plain GET of a
// .info, .mod or small .zip kept in memory, which modvault answers itself, has the
// status, headers and body that http.ServeContent gives (a request with an
// If-Modified-Since in the past goes through it), and that conditional and
// range requests of it are still honored.
func TestCachedSmallFileAnswersLikeServeContent(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := start(t, up.URL, up.SumDBName, "")
	for _, path := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/v1.0.0.mod", "/example.com/m/@v/v1.0.0.zip"} {
		mv.get(path) // read from the store, kept in memory
		first, second := mv.get(path, "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT"), mv.get(path)
		if first.status != http.StatusOK || second.status != http.StatusOK || !bytes.Equal(first.body, second.body) {
			t.Fatalf("%s: %d then %d, bodies equal: %v", path, first.status, second.status, bytes.Equal(first.body, second.body))
		}
		first.header.Del("Date")
		second.header.Del("Date")
		for k := range mergeKeys(first.header, second.header) {
			if a, b := first.header.Values(k), second.header.Values(k); !slices.Equal(a, b) {
				t.Errorf("%s: header %s: by http.ServeContent %q, by modvault %q", path, k, a, b)
			}
		}
		etag := second.header.Get("ETag")
		if etag == "" || second.header.Get("Last-Modified") == "" {
			t.Errorf("%s: no ETag or Last-Modified: %v", path, second.header)
		}
		if r := mv.get(path, "If-None-Match: "+etag); r.status != http.StatusNotModified {
			t.Errorf("%s with If-None-Match of its ETag: %d, want 304", path, r.status)
		}
		if r := mv.get(path, "Range: bytes=0-0"); r.status != http.StatusPartialContent || !bytes.Equal(r.body, second.body[:1]) {
			t.Errorf("%s with Range bytes=0-0: %d %q, want 206 %q", path, r.status, r.body, second.body[:1])
		}
	}
}
