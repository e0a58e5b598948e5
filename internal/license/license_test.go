package license_test

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// text returns a license text from testdata (licensecheck's own test
// inputs for these licenses).
func text(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", id+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type memFile struct {
	path string
	data []byte
}

func (f memFile) Path() string                 { return f.path }
func (f memFile) Lstat() (fs.FileInfo, error)  { return fileInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type fileInfo memFile

func (fi fileInfo) Name() string       { return filepath.Base(fi.path) }
func (fi fileInfo) Size() int64        { return int64(len(fi.data)) }
func (fi fileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return nil }

// moduleZip writes the module zip of mv with files (and a go.mod) made by
// golang.org/x/mod/zip, as the go command and proxies make them, and
// returns its path.
func moduleZip(t *testing.T, mv module.Version, files map[string]string) string {
	t.Helper()
	mf := []modzip.File{memFile{"go.mod", []byte("module " + mv.Path + "\n\ngo 1.22\n")}}
	for name, data := range files {
		mf = append(mf, memFile{name, []byte(data)})
	}
	p := filepath.Join(t.TempDir(), "m.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.Create(f, mv, mf); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetect(t *testing.T) {
	mit, apache, bsd, agpl := text(t, "MIT"), text(t, "Apache-2.0"), text(t, "BSD-3-Clause"), text(t, "AGPL-3.0")
	prose := strings.Repeat("This module was written over many weekends and is maintained by volunteers who like it. ", 40)
	permissive := []string{"MIT", "Apache-2.0", "BSD-3-Clause"}
	for _, tc := range []struct {
		name   string
		files  map[string]string
		want   []string // path: types
		ok     bool     // allowed under MIT, Apache-2.0, BSD-3-Clause
		reason string   // part of the reason when not
	}{
		{"MIT", map[string]string{"LICENSE": mit}, []string{"LICENSE: MIT"}, true, ""},
		{"Apache-2.0", map[string]string{"LICENSE.txt": apache}, []string{"LICENSE.txt: Apache-2.0"}, true, ""},
		{"BSD-3-Clause, name in another case", map[string]string{"license.md": bsd}, []string{"license.md: BSD-3-Clause"}, true, ""},
		{"AGPL-3.0", map[string]string{"COPYING": agpl}, []string{"COPYING: AGPL-3.0"}, false, "license AGPL-3.0 (COPYING) not allowed"},
		{"dual license in one file", map[string]string{"LICENSE": mit + "\n\n" + apache}, []string{"LICENSE: Apache-2.0 MIT"}, true, ""},
		{"dual license in two files", map[string]string{"LICENSE-MIT": mit, "LICENSE-APACHE": apache}, []string{"LICENSE-APACHE: Apache-2.0", "LICENSE-MIT: MIT"}, true, ""},
		{"nonsense", map[string]string{"LICENSE": "You may do whatever the moon allows on Tuesdays.\n"}, []string{"LICENSE: UNKNOWN"}, false, "UNKNOWN"},
		{"license text drowned in prose", map[string]string{"LICENSE": mit + prose}, []string{"LICENSE: UNKNOWN"}, false, "UNKNOWN"},
		{"none", map[string]string{"README.md": "# m\n" + mit}, nil, false, "no license file"},
		{"only in a subdirectory", map[string]string{"sub/LICENSE": mit}, []string{"sub/LICENSE: MIT"}, false, "no license file at the module root"},
		{"AGPL in a subdirectory", map[string]string{"LICENSE": mit, "third_party/x/COPYING": agpl}, []string{"LICENSE: MIT", "third_party/x/COPYING: AGPL-3.0"}, false, "AGPL-3.0 (third_party/x/COPYING)"},
		{"vendored license skipped, package vendor counted", map[string]string{"LICENSE": mit, "vendor/x/LICENSE": agpl, "vendor/LICENSE": bsd}, []string{"LICENSE: MIT", "vendor/LICENSE: BSD-3-Clause"}, true, ""},
		{"not a license file name", map[string]string{"LICENSE": mit, "LICENSES/AGPL.txt": agpl, "docs/license-notes.txt": agpl}, []string{"LICENSE: MIT"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
			zipPath := moduleZip(t, mv, tc.files)
			found, err := license.DetectFile(zipPath, mv)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range found {
				got = append(got, l.Path+": "+strings.Join(l.Types, " "))
				if l.Types[0] != license.Unknown && l.Coverage < 75 {
					t.Errorf("%s: %v with coverage %.1f%%, below the threshold", l.Path, l.Types, l.Coverage)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Detect = %q, want %q", got, tc.want)
			}
			// Detect on an open zip answers the same.
			zr, err := zip.OpenReader(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			if again, err := license.Detect(&zr.Reader, mv); err != nil || !slices.EqualFunc(again, found, func(a, b license.License) bool {
				return a.Path == b.Path && slices.Equal(a.Types, b.Types)
			}) {
				t.Errorf("Detect(*zip.Reader) = %v, %v; DetectFile gave %v", again, err, found)
			}
			ok, reason := license.Allowed(found, permissive)
			if ok != tc.ok || (!ok && !strings.Contains(reason, tc.reason)) || (ok && reason != "") {
				t.Errorf("Allowed(%v) = %v, %q; want %v, %q", permissive, ok, reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	lic := func(path string, types ...string) license.License { return license.License{Path: path, Types: types} }
	for _, tc := range []struct {
		name   string
		found  []license.License
		allow  []string
		ok     bool
		reason string
	}{
		{"allowed", []license.License{lic("LICENSE", "MIT")}, []string{"MIT"}, true, ""},
		{"SPDX IDs ignore case", []license.License{lic("LICENSE", "Apache-2.0")}, []string{"apache-2.0"}, true, ""},
		{"dual license needs both", []license.License{lic("LICENSE", "Apache-2.0", "MIT")}, []string{"MIT"}, false, "license Apache-2.0 (LICENSE) not allowed"},
		{"UNKNOWN is never allowed", []license.License{lic("LICENSE", "UNKNOWN")}, []string{"MIT", "UNKNOWN"}, false, "license of LICENSE not recognized (UNKNOWN)"},
		{"empty allow-list", []license.License{lic("LICENSE", "MIT")}, nil, false, "license MIT (LICENSE) not allowed"},
		{"notices are skipped", []license.License{lic("LICENSE", "CC-Notice", "MIT")}, []string{"MIT"}, true, ""},
		{"only notices", []license.License{lic("LICENSE", "GooglePatentClause")}, []string{"MIT"}, false, "no license, only notices (UNKNOWN)"},
		{"no license", nil, []string{"MIT"}, false, "no license file at the module root (UNKNOWN)"},
	} {
		ok, reason := license.Allowed(tc.found, tc.allow)
		if ok != tc.ok || reason != tc.reason {
			t.Errorf("%s: Allowed = %v, %q; want %v, %q", tc.name, ok, reason, tc.ok, tc.reason)
		}
	}
}

func TestIDs(t *testing.T) {
	found := []license.License{
		{Path: "LICENSE", Types: []string{"MIT"}},
		{Path: "sub/LICENSE", Types: []string{"Apache-2.0", "MIT"}},
	}
	if got, want := license.IDs(found), []string{"Apache-2.0", "MIT"}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
}
