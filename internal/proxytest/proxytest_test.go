package proxytest_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// TestZipsAreValidModuleZips checks that the fake upstream's zips, small and
// large, pass the same checks the go command applies.
func TestZipsAreValidModuleZips(t *testing.T) {
	mods := []proxytest.Module{
		{Path: "example.com/small", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/small\n", "a.go": "package a\n"}},
		{Path: "example.com/big", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/big\n"}, Large: 4 << 20},
	}
	up := proxytest.New(t, mods...)
	for _, m := range mods {
		f := filepath.Join(t.TempDir(), "m.zip")
		if err := os.WriteFile(f, up.ZipBytes(m.Path, m.Version), 0o666); err != nil {
			t.Fatal(err)
		}
		cf, err := modzip.CheckZip(module.Version{Path: m.Path, Version: m.Version}, f)
		if err != nil {
			t.Errorf("%s@%s: %v", m.Path, m.Version, err)
		}
		if want := len(m.Files) + min(int(m.Large), 1); len(cf.Valid) != want {
			t.Errorf("%s@%s: zip holds %d valid files %q, want %d", m.Path, m.Version, len(cf.Valid), cf.Valid, want)
		}
	}
}
