package proxytest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TreeFiles returns every regular file under dir (a file store, a
// temporary directory), as slash-separated paths relative to dir, mapped to
// their contents. It sees what a store's List would not: temporary and side
// files.
func TreeFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
