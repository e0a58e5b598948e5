package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyReportsAZipWithAnotherGoMod: "modvault verify" checks a stored
// version as a fill does. A private version (no checksum database record)
// whose stored zip holds a go.mod other than its .mod, which a fill would
// refuse, is reported (exit 1); --quarantine moves it aside, after which
// the store is clean.
func TestVerifyReportsAZipWithAnotherGoMod(t *testing.T) {
	dir := t.TempDir()
	storage := "file://" + filepath.ToSlash(dir)
	vdir := filepath.Join(dir, "example.com", "private", "@v")
	if err := os.MkdirAll(vdir, 0o777); err != nil {
		t.Fatal(err)
	}
	const mod = "module example.com/private\n"
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write("v1.0.0.info", []byte(`{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`))
	write("v1.0.0.mod", []byte(mod))
	write("v1.0.0.zip", privateZip(t, mod))
	verify := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"verify", "--storage", storage}, args...)...)
		cmd.Env = append(cleanEnv(t.TempDir()), "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("modvault verify: %v\n%s", err, out)
		}
		return string(out), 0
	}

	// The version as a fill stores it: clean.
	if out, code := verify(); code != 0 || !strings.Contains(out, "1 versions, 1 zips checked") || !strings.Contains(out, "0 problems") {
		t.Fatalf("verify of a valid version: exit %d\n%s", code, out)
	}

	write("v1.0.0.zip", privateZip(t, mod+"\nrequire example.com/evil v1.0.0\n"))
	const want = "example.com/private@v1.0.0: changed: the zip's go.mod differs from the .mod"
	if out, code := verify(); code != 1 || !strings.Contains(out, want) {
		t.Errorf("verify of a zip with another go.mod: exit %d (want 1)\n%s\nwant %q", code, out, want)
	}
	if out, code := verify("--quarantine"); code != 1 || !strings.Contains(out, "3 objects quarantined") {
		t.Errorf("verify --quarantine: exit %d (want 1, 3 objects quarantined)\n%s", code, out)
	}
	for _, name := range []string{"v1.0.0.info", "v1.0.0.mod", "v1.0.0.zip"} {
		if _, err := os.Stat(filepath.Join(vdir, name)); err == nil {
			t.Errorf("%s is still in place after --quarantine", name)
		}
	}
	if out, code := verify(); code != 0 || !strings.Contains(out, "0 problems") {
		t.Errorf("verify after --quarantine: exit %d\n%s", code, out)
	}
}

// privateZip returns a module zip of example.com/private@v1.0.0 whose go.mod
// is gomod.
func privateZip(t *testing.T, gomod string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct{ name, data string }{
		{"go.mod", gomod},
		{"p.go", "package private\n"},
	} {
		w, err := zw.Create("example.com/private@v1.0.0/" + f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
