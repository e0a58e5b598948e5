package live

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/upstream"
)

// The real upstream, as the go command on this machine is configured.
var (
	upstreamList string         // go env GOPROXY
	gosumdb      string         // go env GOSUMDB
	sumdbs       []config.SumDB // gosumdb parsed
	sumdbName    string         // the name of its database
	// redactor replaces the upstream's host names in test output, so that
	// they are never written down.
	redactor *strings.Replacer
)

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// setup reads the upstream from the go command's configuration and blocks
// every outbound connection but those to loopback and to its hosts.
func setup() error {
	var err error
	if upstreamList, err = goEnv("GOPROXY"); err != nil {
		return err
	}
	if gosumdb, err = goEnv("GOSUMDB"); err != nil {
		return err
	}
	if sumdbs, err = config.ParseSumDBs(gosumdb); err != nil || len(sumdbs) != 1 {
		return fmt.Errorf("go env GOSUMDB is %q (%v): the live tests need one checksum database", gosumdb, err)
	}
	sumdbName = sumdbs[0].Name
	proxies, _, err := upstream.ParseList(upstreamList)
	if err != nil {
		return fmt.Errorf("go env GOPROXY: %v", err)
	}
	var hosts []string
	for _, p := range proxies {
		if u, err := url.Parse(p.URL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, strings.ToLower(u.Hostname()))
		}
	}
	if len(hosts) == 0 {
		return fmt.Errorf("go env GOPROXY is %q, which names no proxy: the live tests need the real upstream", upstreamList)
	}
	var oldnew []string
	for _, h := range hosts {
		oldnew = append(oldnew, h, "<upstream>")
	}
	redactor = strings.NewReplacer(oldnew...)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = newAllowlist(hosts).DialContext
	t.Proxy = nil
	http.DefaultTransport = t
	return nil
}

func goEnv(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// allowlist dials only loopback addresses and the hosts it was given.
type allowlist struct {
	hosts  []string
	dialer net.Dialer
}

// dialHostKey is the context key under which DialContext records the host
// name it was asked to dial, for control to check once it is resolved.
type dialHostKey struct{}

func newAllowlist(hosts []string) *allowlist {
	a := &allowlist{hosts: hosts}
	a.dialer = net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, ControlContext: a.control}
	return a
}

// DialContext dials address if control allows it.
func (a *allowlist) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	return a.dialer.DialContext(context.WithValue(ctx, dialHostKey{}, strings.ToLower(host)), network, address)
}

// control runs before each connection attempt, with the resolved address:
// it allows loopback addresses and addresses of an allowed host name.
func (a *allowlist) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ip, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(ip); ip != nil && ip.IsLoopback() {
		return nil
	}
	if name, _ := ctx.Value(dialHostKey{}).(string); slices.Contains(a.hosts, name) {
		return nil
	}
	return fmt.Errorf("live: outbound connection to %s blocked: the live tests reach only loopback and the go env GOPROXY hosts", address)
}

// TestLiveDialAllowlist checks that the tests cannot reach anything but
// loopback and the upstream.
func TestLiveDialAllowlist(t *testing.T) {
	// 192.0.2.1 is reserved for documentation (RFC 5737): the dial is
	// refused before any packet is sent.
	_, err := http.Get("http://192.0.2.1/")
	if err == nil || !strings.Contains(err.Error(), "outbound connection to 192.0.2.1:80 blocked") {
		t.Errorf("GET of a host that is not allowed: err = %v, want it blocked", err)
	}
	// The upstream itself is reachable: every proxy must answer something
	// over HTTP (the status does not matter here).
	proxies, _, _ := upstream.ParseList(upstreamList)
	for _, p := range proxies {
		if p.Off || p.Direct {
			continue
		}
		resp, err := http.Get(p.URL + "/golang.org/x/mod/@v/list")
		if err != nil {
			t.Errorf("the upstream is not reachable: %s", redact(err.Error()))
			continue
		}
		resp.Body.Close()
	}
}

// modvault is a modvault server run in-process on a loopback port.
type modvault struct {
	URL  string
	stop func()

	mu    sync.Mutex
	paths map[string]int // request URL path → count
}

// startModvault runs modvault over storage in front of upstreamList, with
// the checksum database of go env GOSUMDB served under /sumdb/. It is
// stopped (gracefully, as on SIGTERM) when the test ends or by stop.
func startModvault(t *testing.T, storage, upstreamList string) *modvault {
	t.Helper()
	cfg := config.Serve{
		Storage:         storage,
		Upstream:        upstreamList,
		SumDB:           []string{sumdbName},
		GOSUMDB:         sumdbs, // verify every module before storing it
		ListTTL:         time.Minute,
		FillTimeout:     10 * time.Minute,
		ShutdownTimeout: time.Minute,
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(redactingWriter{t.Output()}, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, "live-test")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mv := &modvault{paths: make(map[string]int)}
	h := a.Handler
	a.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mv.mu.Lock()
		mv.paths[r.URL.Path]++
		mv.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	mv.URL = "http://" + ln.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ctx, ln) }()
	mv.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("modvault: %v", err)
		}
	})
	t.Cleanup(mv.stop)
	return mv
}

// requests returns how many requests modvault got for a URL path.
func (mv *modvault) requests(path string) int {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	return mv.paths[path]
}

// redact returns s without the upstream's host names.
func redact(s string) string { return redactor.Replace(s) }

// redactingWriter writes to w without the upstream's host names.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// goTimeout bounds one go command. Building the dependency graph from an
// empty build cache takes minutes on a small machine.
const goTimeout = 20 * time.Minute

// run runs the go command as g does, with a longer timeout, and fails the
// test if it fails, with its output redacted.
func run(t *testing.T, g *proxytest.Go, args ...string) string {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), goTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = g.Dir, g.Env
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, redact(out))
	}
	t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out
}

// runProgram runs a program and returns its output.
func runProgram(t *testing.T, prog string) string {
	t.Helper()
	out, err := exec.Command(prog).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", prog, err, out)
	}
	return string(out)
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// graphMain uses packages whose modules need a real dependency graph.
const graphMain = `package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error {
		b, err := blob.OpenBucket(context.Background(), "mem://")
		if err == nil {
			err = b.Close()
		}
		return err
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "runs_total", Help: "Runs."}))
	opts, err := redis.ParseURL("redis://127.0.0.1:6379/0")
	fmt.Println(uuid.NewString() != "", err == nil && opts.DB == 0, semver.IsValid("v1.0.0"), g.Wait())
}
`

// programOutput is what graphMain prints.
const programOutput = "true true true <nil>\n"

// graphDeps are the versions "go get" asks for: fixed ones, so the graph is
// the same from run to run, and two @latest queries, which go through
// modvault's list and @latest pass-through.
var graphDeps = []string{
	"github.com/prometheus/client_golang@v1.25.0",
	"github.com/redis/go-redis/v9@v9.23.0",
	"gocloud.dev@v0.47.0",
	"golang.org/x/mod@v0.42.0",
	"golang.org/x/sync@latest",
	"github.com/google/uuid@latest",
}

// TestLiveDependencyGraph builds a program with a real dependency graph of
// public modules through modvault, with checksum verification on through
// modvault's /sumdb/ pass-through; then, with modvault restarted with no
// upstream over the same store, builds it again from an empty module cache.
//
// The builds use -trimpath, so that compiled packages are cached by module
// version rather than by module cache directory: the second build (and
// later runs of the test) reuse them, while the go command still reads and
// hashes every source file it builds from, so it must have downloaded them.
func TestLiveDependencyGraph(t *testing.T) {
	start := time.Now()
	storeDir := t.TempDir()
	mv := startModvault(t, fileURL(storeDir), upstreamList)

	g := proxytest.NewGo(t, mv.URL, gosumdb)
	g.WriteFile("main.go", graphMain)
	run(t, g, append([]string{"get"}, graphDeps...)...)
	run(t, g, "mod", "download")
	prog := filepath.Join(t.TempDir(), "prog")
	run(t, g, "build", "-trimpath", "-o", prog, "./...")
	if out := runProgram(t, prog); out != programOutput {
		t.Errorf("the program printed %q, want %q", out, programOutput)
	}
	if out := run(t, g, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Errorf("go mod verify: %s", out)
	}
	mods := strings.Split(strings.TrimSpace(run(t, g, "list", "-m", "all")), "\n")
	if len(mods)-1 < 20 { // the first line is the main module
		t.Fatalf("go list -m all lists %d dependencies, want at least 20 for a real graph:\n%s", len(mods)-1, strings.Join(mods, "\n"))
	}
	t.Logf("%d modules in the build list", len(mods)-1)

	gomod := readFile(t, filepath.Join(g.Dir, "go.mod"))
	gosum := readFile(t, filepath.Join(g.Dir, "go.sum"))
	// Verification was on, and through modvault: every module version in
	// go.sum was looked up in the checksum database via modvault.
	sums := gosumVersions(t, gosum)
	if len(sums) < 20 {
		t.Errorf("go.sum has %d module versions, want at least 20:\n%s", len(sums), gosum)
	}
	for _, mv2 := range sums {
		p := "/sumdb/" + sumdbName + "/lookup/" + escape(t, mv2)
		if mv.requests(p) == 0 {
			t.Errorf("%s was not looked up in the checksum database through modvault (no request for %s)", mv2, p)
		}
	}
	checkNoTempFiles(t, storeDir)
	t.Logf("online phase: %v", time.Since(start).Round(time.Millisecond))

	// modvault restarts over the same store with no upstream at all. A fresh
	// machine with the same go.mod and go.sum downloads, verifies and builds
	// everything from the store alone.
	mv.stop()
	offStart := time.Now()
	off := startModvault(t, fileURL(storeDir), "off")
	g2 := proxytest.NewGo(t, off.URL, gosumdb)
	g2.WriteFile("main.go", graphMain)
	g2.WriteFile("go.mod", gomod)
	g2.WriteFile("go.sum", gosum)
	run(t, g2, "mod", "download")
	prog2 := filepath.Join(t.TempDir(), "prog")
	run(t, g2, "build", "-trimpath", "-o", prog2, "./...")
	if out := runProgram(t, prog2); out != programOutput {
		t.Errorf("the program built offline printed %q, want %q", out, programOutput)
	}
	if out := run(t, g2, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Errorf("go mod verify offline: %s", out)
	}
	if got := readFile(t, filepath.Join(g2.Dir, "go.sum")); got != gosum {
		t.Errorf("go.sum changed offline:\n%s\nwant:\n%s", got, gosum)
	}
	checkNoTempFiles(t, storeDir)
	t.Logf("offline phase: %v", time.Since(offStart).Round(time.Millisecond))

	// The same with an empty go.sum: every hash must then be verified
	// against the checksum database, which modvault answers from its store
	// (the lookups and tiles it read while verifying in the online phase).
	g3 := proxytest.NewGo(t, off.URL, gosumdb)
	g3.WriteFile("main.go", graphMain)
	g3.WriteFile("go.mod", gomod)
	run(t, g3, "mod", "download")
	run(t, g3, "build", "-trimpath", "-o", filepath.Join(t.TempDir(), "prog"), "./...")
	if out := run(t, g3, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Errorf("go mod verify offline with an empty go.sum: %s", out)
	}
	online := make(map[string]bool)
	for line := range strings.Lines(gosum) {
		online[line] = true
	}
	newSum := readFile(t, filepath.Join(g3.Dir, "go.sum"))
	if newSum == "" {
		t.Error("no go.sum written offline")
	}
	for line := range strings.Lines(newSum) {
		if !online[line] {
			t.Errorf("go.sum line verified offline is not the online one: %q", line)
		}
	}
}

// TestLiveToolchain switches to another Go toolchain through modvault: the
// go command downloads golang.org/toolchain from it and verifies the zip
// against the checksum database through modvault.
func TestLiveToolchain(t *testing.T) {
	const goVersion = "go1.25.0"
	storeDir := t.TempDir()
	mv := startModvault(t, fileURL(storeDir), upstreamList)
	g := proxytest.NewGo(t, mv.URL, gosumdb)
	// os/exec uses the last value of a duplicated variable, so this
	// overrides the GOTOOLCHAIN=local that NewGo sets.
	g.Env = append(g.Env, "GOTOOLCHAIN="+goVersion)

	// The go command reports the download on stderr, then the new
	// toolchain prints its version.
	out := run(t, g, "version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if want := "go version " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH; lines[len(lines)-1] != want {
		t.Errorf("go version printed %q, want last line %q", out, want)
	}
	if !strings.Contains(out, "go: downloading "+goVersion) {
		t.Errorf("go version did not download %s:\n%s", goVersion, out)
	}

	tc := module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-" + goVersion + "." + runtime.GOOS + "-" + runtime.GOARCH}
	// The zip is in the store, byte for byte the one the go command
	// verified and unpacked.
	stored := filepath.Join(storeDir, "golang.org", "toolchain", "@v", tc.Version+".zip")
	downloaded := filepath.Join(envValue(g.Env, "GOMODCACHE"), "cache", "download", "golang.org", "toolchain", "@v", tc.Version+".zip")
	storedSize, storedSum := fileSHA256(t, stored)
	dlSize, dlSum := fileSHA256(t, downloaded)
	if storedSize < 30<<20 || storedSize != dlSize || storedSum != dlSum {
		t.Errorf("stored toolchain zip: %d bytes, sha256 %x; the go command downloaded %d bytes, sha256 %x", storedSize, storedSum, dlSize, dlSum)
	}
	if p := "/sumdb/" + sumdbName + "/lookup/" + escape(t, tc); mv.requests(p) == 0 {
		t.Errorf("the toolchain was not verified through modvault's checksum database proxy (no request for %s)", p)
	}
	checkNoTempFiles(t, storeDir)
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gosumVersions returns the module versions in a go.sum file.
func gosumVersions(t *testing.T, gosum string) []module.Version {
	t.Helper()
	var vers []module.Version
	sc := bufio.NewScanner(strings.NewReader(gosum))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			t.Fatalf("bad go.sum line %q", sc.Text())
		}
		v := module.Version{Path: f[0], Version: strings.TrimSuffix(f[1], "/go.mod")}
		if !slices.Contains(vers, v) {
			vers = append(vers, v)
		}
	}
	return vers
}

// escape returns m@v as in a checksum database lookup path.
func escape(t *testing.T, v module.Version) string {
	t.Helper()
	p, err := module.EscapePath(v.Path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := module.EscapeVersion(v.Version)
	if err != nil {
		t.Fatal(err)
	}
	return p + "@" + ev
}

func envValue(env []string, key string) string {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func fileSHA256(t *testing.T, name string) (int64, [sha256.Size]byte) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return n, [sha256.Size]byte(h.Sum(nil))
}

// checkNoTempFiles fails if the store holds a temporary file left by a
// write.
func checkNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			t.Errorf("store holds a temporary file: %s", p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Error(err)
	}
}
