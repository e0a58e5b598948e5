package modcheck_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

var mv = module.Version{Path: "example.com/m", Version: "v1.0.0"}

const goodMod = "module example.com/m\n\ngo 1.22\n"

// checkInvalid fails unless err is a content error: an *modcheck.Error
// that matches fault.ErrBadUpstream and has its Kind.
func checkInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var ce *modcheck.Error
	if !errors.As(err, &ce) || !errors.Is(err, fault.ErrBadUpstream) || fault.Of(err) != fault.BadUpstream {
		t.Errorf("%s = %v, want a *modcheck.Error of kind BadUpstream", what, err)
	}
}

func TestInfo(t *testing.T) {
	good := []byte(`{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`)
	info, err := modcheck.CheckInfo(mv, good)
	if err != nil || info.Version != "v1.0.0" || info.Time.Year() != 2024 {
		t.Errorf("CheckInfo(good) = %+v, %v", info, err)
	}
	for name, body := range map[string]string{
		"not JSON":                `Version: v1.0.0`,
		"another version":         `{"Version":"v1.0.1"}`,
		"a non-canonical version": `{"Version":"v1.0"}`,
		"no version":              `{"Time":"2024-01-02T03:04:05Z"}`,
		"a wrong major version":   `{"Version":"v2.0.0"}`,
	} {
		_, err := modcheck.CheckInfo(mv, []byte(body))
		checkInvalid(t, "CheckInfo("+name+")", err)
	}
	// A query's answer may name any canonical version of the module.
	if info, err := modcheck.ParseInfo(mv.Path, []byte(`{"Version":"v1.3.0-rc.1"}`)); err != nil || info.Version != "v1.3.0-rc.1" {
		t.Errorf("ParseInfo(a pre-release) = %+v, %v", info, err)
	}
	_, err = modcheck.ParseInfo("example.com/m/v2", []byte(`{"Version":"v1.0.0"}`))
	checkInvalid(t, "ParseInfo(v1 of a /v2 module)", err)
}

func TestMod(t *testing.T) {
	if err := modcheck.CheckMod(mv, []byte(goodMod)); err != nil {
		t.Errorf("CheckMod(good) = %v", err)
	}
	for name, mod := range map[string]string{
		"another module":    "module example.com/other\n",
		"no module line":    "go 1.22\n",
		"a module prefix":   "module example.com\n",
		"not a go.mod file": "<html></html>",
	} {
		checkInvalid(t, "CheckMod("+name+")", modcheck.CheckMod(mv, []byte(mod)))
	}
}

// writeZip writes a zip of the given entries (name, content, in order),
// stored uncompressed, and returns its path.
func writeZip(t *testing.T, entries ...string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(entries); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: entries[i], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(entries[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, buf.Bytes())
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(p, b, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestZip(t *testing.T) {
	pre := "example.com/m@v1.0.0/"
	good := writeZip(t, pre+"go.mod", goodMod, pre+"m.go", "package m\n")
	if err := modcheck.CheckZip(mv, good, []byte(goodMod)); err != nil {
		t.Errorf("CheckZip(good) = %v", err)
	}
	// Without a go.mod, the .mod is the one the go command synthesizes.
	legacy := writeZip(t, pre+"m.go", "package m\n")
	if err := modcheck.CheckZip(mv, legacy, []byte("module example.com/m\n")); err != nil {
		t.Errorf("CheckZip(no go.mod, synthesized .mod) = %v", err)
	}
	// An +incompatible version's .mod is synthesized whatever the zip holds.
	inc := module.Version{Path: "example.com/m", Version: "v2.0.0+incompatible"}
	incZip := writeZip(t, "example.com/m@v2.0.0+incompatible/go.mod", "module example.com/m/v2\n", "example.com/m@v2.0.0+incompatible/m.go", "package m\n")
	if err := modcheck.CheckZip(inc, incZip, []byte("module example.com/m\n")); err != nil {
		t.Errorf("CheckZip(+incompatible) = %v", err)
	}

	long := pre + "m.go"
	corrupt, _ := os.ReadFile(writeZip(t, pre+"go.mod", goodMod, long, "package m\n\nconst X = \""+strings.Repeat("x", 100)+"\"\n"))
	corrupt[bytes.Index(corrupt, []byte("xxxxxxxxxx"))] = 'y' // the entry's CRC-32 no longer matches
	for name, zipFile := range map[string]string{
		"go.mod differs from the .mod":        writeZip(t, pre+"go.mod", goodMod+"\nrequire example.com/evil v1.0.0\n", pre+"m.go", "package m\n"),
		"no go.mod, and a real .mod":          legacy,
		"entries lack the version prefix":     writeZip(t, "go.mod", goodMod, "m.go", "package m\n"),
		"entries of another version":          writeZip(t, "example.com/m@v1.0.1/go.mod", goodMod),
		"case-colliding names":                writeZip(t, pre+"go.mod", goodMod, pre+"a.go", "package m\n", pre+"A.go", "package m\n"),
		"entry data corrupted (CRC mismatch)": writeFile(t, corrupt),
		"not a zip":                           writeFile(t, []byte("<html>not a zip</html>")),
	} {
		checkInvalid(t, "CheckZip("+name+")", modcheck.CheckZip(mv, zipFile, []byte(goodMod)))
		_, err := modcheck.CheckZipHash(mv, zipFile, []byte(goodMod))
		checkInvalid(t, "CheckZipHash("+name+")", err)
	}
	if err := modcheck.CheckZip(mv, filepath.Join(t.TempDir(), "none.zip"), []byte(goodMod)); err == nil || errors.Is(err, fault.ErrBadUpstream) {
		t.Errorf("CheckZip(missing file) = %v, want the caller's own failure, not invalid content", err)
	}
}

// TestHashes checks the hashes against the go command's definitions: a
// zip's hash is that of the directory it was made from, a .mod's that of
// Hash1's summary of the one file go.mod.
func TestHashes(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"go.mod": goodMod, "m.go": "package m\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := modzip.CreateFromDir(&buf, mv, dir); err != nil {
		t.Fatal(err)
	}
	zipFile := writeFile(t, buf.Bytes())
	want, err := dirhash.HashDir(dir, mv.String(), dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := modcheck.ZipHash(mv, zipFile); err != nil || got != want {
		t.Errorf("ZipHash = %s, %v; want %s", got, err, want)
	}
	// Hash1 as the go command defines it: the SHA-256 of the summary
	// "<hex SHA-256 of the file>  go.mod\n".
	sum := sha256.Sum256([]byte(goodMod))
	summary := sha256.Sum256(fmt.Appendf(nil, "%x  go.mod\n", sum))
	wantMod := "h1:" + base64.StdEncoding.EncodeToString(summary[:])
	if got, err := modcheck.ModHash([]byte(goodMod)); err != nil || got != wantMod {
		t.Errorf("ModHash = %s, %v; want %s", got, err, wantMod)
	}
	_, err = modcheck.ZipHash(mv, writeFile(t, []byte("not a zip")))
	checkInvalid(t, "ZipHash(not a zip)", err)
	if _, err := modcheck.ZipHash(mv, filepath.Join(t.TempDir(), "none.zip")); err == nil || errors.Is(err, fault.ErrBadUpstream) {
		t.Errorf("ZipHash(missing file) = %v, want the caller's own failure, not invalid content", err)
	}
}

// TestCheckZipHash checks that the one-pass check and hash agrees with
// dirhash.HashZip on a small zip and on one large enough to be read by
// several goroutines, and that a corrupt file in the large one (its CRC-32
// no longer matches) fails the check, whichever goroutine reads it.
func TestCheckZipHash(t *testing.T) {
	pre := "example.com/m@v1.0.0/"
	small := writeZip(t, pre+"go.mod", goodMod, pre+"b.go", "package m\n", pre+"a.go", "package m\n")
	entries := []string{pre + "go.mod", goodMod}
	for i := range 40 {
		// Distinct incompressible-looking content, 200 KB per file: 8 MB.
		var b strings.Builder
		for j := 0; b.Len() < 200_000; j++ {
			fmt.Fprintf(&b, "// %d %x\n", i, sha256.Sum256(fmt.Appendf(nil, "%d/%d", i, j)))
		}
		entries = append(entries, fmt.Sprintf("%sf%02d.go", pre, 39-i), b.String())
	}
	large := writeZip(t, entries...)
	for name, zipFile := range map[string]string{"small": small, "large": large} {
		want, err := dirhash.HashZip(zipFile, dirhash.Hash1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := modcheck.CheckZipHash(mv, zipFile, []byte(goodMod))
		if err != nil || got != want {
			t.Errorf("CheckZipHash(%s) = %s, %v; want %s", name, got, err, want)
		}
		if _, err := modcheck.CheckZipHash(mv, zipFile, []byte(goodMod+"// other\n")); err == nil {
			t.Errorf("CheckZipHash(%s) with a different .mod succeeded", name)
		}
	}
	b, err := os.ReadFile(large)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []float64{0.1, 0.5, 0.9} {
		corrupt := bytes.Clone(b)
		i := int(float64(len(corrupt)) * at)
		i += bytes.Index(corrupt[i:], []byte("\n// ")) + 8 // inside a line of a file
		corrupt[i] ^= 1
		_, err := modcheck.CheckZipHash(mv, writeFile(t, corrupt), []byte(goodMod))
		checkInvalid(t, fmt.Sprintf("CheckZipHash(large zip corrupted at %.0f%%)", at*100), err)
	}
}
