package direct_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/direct"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// newFetcher returns a Fetcher over the git host with its own temporary
// directory, closed when the test ends.
func newFetcher(t *testing.T, h *proxytest.GitHost, opts direct.Options) (*direct.Fetcher, string) {
	t.Helper()
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	opts.Env = append(h.Env(), opts.Env...)
	opts.Private = "example.test"
	opts.Logger = slog.New(slog.DiscardHandler)
	f, err := direct.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, opts.TempDir
}

func fetch(t *testing.T, f *direct.Fetcher, path string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	body, size, err := f.Fetch(ctx, path)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if size >= 0 && int64(len(b)) != size {
		t.Errorf("%s: size %d, read %d bytes", path, size, len(b))
	}
	return b, nil
}

func mustFetch(t *testing.T, f *direct.Fetcher, path string) []byte {
	t.Helper()
	b, err := fetch(t, f, path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func infoVersion(t *testing.T, b []byte) string {
	t.Helper()
	var info struct{ Version string }
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("bad .info %q: %v", b, err)
	}
	return info.Version
}

func path(t *testing.T, mod, ver string, kind protocol.Kind) string {
	t.Helper()
	return protocol.Request{Kind: kind, Module: mod, Version: ver}.Path()
}

// checkZip checks that zip is a valid module zip of mod@ver holding want.
func checkZip(t *testing.T, mod, ver string, zip []byte, want map[string]string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(f, zip, 0o666); err != nil {
		t.Fatal(err)
	}
	cf, err := modzip.CheckZip(module.Version{Path: mod, Version: ver}, f)
	if err != nil {
		t.Fatalf("%s@%s: invalid zip: %v", mod, ver, err)
	}
	got := strings.Join(cf.Valid, " ")
	for name := range want {
		if !strings.Contains(" "+got+" ", " "+mod+"@"+ver+"/"+name+" ") {
			t.Errorf("%s@%s: zip holds %q, want %s in it", mod, ver, got, name)
		}
	}
}

// TestFetchesWhatTheGoCommandFetches covers the kinds of modules the go
// command fetches from version control: tagged versions of a v1 module and
// its /v2, a subdirectory module with its own tags, an untagged commit as a
// pseudo-version and by branch name, and a v2+ tag without go.mod
// (+incompatible).
func TestFetchesWhatTheGoCommandFetches(t *testing.T) {
	h := proxytest.NewGitHost(t)
	foo := h.Repo("foo.git")
	fooMod := foo.Module()
	foo.Commit("v0", map[string]string{"go.mod": proxytest.GoMod(fooMod), "foo.go": "package foo\n"})
	foo.Tag("v0.1.0")
	foo.Commit("v1", map[string]string{"foo.go": "package foo\n\nconst V = 1\n"})
	foo.Tag("v1.0.0")
	foo.Commit("v2", map[string]string{"go.mod": proxytest.GoMod(fooMod + "/v2"), "foo.go": "package foo\n\nconst V = 2\n"})
	foo.Tag("v2.0.0")

	multi := h.Repo("multi.git")
	subMod := multi.Module() + "/sub"
	multi.Commit("root and sub", map[string]string{
		"go.mod": proxytest.GoMod(multi.Module()), "root.go": "package multi\n",
		"sub/go.mod": proxytest.GoMod(subMod), "sub/sub.go": "package sub\n",
	})
	multi.Tag("sub/v1.0.0")

	untagged := h.Repo("untagged.git")
	untaggedMod := untagged.Module()
	hash := untagged.Commit("only", map[string]string{"go.mod": proxytest.GoMod(untaggedMod), "u.go": "package u\n"})

	legacy := h.Repo("legacy.git")
	legacyMod := legacy.Module()
	legacy.Commit("no go.mod", map[string]string{"legacy.go": "package legacy\n"})
	legacy.Tag("v2.0.0")

	f, tmp := newFetcher(t, h, direct.Options{})

	if got := string(mustFetch(t, f, path(t, fooMod, "", protocol.List))); got != "v0.1.0\nv1.0.0\n" {
		t.Errorf("list of %s = %q, want v0.1.0 and v1.0.0 (v2.0.0 is %s/v2)", fooMod, got, fooMod)
	}
	if got := infoVersion(t, mustFetch(t, f, path(t, fooMod, "", protocol.Latest))); got != "v1.0.0" {
		t.Errorf("latest of %s = %s, want v1.0.0", fooMod, got)
	}
	for _, ver := range []string{"v0.1.0", "v1.0.0"} {
		if got := infoVersion(t, mustFetch(t, f, path(t, fooMod, ver, protocol.Info))); got != ver {
			t.Errorf("%s@%s .info names %s", fooMod, ver, got)
		}
		if got := string(mustFetch(t, f, path(t, fooMod, ver, protocol.Mod))); got != proxytest.GoMod(fooMod) {
			t.Errorf("%s@%s .mod = %q", fooMod, ver, got)
		}
		checkZip(t, fooMod, ver, mustFetch(t, f, path(t, fooMod, ver, protocol.Zip)), map[string]string{"foo.go": ""})
	}
	v2 := fooMod + "/v2"
	if got := string(mustFetch(t, f, path(t, v2, "", protocol.List))); got != "v2.0.0\n" {
		t.Errorf("list of %s = %q", v2, got)
	}
	if got := string(mustFetch(t, f, path(t, v2, "v2.0.0", protocol.Mod))); got != proxytest.GoMod(v2) {
		t.Errorf("%s@v2.0.0 .mod = %q", v2, got)
	}
	checkZip(t, v2, "v2.0.0", mustFetch(t, f, path(t, v2, "v2.0.0", protocol.Zip)), map[string]string{"foo.go": ""})

	if got := string(mustFetch(t, f, path(t, subMod, "", protocol.List))); got != "v1.0.0\n" {
		t.Errorf("list of %s = %q", subMod, got)
	}
	checkZip(t, subMod, "v1.0.0", mustFetch(t, f, path(t, subMod, "v1.0.0", protocol.Zip)), map[string]string{"sub.go": ""})

	// Untagged: no versions in the list, latest and the branch name give
	// the pseudo-version of the commit, and that pseudo-version is fetched.
	if got := string(mustFetch(t, f, path(t, untaggedMod, "", protocol.List))); got != "" {
		t.Errorf("list of untagged %s = %q, want empty", untaggedMod, got)
	}
	pseudo := infoVersion(t, mustFetch(t, f, path(t, untaggedMod, "", protocol.Latest)))
	if !module.IsPseudoVersion(pseudo) || !strings.HasSuffix(pseudo, hash[:12]) {
		t.Errorf("latest of untagged = %s, want a pseudo-version of %s", pseudo, hash[:12])
	}
	for _, query := range []string{"main", hash[:12], hash} {
		if got := infoVersion(t, mustFetch(t, f, path(t, untaggedMod, query, protocol.Info))); got != pseudo {
			t.Errorf("%s@%s = %s, want %s", untaggedMod, query, got, pseudo)
		}
	}
	checkZip(t, untaggedMod, pseudo, mustFetch(t, f, path(t, untaggedMod, pseudo, protocol.Zip)), map[string]string{"u.go": ""})

	if got := string(mustFetch(t, f, path(t, legacyMod, "", protocol.List))); got != "v2.0.0+incompatible\n" {
		t.Errorf("list of %s = %q, want v2.0.0+incompatible", legacyMod, got)
	}
	const inc = "v2.0.0+incompatible"
	if got := string(mustFetch(t, f, path(t, legacyMod, inc, protocol.Mod))); got != "module "+legacyMod+"\n" {
		t.Errorf("%s@%s .mod = %q", legacyMod, inc, got)
	}
	checkZip(t, legacyMod, inc, mustFetch(t, f, path(t, legacyMod, inc, protocol.Zip)), map[string]string{"legacy.go": ""})

	// Every zip has been fetched: no throwaway GOPATH is left.
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary directory holds %d entries after every zip was fetched: %v", len(left), left)
	}
}

func TestMissingIsNotFound(t *testing.T) {
	h := proxytest.NewGitHost(t)
	foo := h.Repo("foo.git")
	foo.Commit("v1", map[string]string{"go.mod": proxytest.GoMod(foo.Module()), "foo.go": "package foo\n"})
	foo.Tag("v1.0.0")
	f, tmp := newFetcher(t, h, direct.Options{})
	for _, p := range []string{
		path(t, foo.Module(), "v1.2.3", protocol.Info),
		path(t, foo.Module(), "v1.2.3", protocol.Zip),
		path(t, foo.Module(), "nosuchbranch", protocol.Info),
		path(t, h.Prefix+"/missing.git", "", protocol.List),
		path(t, h.Prefix+"/missing.git", "", protocol.Latest),
		// A path prefix that is no repository: answered without cloning.
		path(t, h.Prefix+"/org", "", protocol.List),
	} {
		start := time.Now()
		_, err := fetch(t, f, p)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want not found", p, err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s: took %v", p, d)
		}
		t.Logf("%s: %v (%v)", p, err, time.Since(start).Round(time.Millisecond))
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary directory holds %v after failed fetches", left)
	}
}

// hangingGit returns a git host whose repository example.test/hang.git is
// served by an HTTP server that never answers, and a channel closed when
// the first request arrived.
func hangingGit(t *testing.T) (*proxytest.GitHost, []string, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{})
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-arrived:
		default:
			close(arrived)
		}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	h := proxytest.NewGitHost(t)
	env := []string{
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_1=url." + srv.URL + "/.insteadOf",
		"GIT_CONFIG_VALUE_1=https://example.test/hang",
	}
	return h, env, arrived
}

// processesIn returns the PIDs of processes whose working directory is
// under dir, and the zombies that are children of this process.
func processesIn(t *testing.T, dir string) (inDir, zombies []int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && strings.HasPrefix(cwd, dir) {
			inDir = append(inDir, pid)
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) >= 2 && fields[0] == "Z" && fields[1] == strconv.Itoa(os.Getpid()) {
			zombies = append(zombies, pid)
		}
	}
	return inDir, zombies
}

// TestCancelAndTimeoutKillTheProcessTree: a cancelled request and a timeout
// each end the go command and git at once, leave no process, zombie or
// temporary directory behind.
func TestCancelAndTimeoutKillTheProcessTree(t *testing.T) {
	if _, err := os.Stat("/proc/self/cwd"); err != nil {
		t.Fatalf("this test reads /proc: %v", err)
	}
	for _, tt := range []struct {
		name    string
		timeout time.Duration
	}{{"cancel", 0}, {"timeout", 2 * time.Second}} {
		t.Run(tt.name, func(t *testing.T) {
			h, env, arrived := hangingGit(t)
			f, tmp := newFetcher(t, h, direct.Options{Env: env, Timeout: tt.timeout})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, _, err := f.Fetch(ctx, path(t, h.Prefix+"/hang.git", "v1.0.0", protocol.Info))
				errc <- err
			}()
			select {
			case <-arrived:
			case <-time.After(time.Minute):
				t.Fatal("git never reached the server")
			}
			if procs, _ := processesIn(t, tmp); len(procs) < 2 {
				t.Errorf("%d processes run in the temporary directory while git waits, want the go command and git", len(procs))
			}
			if tt.timeout == 0 {
				cancel()
			}
			var err error
			select {
			case err = <-errc:
			case <-time.After(time.Minute):
				t.Fatal("Fetch did not return")
			}
			want := context.Canceled
			if tt.timeout != 0 {
				want = context.DeadlineExceeded
			}
			if !errors.Is(err, want) {
				t.Errorf("Fetch: %v, want %v", err, want)
			}
			// A cancelled Fetch returns at once; the download it started
			// is killed and cleaned up right behind it (within moments,
			// not at the timeout).
			deadline := time.Now().Add(5 * time.Second)
			for {
				procs, zombies := processesIn(t, tmp)
				left, _ := os.ReadDir(tmp)
				if len(procs) == 0 && len(zombies) == 0 && len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("5s after Fetch returned: processes %v in the temporary directory, zombies %v, files %v", procs, zombies, left)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestConcurrencyIsBounded: with a limit of one, a second fetch waits for
// the first go command to end.
func TestConcurrencyIsBounded(t *testing.T) {
	h, env, arrived := hangingGit(t)
	foo := h.Repo("foo.git")
	foo.Commit("v1", map[string]string{"go.mod": proxytest.GoMod(foo.Module()), "foo.go": "package foo\n"})
	foo.Tag("v1.0.0")
	f, _ := newFetcher(t, h, direct.Options{Env: env, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := f.Fetch(ctx, path(t, h.Prefix+"/hang.git", "", protocol.List))
		errc <- err
	}()
	<-arrived
	second := make(chan error, 1)
	go func() {
		_, err := fetch(t, f, path(t, foo.Module(), "", protocol.List))
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("a second fetch ran while the only slot was taken: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	<-errc
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("second fetch: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second fetch did not run once the slot was free")
	}
}
