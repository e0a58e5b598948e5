package prefetch_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/prefetch"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func mods() []proxytest.Module {
	return []proxytest.Module{
		{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/a\n\ngo 1.22\n\nrequire example.com/b v1.0.0\n", "a.go": "package a\n"}},
		{Path: "example.com/b", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/b\n\ngo 1.22\n", "b.go": "package b\n"}},
	}
}

// TestGoSumAndVersions: a go.sum fetches exactly its lines; module@version
// its three files; what fails is listed, the rest is fetched.
func TestGoSumAndVersions(t *testing.T) {
	up := proxytest.New(t, mods()...)
	dir := t.TempDir()
	sum := "example.com/a v1.0.0/go.mod " + up.ModHash("example.com/a", "v1.0.0") + "\n"
	os.WriteFile(filepath.Join(dir, "go.sum"), []byte(sum), 0o666)
	var progress bytes.Buffer
	res, err := prefetch.Run(context.Background(), []string{filepath.Join(dir, "go.sum"), "example.com/b@v1.0.0", "example.com/missing@v1.0.0"},
		prefetch.Options{Proxy: up.URL, Concurrency: 3, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 4 {
		t.Errorf("fetched %d files, want 4 (a's .mod; b's .info, .mod, .zip)", res.Fetched)
	}
	if len(res.Failures) != 3 || !strings.HasPrefix(res.Failures[0].What, "example.com/missing@v1.0.0") {
		t.Errorf("failures %v, want the 3 files of example.com/missing@v1.0.0", res.Failures)
	}
	if n := up.Requests("/example.com/a/@v/v1.0.0.zip"); n != 0 {
		t.Errorf("a's zip fetched %d times; go.sum lists only its go.mod", n)
	}
	if !strings.Contains(progress.String(), "example.com/missing@v1.0.0.zip FAILED") {
		t.Errorf("progress lines do not report the failure:\n%s", progress.String())
	}
}

// TestGoModGraph: a go.mod is resolved by the go command through the
// proxy, and every module of its graph is fetched.
func TestGoModGraph(t *testing.T) {
	up := proxytest.New(t, mods()...)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n\nrequire example.com/a v1.0.0\n"), 0o666)
	env := proxytest.NewGo(t, up.URL, up.GOSUMDB()+" "+up.URL+"/sumdb/"+up.SumDBName).Env
	res, err := prefetch.Run(context.Background(), []string{filepath.Join(dir, "go.mod")}, prefetch.Options{Proxy: up.URL, Concurrency: 2, Env: env})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	for _, p := range []string{"/example.com/a/@v/v1.0.0.zip", "/example.com/b/@v/v1.0.0.zip", "/example.com/b/@v/v1.0.0.mod"} {
		if up.Requests(p) == 0 {
			t.Errorf("%s was not fetched", p)
		}
	}
}
