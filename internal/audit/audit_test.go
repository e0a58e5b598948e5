package audit_test

import (
	"archive/zip"
	"bytes"
	"context"
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
	"github.com/modvault/modvault/internal/audit"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func modules() []proxytest.Module {
	return []proxytest.Module{
		{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n"}},
		{Path: "example.com/a", Version: "v1.1.0", Files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n\nconst V = 1\n"}},
		{Path: "example.com/B", Version: "v0.1.0", Files: map[string]string{"go.mod": "module example.com/B\n", "b.go": "package b\n"}},
	}
}

// filled returns a file store that modvault filled, verifying against the
// fake upstream's checksum database, with the given files requested.
func filled(t *testing.T, up *proxytest.Upstream, paths ...string) (dir string, st *store.Store) {
	t.Helper()
	dir = t.TempDir()
	return dir, fill(t, up, dir, paths...)
}

// fill has modvault fill the file store in dir.
func fill(t *testing.T, up *proxytest.Upstream, dir string, paths ...string) *store.Store {
	t.Helper()
	return fillPrivate(t, up, dir, "", paths...)
}

// fillPrivate is fill with the modules that match the patterns private
// not verified (GONOSUMDB): the store keeps no checksum database record
// for them.
func fillPrivate(t *testing.T, up *proxytest.Upstream, dir, private string, paths ...string) *store.Store {
	t.Helper()
	storage := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	a, err := app.New(context.Background(), config.Serve{
		Storage: storage, Upstream: up.URL, GOSUMDB: []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}}, SumDB: []string{up.SumDBName}, GONOSUMDB: private,
		ListTTL: time.Minute, FillTimeout: time.Minute, ShutdownTimeout: time.Second,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	for _, p := range paths {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", p, resp.Status)
		}
	}
	srv.Close()
	a.Close()
	st, err := store.Open(context.Background(), storage)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var allFiles = []string{
	"/example.com/a/@v/v1.0.0.zip",
	"/example.com/a/@v/v1.1.0.info",
	"/example.com/!b/@v/v0.1.0.zip",
}

func TestCleanStoreHasNoProblems(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, st := filled(t, up, allFiles...)
	var report bytes.Buffer
	res, err := audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report})
	if err != nil {
		t.Fatal(err)
	}
	if res.Problems != 0 || res.Versions != 3 || res.Zips != 2 || res.Verified != 5 {
		t.Errorf("Run = %+v, report:\n%s\nwant 3 versions, 2 zips, 5 verified hashes (3 .mod, 2 .zip), no problem", res, report.String())
	}
}

// TestChangedAndPartialObjectsAreReported changes stored objects behind
// modvault's back: each is reported, and with Quarantine moved aside so
// that modvault fetches the version again.
func TestChangedAndPartialObjectsAreReported(t *testing.T) {
	up := proxytest.New(t, modules()...)
	dir, st := filled(t, up, allFiles...)
	file := func(key string) string { return filepath.Join(dir, filepath.FromSlash(key)) }
	// A stored zip replaced by another valid zip (of another version).
	other := up.ZipBytes("example.com/a", "v1.1.0")
	other = bytes.ReplaceAll(other, []byte("example.com/a@v1.1.0/"), []byte("example.com/a@v1.0.0/"))
	if err := os.WriteFile(file("example.com/a/@v/v1.0.0.zip"), other, 0o666); err != nil {
		t.Fatal(err)
	}
	// A .mod whose .info is gone (as if a fill died before committing).
	if err := os.Remove(file("example.com/a/@v/v1.1.0.info")); err != nil {
		t.Fatal(err)
	}
	// An .info whose .mod is gone.
	if err := os.Remove(file("example.com/!b/@v/v0.1.0.mod")); err != nil {
		t.Fatal(err)
	}

	var report bytes.Buffer
	res, err := audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report, Quarantine: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"example.com/a@v1.0.0: changed: .zip hashes to",
		"example.com/a@v1.1.0: partial: mod is stored without its .info",
		"example.com/B@v0.1.0: missing: .info is stored without its .mod",
	} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
	if res.Problems != 3 {
		t.Errorf("Run found %d problems, want 3:\n%s", res.Problems, report.String())
	}
	for _, gone := range []string{"example.com/a/@v/v1.0.0.zip", "example.com/a/@v/v1.0.0.info", "example.com/a/@v/v1.1.0.mod", "example.com/!b/@v/v0.1.0.info"} {
		if _, err := os.Stat(file(gone)); err == nil {
			t.Errorf("%s is still in place after quarantine", gone)
		}
	}

	// Fetched again, and checked again: clean.
	st = fill(t, up, dir, allFiles...)
	report.Reset()
	res, err = audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report})
	if err != nil || res.Problems != 0 {
		t.Errorf("after quarantine and refetch: %+v, %v\n%s", res, err, report.String())
	}
}

// TestZipWithAnotherGoModIsReported changes the go.mod inside the stored
// zip of a private version, which has no checksum database record to
// compare with: a fill refuses a zip whose go.mod is not the version's
// .mod, so verify reports it too, and with Quarantine moves the version
// aside.
func TestZipWithAnotherGoModIsReported(t *testing.T) {
	const private = "example.com/private"
	up := proxytest.New(t, append(modules(), proxytest.Module{Path: private, Version: "v1.0.0",
		Files: map[string]string{"go.mod": "module example.com/private\n", "p.go": "package p\n"}})...)
	paths := append(allFiles, "/example.com/private/@v/v1.0.0.zip")
	dir := t.TempDir()
	st := fillPrivate(t, up, dir, private, paths...)
	zipFile := filepath.Join(dir, "example.com", "private", "@v", "v1.0.0.zip")
	rewriteGoMod(t, zipFile, "example.com/private@v1.0.0/go.mod", "module example.com/private\n\nrequire example.com/evil v1.0.0\n")

	var report bytes.Buffer
	res, err := audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report})
	if err != nil {
		t.Fatal(err)
	}
	const want = "example.com/private@v1.0.0: changed: the zip's go.mod differs from the .mod"
	if res.Problems != 1 || !strings.Contains(report.String(), want) {
		t.Errorf("Run = %+v, report:\n%s\nwant one problem: %q", res, report.String(), want)
	}
	if res.Verified != 5 {
		t.Errorf("Run verified %d hashes, want 5: the private version has no record", res.Verified)
	}

	res, err = audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report, Quarantine: true})
	if err != nil || res.Problems != 1 || res.Quarantined != 3 {
		t.Errorf("Run with Quarantine = %+v, %v; want 1 problem and its 3 objects quarantined\n%s", res, err, report.String())
	}
	if _, err := os.Stat(zipFile); err == nil {
		t.Errorf("the changed zip is still in place after quarantine")
	}

	// Fetched again, and checked again: clean.
	st = fillPrivate(t, up, dir, private, paths...)
	report.Reset()
	res, err = audit.Run(context.Background(), st, audit.Options{SumDBs: []string{up.SumDBName}, Report: &report})
	if err != nil || res.Problems != 0 || res.Zips != 3 {
		t.Errorf("after quarantine and refetch: %+v, %v\n%s", res, err, report.String())
	}
}

// rewriteGoMod replaces the content of the file name in the zip at path
// with gomod, keeping every other file as it is.
func rewriteGoMod(t *testing.T, path, name, gomod string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	found := false
	for _, f := range zr.File {
		if f.Name != name {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		found = true
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, gomod)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no %s", path, name)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
}
