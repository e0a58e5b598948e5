package proxytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Go runs the real go command in a fresh module with an empty module cache,
// against one proxy and one checksum database, and nothing else: no
// "direct", no user configuration.
type Go struct {
	t testing.TB
	// Dir is the main module's directory.
	Dir string
	// Env is the environment the go command gets.
	Env []string
}

// NewGo returns a go command that uses GOPROXY=proxy and GOSUMDB=gosumdb
// ("off" to disable verification) in a new module "example.com/main".
func NewGo(t testing.TB, proxy, gosumdb string) *Go {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "main")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/main\n\ngo 1.22\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	g := &Go{t: t, Dir: dir}
	g.Env = append(filteredEnviron(),
		"GOPROXY="+proxy,
		"GOSUMDB="+gosumdb,
		"GOPATH="+filepath.Join(root, "gopath"),
		"GOMODCACHE="+filepath.Join(root, "modcache"),
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"GOENV=off",
		"GOTELEMETRY=off",
		"GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GONOSUMCHECK=", "GOINSECURE=",
		"GOWORK=off",
		"CGO_ENABLED=0",
	)
	t.Cleanup(func() {
		// The module cache is read-only; make it removable.
		_ = exec.Command("chmod", "-R", "u+w", root).Run()
	})
	return g
}

// filteredEnviron returns the environment without the go command's
// settings, so the test's own choices are the only ones.
func filteredEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GO") && !strings.HasPrefix(kv, "GOCACHE=") && !strings.HasPrefix(kv, "GOROOT=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Run runs "go args..." in Dir and returns its combined output.
func (g *Go) Run(args ...string) (string, error) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = g.Dir
	cmd.Env = g.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), err
}

// Must runs "go args..." and fails the test if it fails.
func (g *Go) Must(args ...string) string {
	g.t.Helper()
	out, err := g.Run(args...)
	if err != nil {
		g.t.Fatal(err)
	}
	return out
}

// WriteFile writes a file of the main module.
func (g *Go) WriteFile(name, content string) {
	g.t.Helper()
	p := filepath.Join(g.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		g.t.Fatal(err)
	}
}

// ErrNonLoopback is returned for dials that [BlockNonLoopback] refuses.
var ErrNonLoopback = errors.New("proxytest: outbound connection to a non-loopback address blocked in tests")

// BlockNonLoopback makes http.DefaultTransport (and every transport cloned
// from it later) refuse connections to anything but loopback addresses, so
// a unit test can never reach the network by accident. Call it from TestMain.
func BlockNonLoopback() {
	d := &net.Dialer{
		Timeout: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%w: %s", ErrNonLoopback, address)
			}
			return nil
		},
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.Proxy = nil
	http.DefaultTransport = t
}
