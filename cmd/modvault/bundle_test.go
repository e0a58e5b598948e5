package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
