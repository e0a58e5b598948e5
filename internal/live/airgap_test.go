package live

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modvault/modvault/internal/bundle"
	"github.com/modvault/modvault/internal/prefetch"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
)

// TestLiveAirGap carries a real dependency graph (20+ modules) with the
// real checksum database's proofs across an air gap: a connected modvault
// is filled by prefetch of the go.mod, exports a bundle, an empty store
// imports it, and modvault serves it with no upstream: a fresh go command
// with GOSUMDB on and an empty module cache writes the same go.sum from an
// empty one, downloads everything and builds.
func TestLiveAirGap(t *testing.T) {
	ctx := context.Background()
	connected := t.TempDir()
	mv := startModvault(t, fileURL(connected), upstreamList)
	g := proxytest.NewGo(t, mv.URL, gosumdb)
	g.WriteFile("main.go", graphMain)
	run(t, g, append([]string{"get"}, graphDeps...)...)
	run(t, g, "mod", "tidy")
	gomod := readFile(t, filepath.Join(g.Dir, "go.mod"))
	gosum := readFile(t, filepath.Join(g.Dir, "go.sum"))
	if n := len(gosumVersions(t, gosum)); n < 20 {
		t.Fatalf("go.sum has %d module versions, want at least 20", n)
	}

	res, err := prefetch.Run(ctx, []string{filepath.Join(g.Dir, "go.mod")}, prefetch.Options{Proxy: mv.URL, Concurrency: 8, Env: g.Env})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("prefetch: %+v, %v", res, err)
	}
	t.Logf("prefetch: %d files", res.Fetched)

	file := filepath.Join(t.TempDir(), "bundle.tar.zst")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	stA, err := store.Open(ctx, fileURL(connected))
	if err != nil {
		t.Fatal(err)
	}
	defer stA.Close()
	exp, err := bundle.Export(ctx, stA, f, file, bundle.ExportOptions{SumDBs: sumdbs})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("export: %v", redact(err.Error()))
	}
	t.Logf("export: %+v", exp)
	mv.stop()

	isolated := t.TempDir()
	stB, err := store.Open(ctx, fileURL(isolated))
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	imp, err := bundle.Import(ctx, stB, in, bundle.ImportOptions{SumDBs: sumdbs, Name: file})
	if err != nil {
		t.Fatalf("import: %v", redact(err.Error()))
	}
	t.Logf("import: %d versions, %d objects", imp.Versions, imp.Stored)

	off := startModvault(t, fileURL(isolated), "off")
	g2 := proxytest.NewGo(t, off.URL, gosumdb)
	g2.WriteFile("main.go", graphMain)
	g2.WriteFile("go.mod", gomod)
	run(t, g2, "mod", "tidy")
	if got := readFile(t, filepath.Join(g2.Dir, "go.sum")); got != gosum {
		t.Errorf("go.sum written on the isolated side:\n%s\nwant, as on the connected side:\n%s", got, gosum)
	}
	run(t, g2, "mod", "download", "all")
	prog := filepath.Join(t.TempDir(), "prog")
	run(t, g2, "build", "-trimpath", "-o", prog, "./...")
	if out := runProgram(t, prog); out != programOutput {
		t.Errorf("the program printed %q, want %q", out, programOutput)
	}
}
