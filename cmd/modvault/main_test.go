package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
)

// binary is the modvault command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	dir, err := os.MkdirTemp("", "modvault-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "modvault")
	args := []string{"build", "-o", binary}
	if raceEnabled() {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building modvault: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// raceEnabled reports whether the test binary was built with -race; the
// modvault binary is built the same way.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// cleanEnv returns the test's environment without anything that configures
// modvault or the go command, with HOME set to home: modvault run with it
// has nothing configured.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MODVAULT_") || strings.HasPrefix(k, "GO") || strings.HasPrefix(k, "XDG_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// freeAddr returns a loopback address with a port that is free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a running modvault binary.
type process struct {
	cmd   *exec.Cmd
	ready chan struct{} // closed when modvault logs that it is serving
	done  chan struct{} // closed when it has exited and its log is read

	mu  sync.Mutex
	log bytes.Buffer
}

// start runs the modvault binary with env and args. It is killed at the end
// of the test if it is still running.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, args...), ready: make(chan struct{}), done: make(chan struct{})}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		readyClosed := false
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !readyClosed && strings.Contains(sc.Text(), `msg="modvault serving"`) {
				close(p.ready)
				readyClosed = true
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("modvault log:\n%s", p.logText())
		}
	})
	return p
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitReady waits until modvault serves.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("modvault exited before serving: %v\n%s", p.cmd.ProcessState, p.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("modvault did not start serving in 30s:\n%s", p.logText())
	}
}

// wait waits for modvault to exit and returns its exit code.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("modvault did not exit within %v:\n%s", timeout, p.logText())
		return -1
	}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, body
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatalf("modvault version: %v", err)
	}
	s := string(out)
	if !strings.HasPrefix(s, "modvault ") || strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("modvault version printed %q, want one line starting with \"modvault \"", s)
	}
	if !strings.Contains(s, " "+runtime.Version()+" ") || !strings.Contains(s, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("modvault version printed %q, want the Go version %s and the platform", s, runtime.Version())
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"serve", "--help"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = cleanEnv(t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("modvault %s: %v", strings.Join(args, " "), err)
		}
		if !strings.Contains(string(out), "-upstream") || !strings.Contains(string(out), "MODVAULT_") {
			t.Errorf("modvault %s printed no usage:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestNothingConfigured runs modvault as a user would the first time: no
// flags, no MODVAULT_* variables, only the go command's own GOPROXY and
// GOSUMDB. It must start, store under the user's data directory and serve
// the go command through its upstream, then stop promptly on SIGTERM.
func TestNothingConfigured(t *testing.T) {
	up := proxytest.New(t, proxytest.Module{Path: "example.com/hello", Version: "v1.0.0", Files: map[string]string{
		"go.mod":   "module example.com/hello\n\ngo 1.22\n",
		"hello.go": "package hello\n\nconst Hello = \"hello\"\n",
	}})
	home := t.TempDir()
	addr := freeAddr(t)
	env := append(cleanEnv(home), "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB(), "MODVAULT_LISTEN="+addr)
	p := start(t, env)
	p.waitReady(t)

	storeDir := filepath.Join(home, ".local", "share", "modvault", "store")
	serving := ""
	for line := range strings.Lines(p.logText()) {
		if strings.Contains(line, `msg="modvault serving"`) {
			serving = line
		}
	}
	for _, want := range []string{"upstream=" + up.URL, "storage=file://" + filepath.ToSlash(storeDir), "addr=" + addr, "sumdb=[" + up.SumDBName + "]"} {
		if !strings.Contains(serving, want) {
			t.Errorf("startup log %q lacks %q", serving, want)
		}
	}

	base := "http://" + addr
	if status, body := get(t, base+"/healthz"); status != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	// The go command downloads and verifies a module through it.
	g := proxytest.NewGo(t, base, up.GOSUMDB())
	out := g.Must("mod", "download", "-json", "example.com/hello@v1.0.0")
	var dl struct{ Sum, Error string }
	if err := json.Unmarshal([]byte(out), &dl); err != nil || dl.Error != "" || dl.Sum != up.ZipHash("example.com/hello", "v1.0.0") {
		t.Errorf("go mod download: %v\n%s", err, out)
	}
	// With GOSUMDB from the environment, modvault verifies before storing
	// (its own lookup) and answers the go command's lookup from its store.
	if n := up.Requests("/sumdb/" + up.SumDBName + "/lookup/example.com/hello@v1.0.0"); n != 1 {
		t.Errorf("checksum database lookups: %d, want 1 (modvault's verification; the go command's from the store)", n)
	}
	zip, err := os.ReadFile(filepath.Join(storeDir, "example.com", "hello", "@v", "v1.0.0.zip"))
	if err != nil || !bytes.Equal(zip, up.ZipBytes("example.com/hello", "v1.0.0")) {
		t.Errorf("the zip is not stored under the data directory: %v", err)
	}

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Stopping must not wait for the idle keep-alive connection this test
	// leaves open, nor for the 30s shutdown timeout.
	if code := p.wait(t, time.Minute); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0\n%s", code, p.logText())
	}
	if d := time.Since(sent); d > 10*time.Second {
		t.Errorf("idle modvault took %v to stop on SIGTERM", d)
	}
	if !strings.Contains(p.logText(), "msg=stopped") {
		t.Errorf("no \"stopped\" in the log:\n%s", p.logText())
	}
}

// TestGracefulShutdown sends SIGTERM while a zip is being filled from a slow
// upstream: the request in flight still gets the whole zip, modvault exits
// 0, and the store holds the whole version and no temporary file.
func TestGracefulShutdown(t *testing.T) {
	const mod, vers = "example.com/big", "v1.0.0"
	up := proxytest.New(t, proxytest.Module{Path: mod, Version: vers, Large: 1 << 20, Files: map[string]string{
		"go.mod": "module example.com/big\n\ngo 1.22\n",
		"big.go": "package big\n",
	}})
	storeDir, tempDir := t.TempDir(), t.TempDir()
	addr := freeAddr(t)
	env := append(cleanEnv(t.TempDir()),
		"GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB(), "MODVAULT_LISTEN="+addr,
		"MODVAULT_STORAGE="+(&url.URL{Scheme: "file", Path: filepath.ToSlash(storeDir)}).String(),
		"MODVAULT_TEMP_DIR="+tempDir)
	p := start(t, env)
	p.waitReady(t)

	const delay = 1500 * time.Millisecond
	up.SetDelay(delay)
	type result struct {
		status int
		body   []byte
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/" + mod + "/@v/" + vers + ".zip")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		resc <- result{resp.StatusCode, body, err}
	}()
	// The upstream has received the zip request and waits before answering:
	// the fill, and so the client's request, is in flight.
	zipPath := "/" + mod + "/@v/" + vers + ".zip"
	deadline := time.Now().Add(30 * time.Second)
	for up.Requests(zipPath) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the upstream got no zip request in 30s:\n%s", p.logText())
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	var res result
	select {
	case res = <-resc:
	case <-time.After(30 * time.Second):
		t.Fatalf("the request in flight got no answer 30s after SIGTERM:\n%s", p.logText())
	}
	want := up.ZipBytes(mod, vers)
	if res.err != nil || res.status != http.StatusOK || !bytes.Equal(res.body, want) {
		t.Errorf("request in flight at SIGTERM: status %d, %d bytes (want %d), err %v", res.status, len(res.body), len(want), res.err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0", code)
	}
	t.Logf("SIGTERM to exit: %v (upstream delay %v)", time.Since(sent).Round(time.Millisecond), delay)

	// The store holds exactly the version's three files, whole.
	var files []string
	err := filepath.WalkDir(storeDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(storeDir, path)
			if rel = filepath.ToSlash(rel); !strings.HasPrefix(rel, "sumdb/") { // the verifier's state
				files = append(files, rel)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{mod + "/@v/" + vers + ".info", mod + "/@v/" + vers + ".mod", mod + "/@v/" + vers + ".zip"}
	slices.Sort(files)
	if !slices.Equal(files, wantFiles) {
		t.Errorf("store holds %q, want %q", files, wantFiles)
	}
	if zip, err := os.ReadFile(filepath.Join(storeDir, filepath.FromSlash(mod), "@v", vers+".zip")); err != nil || !bytes.Equal(zip, want) {
		t.Errorf("stored zip: %d bytes, err %v; want the upstream's %d bytes", len(zip), err, len(want))
	}
	if gomod, err := os.ReadFile(filepath.Join(storeDir, filepath.FromSlash(mod), "@v", vers+".mod")); err != nil || string(gomod) != "module example.com/big\n\ngo 1.22\n" {
		t.Errorf("stored .mod: %q, %v", gomod, err)
	}
	var info struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(storeDir, filepath.FromSlash(mod), "@v", vers+".info")); err != nil || json.Unmarshal(b, &info) != nil || info.Version != vers {
		t.Errorf("stored .info: %q, %v", b, err)
	}
	if left, err := os.ReadDir(tempDir); err != nil || len(left) != 0 {
		t.Errorf("temporary directory holds %v (err %v), want nothing", left, err)
	}
}

// TestBadSetting checks that a bad value stops modvault before it starts,
// with exit code 2 and one line that names the setting.
func TestBadSetting(t *testing.T) {
	tests := []struct {
		env   []string
		args  []string
		words []string
	}{
		{args: []string{"--log-level=loud"}, words: []string{"--log-level", "loud"}},
		{args: []string{"serve", "--list-ttl=soon"}, words: []string{"list-ttl", "soon"}},
		{env: []string{"MODVAULT_LOG_LEVEL=loud"}, words: []string{"MODVAULT_LOG_LEVEL", "loud"}},
		{env: []string{"MODVAULT_SHUTDOWN_TIMEOUT=0s"}, words: []string{"MODVAULT_SHUTDOWN_TIMEOUT", "positive"}},
		{args: []string{"--no-such-flag"}, words: []string{"no-such-flag"}},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, binary, tt.args...)
		cmd.Env = append(cleanEnv(t.TempDir()), "GOPROXY=off", "GOSUMDB=off", "MODVAULT_LISTEN="+freeAddr(t))
		cmd.Env = append(cmd.Env, tt.env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		code := cmd.ProcessState.ExitCode()
		msg := stderr.String()
		if code != 2 {
			t.Errorf("env %q, args %q: exit code %d (%v), want 2; stderr:\n%s", tt.env, tt.args, code, err, msg)
			continue
		}
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "modvault: ") || stdout.Len() != 0 {
			t.Errorf("env %q, args %q: want one line on stderr starting with \"modvault: \", got stderr %q, stdout %q", tt.env, tt.args, msg, stdout.String())
		}
		for _, w := range tt.words {
			if !strings.Contains(msg, w) {
				t.Errorf("env %q, args %q: %q does not mention %s", tt.env, tt.args, msg, w)
			}
		}
	}
}

// TestVerifyExitCode: "modvault verify" exits 0 on a whole store and 1,
// naming the version, when a stored file lacks its .info.
func TestVerifyExitCode(t *testing.T) {
	dir := t.TempDir()
	storage := "file://" + filepath.ToSlash(dir)
	env := append(os.Environ(), "GOSUMDB=off", "HOME="+t.TempDir())
	cmd := exec.Command(binary, "verify", "--storage", storage)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "0 problems") {
		t.Errorf("verify of an empty store: %v\n%s", err, out)
	}
	p := filepath.Join(dir, "example.com", "m", "@v", "v1.0.0.mod")
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("module example.com/m\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(binary, "verify", "--storage", storage)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "example.com/m@v1.0.0: partial") {
		t.Errorf("verify of a store with a partial version: %v (want exit 1)\n%s", err, out)
	}
}

// TestSecretsStayOutOfLogsAndAnswers runs modvault with credentials for
// version control and for the upstream proxy, fetches a private module
// (which works) and a missing one (which fails), at debug level: neither
// the log nor any answer shows a secret.
func TestSecretsStayOutOfLogsAndAnswers(t *testing.T) {
	h := proxytest.NewGitHost(t)
	repo := h.Repo("secret.git")
	repo.Commit("v1", map[string]string{"go.mod": proxytest.GoMod(repo.Module()), "s.go": "package secret\n"})
	repo.Tag("v1.0.0")
	up := proxytest.New(t)
	addr := freeAddr(t)
	upURL, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	upURL.User = url.UserPassword("proxyuser", "s3cret-proxy-password")
	env := append(cleanEnv(t.TempDir()), h.Env()...)
	env = append(env,
		"GOPROXY="+upURL.String(), "GOSUMDB=off", "GOPRIVATE=example.test",
		"MODVAULT_LISTEN="+addr, "MODVAULT_LOG_LEVEL=debug",
		"MODVAULT_DIRECT_TOKENS=example.test=s3cret-token-one,127.0.0.1:9=bot:s3cret-token-two",
	)
	p := start(t, env)
	p.waitReady(t)
	base := "http://" + addr
	var bodies []string
	for _, path := range []string{
		"/example.test/secret.git/@v/list",
		"/example.test/secret.git/@v/v1.0.0.zip",
		"/example.test/secret.git/@v/v1.9.9.info",
		"/example.test/missing.git/@latest",
		"/example.com/public/@v/list",
	} {
		status, body := get(t, base+path)
		t.Logf("%s: %d %s", path, status, body)
		bodies = append(bodies, string(body))
	}
	if !strings.HasPrefix(bodies[0], "v1.0.0") {
		t.Errorf("list of the private module: %q", bodies[0])
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, time.Minute)
	all := p.logText() + strings.Join(bodies, "\n")
	for _, secret := range []string{"s3cret-token-one", "s3cret-token-two", "s3cret-proxy-password"} {
		if strings.Contains(all, secret) {
			t.Errorf("%s appears in the log or an answer:\n%s", secret, all)
		}
	}
	if !strings.Contains(p.logText(), "credentials_for") {
		t.Errorf("the log does not say which hosts have credentials:\n%s", p.logText())
	}
}

// TestCredentialsLeaveNoTrace: modvault writes the version control tokens
// into files under TMPDIR for the go command and git. They are removed when
// modvault stops on SIGTERM or SIGINT, and when it fails to start, on a bad
// setting (exit 2) or on one found bad while starting (exit 1): nothing of
// a token stays on disk.
func TestCredentialsLeaveNoTrace(t *testing.T) {
	const token = "s3cret-bin-token-8a2d41"
	env := func(tmp string) []string {
		return append(cleanEnv(t.TempDir()), "TMPDIR="+tmp, "GOPROXY=off", "GOSUMDB=off", "GOPRIVATE=example.test",
			"MODVAULT_DIRECT_TOKENS=example.test="+token+",other.test=bot:"+token+"-two", "MODVAULT_LISTEN="+freeAddr(t))
	}
	for _, tt := range []struct {
		name  string
		args  []string
		code  int
		words string
	}{
		{"malformed checksum database key", []string{"--gosumdb=sum.example+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="}, 2, "--gosumdb"},
		{"missing users file", []string{"--auth-users=" + filepath.Join(t.TempDir(), "htpasswd")}, 1, "access control"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = env(tmp)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.words) {
				t.Errorf("exit code %d, want %d, with a message naming %s:\n%s", code, tt.code, tt.words, out)
			}
			if left := holding(t, tmp, token); len(left) > 0 {
				t.Errorf("after a failed start, the token is on disk in %q", left)
			}
		})
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			p := start(t, env(tmp))
			p.waitReady(t)
			// Without the files written, this test proves nothing.
			if len(holding(t, tmp, token)) == 0 {
				t.Fatalf("no file under TMPDIR holds the token while modvault runs")
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t, time.Minute); code != 0 {
				t.Errorf("exit code after %v: %d, want 0", sig, code)
			}
			if left := holding(t, tmp, token); len(left) > 0 {
				t.Errorf("after %v, the token is on disk in %q", sig, left)
			}
			if dirs, _ := filepath.Glob(filepath.Join(tmp, "modvault-credentials-*")); len(dirs) > 0 {
				t.Errorf("after %v, %q remain", sig, dirs)
			}
		})
	}
}

// holding returns the files under dir whose content holds secret.
func holding(t *testing.T, dir, secret string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(secret)) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestConfigCommand: "modvault config" prints every setting with its
// origin and no secret, and its output is itself a valid config file.
func TestConfigCommand(t *testing.T) {
	env := append(cleanEnv(t.TempDir()),
		"GOPROXY=https://ci:s3cret-pw@proxy.corp.test,direct", "GOSUMDB=off", "GOPRIVATE=git.corp.test",
		"MODVAULT_DIRECT_TOKENS=git.corp.test=s3cret-token", "MODVAULT_LOCK=redis://:s3cret-redis@127.0.0.1:6379/0")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("modvault %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("config", "--list-ttl=3m")
	if strings.Contains(out, "s3cret") {
		t.Errorf("modvault config shows a secret:\n%s", out)
	}
	for _, want := range []string{
		`list-ttl = "3m0s" # flag`,
		`goprivate = "git.corp.test" # env GOPRIVATE`,
		`gonoproxy = "git.corp.test" # goprivate (env GOPRIVATE)`,
		`direct-tokens = "git.corp.test=***" # env MODVAULT_DIRECT_TOKENS`,
		`listen = ":3000" # default`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("modvault config lacks %q:\n%s", want, out)
		}
	}
	// The output works as a config file.
	file := filepath.Join(t.TempDir(), "modvault.toml")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	env = cleanEnv(t.TempDir())
	again := run("config", "--config", file)
	if !strings.Contains(again, `list-ttl = "3m0s" # config `+file) {
		t.Errorf("modvault config --config (its own output):\n%s", again)
	}
}

// TestConfigCommandPrintsPolicy: "modvault config" prints the policy's
// settings and its rules as [[policy-rule]] tables, and its output read
// back gives the same rules.
func TestConfigCommandPrintsPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.toml")
	content := "license-allow = [\"MIT\", \"Apache-2.0\"]\nmin-age = \"72h\"\n\n" +
		"[[policy-rule]]\nmodule = \"github.com/acme/parser\"\nversions = \"<v1.6.0\"\naction = \"deny\"\nreason = \"CVE-2099-1234 in the tokenizer\"\n\n" +
		"[[policy-rule]]\nmodule = \"git.corp.example\"\naction = \"allow\"\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(file string) string {
		t.Helper()
		cmd := exec.Command(binary, "config", "--config", file, "--vuln-action", "deny")
		cmd.Env = append(cleanEnv(t.TempDir()), "GOPROXY=off", "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("modvault config: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run(file)
	for _, want := range []string{
		`license-allow = "MIT,Apache-2.0" # config ` + file,
		`min-age = "72h0m0s" # config ` + file,
		`vuln-action = "deny" # flag`,
		`policy-mode = "enforce" # default`,
		"[[policy-rule]] # config " + file + ": deny github.com/acme/parser <v1.6.0\nmodule = \"github.com/acme/parser\"\nversions = \"<v1.6.0\"\naction = \"deny\"\nreason = \"CVE-2099-1234 in the tokenizer\"\n",
		"[[policy-rule]] # config " + file + ": allow git.corp.example\nmodule = \"git.corp.example\"\naction = \"allow\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("modvault config lacks %q:\n%s", want, out)
		}
	}
	again := filepath.Join(t.TempDir(), "again.toml")
	if err := os.WriteFile(again, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if out2 := run(again); strings.Count(out2, "[[policy-rule]]") != 2 || !strings.Contains(out2, `reason = "CVE-2099-1234 in the tokenizer"`) {
		t.Errorf("modvault config of its own output:\n%s", out2)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit,
// with ExecStart pointed at the binary built for the tests.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is needed (apt-get install systemd): %v", err)
	}
	unit, err := os.ReadFile("../../deploy/systemd/modvault.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/modvault serve") {
		t.Fatal("the unit's ExecStart changed: update this test")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "modvault.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/modvault ", binary+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestVersionHasBuildInformation builds modvault as a release is built
// (version stamped with -ldflags, VCS information on) and checks that
// "modvault version" names the version, the commit and the Go version.
func TestVersionHasBuildInformation(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD (the test runs in a clone): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "modvault")
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"modvault v9.8.7-test ", " commit " + strings.TrimSpace(string(head)), " " + runtime.Version() + " "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("modvault version printed %q, want %q in it", out, want)
		}
	}
}
