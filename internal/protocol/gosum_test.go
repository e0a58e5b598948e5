package protocol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

func TestReadGoSum(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "go.sum")
	os.WriteFile(good, []byte("example.com/a v1.0.0 h1:zip=\nexample.com/a v1.0.0/go.mod h1:mod=\n\n"), 0o644)
	lines, err := ReadGoSum(good)
	if err != nil {
		t.Fatal(err)
	}
	mv := module.Version{Path: "example.com/a", Version: "v1.0.0"}
	want := []SumLine{{mv, Zip, "h1:zip="}, {mv, Mod, "h1:mod="}}
	if len(lines) != 2 || lines[0] != want[0] || lines[1] != want[1] {
		t.Errorf("ReadGoSum = %+v, want %+v", lines, want)
	}
	for content, msg := range map[string]string{
		"example.com/a v1.0.0\n":          "go.sum:1: malformed go.sum line",
		"\nexample.com/A! v1.0.0 h1:x=\n": "go.sum:2:",
		"example.com/a master h1:x=\n":    "go.sum:1:",
	} {
		os.WriteFile(good, []byte(content), 0o644)
		if _, err := ReadGoSum(good); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ReadGoSum(%q) = %v, want an error containing %q", content, err, msg)
		}
	}
}
