package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// modules is a small dependency graph with the protocol's corner cases:
// a /v2 module, an uppercase path, a pre-release with uppercase letters and
// an +incompatible version without go.mod.
func modules() []proxytest.Module {
	return []proxytest.Module{
		{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/a\n\ngo 1.22\n\nrequire example.com/b v1.1.0\n",
			"a.go":   "package a\n\nimport \"example.com/b\"\n\nfunc A() string { return \"a\" + b.B() }\n",
		}},
		{Path: "example.com/b", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/b\n\ngo 1.22\n",
			"b.go":   "package b\n\nfunc B() string { return \"b1.0\" }\n",
		}},
		{Path: "example.com/b", Version: "v1.1.0", Files: map[string]string{
			"go.mod": "module example.com/b\n\ngo 1.22\n",
			"b.go":   "package b\n\nfunc B() string { return \"b1.1\" }\n",
		}},
		{Path: "example.com/b/v2", Version: "v2.0.0", Files: map[string]string{
			"go.mod": "module example.com/b/v2\n\ngo 1.22\n",
			"b.go":   "package b\n\nfunc B2() string { return \"b2\" }\n",
		}},
		{Path: "example.com/Upper", Version: "v1.0.0-RC1", Files: map[string]string{
			"go.mod": "module example.com/Upper\n\ngo 1.22\n",
			"u.go":   "package upper\n\nconst U = \"U\"\n",
		}},
		{Path: "example.com/old", Version: "v2.0.0+incompatible", Files: map[string]string{
			"old.go": "package old\n\nconst Old = 2\n",
		}},
	}
}

const mainGo = `package main

import (
	"fmt"

	"example.com/a"
	b2 "example.com/b/v2"
	upper "example.com/Upper"
	"example.com/old"
)

func main() { fmt.Println(a.A(), b2.B2(), upper.U, old.Old) }
`

// startModvault runs modvault in front of upstreamURL with the given store
// and returns its base URL.
// The list TTL is short, so that answers cached from the upstream do not
// hide what the store alone answers once the upstream is gone.
//
// gosumdb is the checksum database (GOSUMDB syntax, name+key): modvault
// serves it under /sumdb/ and verifies every module against it before
// storing it.
func startModvault(t *testing.T, upstreamURL, gosumdb, storage string) string {
	t.Helper()
	dbs, err := config.ParseSumDBs(gosumdb)
	if err != nil || len(dbs) != 1 {
		t.Fatalf("GOSUMDB %q: %v", gosumdb, err)
	}
	cfg := config.Serve{
		Storage:         storage,
		Upstream:        upstreamURL,
		SumDB:           []string{dbs[0].Name},
		GOSUMDB:         dbs,
		ListTTL:         time.Millisecond,
		FillTimeout:     time.Minute,
		ShutdownTimeout: time.Second,
	}
	return startModvaultWith(t, cfg)
}

// startModvaultWith runs modvault with cfg (durations default to short
// test values) and returns its base URL.
func startModvaultWith(t *testing.T, cfg config.Serve) string {
	t.Helper()
	if cfg.ListTTL == 0 {
		cfg.ListTTL = time.Millisecond
	}
	if cfg.FillTimeout == 0 {
		cfg.FillTimeout = time.Minute
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = time.Second
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
	return srv.URL
}

func fileStore(t *testing.T) (dir, storageURL string) {
	dir = t.TempDir()
	return dir, (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// TestGoCommandThroughModvault builds a program whose dependencies come
// through modvault, with checksum verification on through modvault's
// /sumdb/ pass-through, then builds it again from an empty module cache
// after the upstream is gone.
func TestGoCommandThroughModvault(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)

	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.WriteFile("main.go", mainGo)
	g.Must("get", "example.com/a@latest", "example.com/b/v2@v2.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible")
	g.Must("build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
	if out := g.Must("run", "."); strings.TrimSpace(out) != "ab1.1 b2 U 2" {
		t.Errorf("program printed %q", out)
	}
	sum, err := os.ReadFile(filepath.Join(g.Dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"example.com/a v1.0.0 ", "example.com/b v1.1.0 ", "example.com/Upper v1.0.0-RC1 ", "example.com/old v2.0.0+incompatible "} {
		if !strings.Contains(string(sum), m) {
			t.Errorf("go.sum lacks %q:\n%s", m, sum)
		}
	}
	// The checksum database sees one lookup: modvault's own, verifying
	// before it stored the version; the go command's lookup, through
	// modvault's /sumdb/, is answered from what modvault stored.
	if n := up.Requests("/sumdb/" + up.SumDBName + "/lookup/example.com/a@v1.0.0"); n != 1 {
		t.Errorf("checksum database got %d lookups for example.com/a@v1.0.0, want 1 (modvault's; the go command's from the store)", n)
	}
	if out := g.Must("mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Errorf("go mod verify: %s", out)
	}
	gomod, err := os.ReadFile(filepath.Join(g.Dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}

	// The upstream goes away. A fresh machine with the same project still
	// downloads, verifies (go.sum) and builds everything from modvault.
	up.Close()
	off := proxytest.NewGo(t, mv, up.GOSUMDB())
	off.WriteFile("main.go", mainGo)
	off.WriteFile("go.mod", string(gomod))
	off.WriteFile("go.sum", string(sum))
	off.Must("mod", "download")
	off.Must("build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
	if out := off.Must("list", "-m", "-versions", "example.com/b"); strings.TrimSpace(out) != "example.com/b v1.1.0" {
		// Only v1.1.0 was ever fetched (v1.0.0 was never asked for), so
		// with the upstream gone only v1.1.0 is listed.
		t.Errorf("go list -m -versions offline = %q, want only the stored version", out)
	}
	if out := off.Must("list", "-m", "example.com/b@latest"); strings.TrimSpace(out) != "example.com/b v1.1.0" {
		t.Errorf("go list -m example.com/b@latest offline = %q", out)
	}
}

// TestStoreIsAGOPROXYTree checks that modvault's file store can be used by
// the go command directly as GOPROXY=file://…, for example as an offline
// bundle copied to another machine.
func TestStoreIsAGOPROXYTree(t *testing.T) {
	up := proxytest.New(t, modules()...)
	dir, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	for _, mod := range []string{"example.com/a@v1.0.0", "example.com/b@v1.1.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible"} {
		g.Must("mod", "download", "-json", mod)
	}
	up.Close()

	fileProxy := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	f := proxytest.NewGo(t, fileProxy, "off")
	out := f.Must("mod", "download", "-json", "example.com/a@v1.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible")
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for {
		var m struct{ Path, Version, Sum, Error string }
		if err := dec.Decode(&m); err != nil {
			break
		}
		n++
		if m.Error != "" {
			t.Errorf("%s@%s: %s", m.Path, m.Version, m.Error)
		}
		if want := up.ZipHash(m.Path, m.Version); m.Sum != want {
			t.Errorf("%s@%s: sum %s, want %s", m.Path, m.Version, m.Sum, want)
		}
	}
	if n != 3 {
		t.Errorf("go mod download printed %d modules, want 3:\n%s", n, out)
	}
}

// TestHealthz checks the liveness endpoint.
func TestHealthz(t *testing.T) {
	up := proxytest.New(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
	resp, err := http.Get(mv + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
}
