// Package testserver starts real servers for tests: MinIO (S3),
// fake-gcs-server (Google Cloud Storage), Azurite (Azure Blob Storage),
// Redis and PostgreSQL. Each runs as a child process listening on a free port of
// 127.0.0.1, keeps its data in a temporary directory of the test, is ready
// when its constructor returns, and is killed and reaped at the test's
// cleanup. A missing server binary fails the test with a message saying how
// to install it; nothing is skipped.
//
// Binaries are looked up in this order: the environment variable named
// MODVAULT_<NAME> (an explicit path, e.g. MODVAULT_MINIO), then PATH, then
// the directories where .ci/run installs them: $GOBIN and $GOPATH/bin
// (default $HOME/go/bin) for minio and fake-gcs-server,
// /opt/modvault-ci/node_modules/.bin for azurite-blob, and
// /usr/lib/postgresql/*/bin (Debian's packages) for PostgreSQL.
//
// The gocloud.dev/blob URL openers read credentials from the environment,
// so a test that opens a storage URL in its own process applies the
// server's Env with t.Setenv (see [SetEnv]); a test that starts modvault as
// a process appends Env to the process's environment.
package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to become ready. MinIO's
// first start on a loaded machine takes a few seconds; the margin is for CI.
const startTimeout = 2 * time.Minute

// binary describes a server executable and how to install it.
type binary struct {
	name string // executable name, e.g. "minio"
	env  string // environment variable with an explicit path
	// dirs returns further directories to look in, after PATH.
	dirs    func() []string
	install string // the command that installs it
}

// goBinDirs returns the directories go install writes to: $GOBIN, else
// the bin directory of each GOPATH entry.
func goBinDirs() []string {
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		return []string{gobin}
	}
	var dirs []string
	for _, p := range filepath.SplitList(build.Default.GOPATH) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return dirs
}

// find returns the path of the executable, or fails t saying how to install it.
func (b binary) find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(b.env); p != "" {
		if isExecutable(p) {
			return p
		}
		t.Fatalf("testserver: %s=%q is not an executable file; install %s with: %s", b.env, p, b.name, b.install)
	}
	if p, err := exec.LookPath(b.name); err == nil {
		return p
	}
	var looked []string
	if b.dirs != nil {
		for _, dir := range b.dirs() {
			p := filepath.Join(dir, b.name)
			if isExecutable(p) {
				return p
			}
			looked = append(looked, dir)
		}
	}
	t.Fatalf("testserver: %s not found (looked at $%s, PATH and %s); install it with: %s (.ci/run does)",
		b.name, b.env, strings.Join(looked, ", "), b.install)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// process is a running server.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited and been reaped
	err     error         // the result of Wait, set before done is closed
	stopped sync.Once
}

// start starts path with args and env (added to this process's
// environment) in dir, writing its output to a log file in dir, and
// registers its killing with t.Cleanup. Each setup function, if any, may
// change the command before it starts.
func start(t testing.TB, name, path string, args, env []string, dir string, setup ...func(*exec.Cmd)) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	ownProcessGroup(cmd)
	for _, f := range setup {
		f(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testserver: starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("testserver: last output of %s:\n%s", name, p.logTail())
		}
	})
	return p
}

// stop kills the process and everything it started, and waits until it
// has been reaped. It may be called more than once.
func (p *process) stop() {
	p.stopped.Do(func() {
		killProcessGroup(p.cmd)
		<-p.done
	})
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the process's output.
func (p *process) logTail() string {
	const max = 4 << 10
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// errPortInUse reports that a server could not listen on its port, which
// another program took after freePort found it free.
var errPortInUse = errors.New("port in use")

// waitReady calls ready until it succeeds. It returns errPortInUse if the
// process exited complaining that its address is taken, and another error
// if it exited otherwise or did not become ready in time.
func (p *process) waitReady(ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	delay := 10 * time.Millisecond
	var last error
	for {
		if p.exited() {
			tail := p.logTail()
			if lower := strings.ToLower(tail); strings.Contains(lower, "address already in use") || strings.Contains(lower, "eaddrinuse") {
				return errPortInUse
			}
			return fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", p.name, p.err, tail)
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %v; its output:\n%s", p.name, startTimeout, last, p.logTail())
		case <-p.done:
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// launch starts a server on a free port and waits until it is ready,
// trying again with other ports if the one it was given was taken
// meanwhile. args returns the command line for the given ports; setup is
// passed to start.
func launch(t testing.TB, name, path string, nports int, args func(ports []int) []string, env []string, dir string, ready func(ctx context.Context, ports []int) error, setup ...func(*exec.Cmd)) (*process, []int) {
	t.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		ports := make([]int, nports)
		for j := range ports {
			ports[j] = freePort(t)
		}
		p := start(t, name, path, args(ports), env, dir, setup...)
		err := p.waitReady(func(ctx context.Context) error { return ready(ctx, ports) })
		if err == nil {
			return p, ports
		}
		p.stop()
		if !errors.Is(err, errPortInUse) || i == attempts {
			t.Fatalf("testserver: %v", err)
		}
	}
}

// httpClient is the client for readiness checks and administration
// requests. It never uses a proxy.
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}

// httpGet fetches url and returns its status code and up to 4 KiB of body.
func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b), nil
}

// wantStatus returns a readiness check that succeeds when url answers
// with code.
func wantStatus(url string, code int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		got, body, err := httpGet(ctx, url)
		if err != nil {
			return err
		}
		if got != code {
			return fmt.Errorf("GET %s: %d %s", url, got, bytes.TrimSpace([]byte(body)))
		}
		return nil
	}
}

// SetEnv applies env, a list of KEY=VALUE strings as returned by the Env
// methods, to the test's process with t.Setenv, so that storage URL
// openers in this process reach the server. The variables are restored at
// the end of the test; tests that call it cannot run in parallel.
//
// Note that some gocloud.dev/blob drivers read their credentials once per
// process (azureblob on its first azblob:// URL, gcsblob on its first gs://
// URL): apply the Env before the first Open of such a URL.
func SetEnv(t testing.TB, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("testserver: environment entry %q is not KEY=VALUE", kv)
		}
		t.Setenv(k, v)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
