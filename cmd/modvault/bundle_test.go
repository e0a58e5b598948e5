package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
)

// TestKeygenExportImport: keygen writes a key pair; export --sign writes a
// zstd bundle; import --trust of the right key stores it, of another key
// refuses it and stores nothing.
func TestKeygenExportImport(t *testing.T) {
	work := t.TempDir()
	src := t.TempDir()
	vdir := filepath.Join(src, "example.com", "private", "@v")
	if err := os.MkdirAll(vdir, 0o777); err != nil {
		t.Fatal(err)
	}
	const mod = "module example.com/private\n"
	os.WriteFile(filepath.Join(vdir, "v1.0.0.info"), []byte(`{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`), 0o666)
	os.WriteFile(filepath.Join(vdir, "v1.0.0.mod"), []byte(mod), 0o666)
	os.WriteFile(filepath.Join(vdir, "v1.0.0.zip"), privateZip(t, mod), 0o666)
	mv := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Dir = work
		cmd.Env = append(cleanEnv(t.TempDir()), "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("modvault %v: %v\n%s", args, err, out)
		}
		return string(out), 0
	}
	for _, name := range []string{"site", "other"} {
		if out, code := mv("keygen", name); code != 0 {
			t.Fatalf("keygen %s: exit %d\n%s", name, code, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(work, "site.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("site.key: %v, %v; want mode 0600", fi, err)
	}
	if out, code := mv("export", "--storage", "file://"+filepath.ToSlash(src), "--output", "b.tar.zst", "--sign", "site.key"); code != 0 || !strings.Contains(out, "1 versions") {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	dst := t.TempDir()
	out, code := mv("import", "--storage", "file://"+filepath.ToSlash(dst), "--trust", "other.pub", "b.tar.zst")
	if code != 1 || !strings.Contains(out, "manifest") || !strings.Contains(out, "nothing was stored") {
		t.Errorf("import trusting another key: exit %d (want 1)\n%s", code, out)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Errorf("a refused import left %d entries in the store", len(entries))
	}
	if out, code := mv("import", "--storage", "file://"+filepath.ToSlash(dst), "--trust", "site.pub", "b.tar.zst"); code != 0 || !strings.Contains(out, "1 versions; 3 objects stored") {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	got, err := os.ReadFile(filepath.Join(dst, "example.com", "private", "@v", "v1.0.0.mod"))
	if err != nil || string(got) != mod {
		t.Errorf("imported .mod: %q, %v", got, err)
	}
	if out, code := mv("import", "--storage", "file://"+filepath.ToSlash(dst), "--trust", "site.pub", "b.tar.zst"); code != 0 || !strings.Contains(out, "0 objects stored, 3 already there") {
		t.Errorf("second import: exit %d\n%s", code, out)
	}
}

// TestPrefetchExitCode: prefetch prints a progress line per file when not
// on a terminal, a summary, and exits 1 listing what failed.
func TestPrefetchExitCode(t *testing.T) {
	up := proxytest.New(t, proxytest.Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/a\n"}})
	cmd := exec.Command(binary, "prefetch", "--proxy", up.URL, "--concurrency", "2", "example.com/a@v1.0.0", "example.com/missing@v1.0.0")
	cmd.Env = cleanEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("prefetch with a missing module: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{"example.com/a@v1.0.0.zip ok", "prefetched 3 files; 3 failed", "FAILED example.com/missing@v1.0.0.zip"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
