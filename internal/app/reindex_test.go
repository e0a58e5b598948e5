package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/proxytest"
)

// indexedVersions returns what the index in database holds about paths.
func indexedVersions(t *testing.T, database string, paths ...string) map[string][]index.Version {
	t.Helper()
	x, err := index.Open(context.Background(), database, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	out := map[string][]index.Version{}
	for _, p := range paths {
		vs, err := x.Versions(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = vs
	}
	return out
}

// TestReindexRebuildsTheIndex: the versions a fill recorded (hashes, sizes,
// the checksum database's proof) are recorded again by a reindex of the
// store after the database file is deleted; only the upstream each came
// from is lost, since the store does not keep it.
func TestReindexRebuildsTheIndex(t *testing.T) {
	up := proxytest.New(t,
		proxytest.Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n"}},
		proxytest.Module{Path: "example.com/a", Version: "v1.1.0", Files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n\nconst V = 1\n"}},
		proxytest.Module{Path: "example.com/B", Version: "v0.1.0", Files: map[string]string{"go.mod": "module example.com/B\n", "b.go": "package b\n"}},
	)
	dir := t.TempDir()
	database := filepath.Join(dir, "index.sqlite")
	cfg := config.Serve{
		Storage:  (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "store"))}).String(),
		Database: database, Upstream: up.URL,
		GOSUMDB: []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}}, SumDB: []string{up.SumDBName},
		ListTTL: time.Minute, FillTimeout: time.Minute, ShutdownTimeout: time.Second,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	for _, p := range []string{"/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/v1.1.0.info", "/example.com/!b/@v/v0.1.0.zip"} {
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
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	filled := indexedVersions(t, database, "example.com/a", "example.com/B")
	if n := len(filled["example.com/a"]) + len(filled["example.com/B"]); n != 3 {
		t.Fatalf("the fills recorded %d versions, want 3: %+v", n, filled)
	}
	for _, vs := range filled {
		for _, v := range vs {
			if v.Proof == nil || v.Proof.DB != up.SumDBName || v.Proof.TreeSize < v.Proof.Record+1 || v.Source.Upstream != up.URL {
				t.Errorf("%s@%s: proof %+v, source %+v; want a proof of %s and the upstream %s", v.Path, v.Version, v.Proof, v.Source, up.SumDBName, up.URL)
			}
			if !strings.HasPrefix(v.ModH1, "h1:") || (v.Version != "v1.1.0" && (v.Zip == nil || !strings.HasPrefix(v.ZipH1, "h1:"))) {
				t.Errorf("%s@%s: mod %q zip %+v %q; want h1: hashes", v.Path, v.Version, v.ModH1, v.Zip, v.ZipH1)
			}
		}
	}

	for _, f := range []string{database, database + "-wal", database + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	var progress strings.Builder
	res, err := app.Reindex(context.Background(), cfg, log, &progress)
	if err != nil || res.Versions != 3 || !strings.Contains(progress.String(), "3 versions") {
		t.Fatalf("Reindex = %+v, %v; progress %q; want 3 versions", res, err, progress.String())
	}
	again := indexedVersions(t, database, "example.com/a", "example.com/B")
	for _, m := range []map[string][]index.Version{filled, again} {
		for _, vs := range m {
			for i := range vs {
				// The store does not say where a version came from, nor
				// how often it was downloaded.
				vs[i].StoredAt, vs[i].Source = time.Time{}, index.Source{}
				vs[i].Downloads, vs[i].Hits, vs[i].LastDownload = 0, 0, time.Time{}
			}
		}
	}
	if !reflect.DeepEqual(filled, again) {
		t.Errorf("the reindexed versions differ from those the fills recorded:\nfilled    %+v\nreindexed %+v", filled, again)
	}
}

// TestZipDownloadsAreEvents: a zip filled then served again is two events
// (filled, then hit) with the bytes served and the client's address; a
// missing version is a not_found event; .info hits are counted.
func TestZipDownloadsAreEvents(t *testing.T) {
	up := proxytest.New(t, proxytest.Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n"}})
	dir := t.TempDir()
	database := filepath.Join(dir, "index.sqlite")
	cfg := config.Serve{
		Storage: "mem://", Database: database, Upstream: up.URL, Replica: "r1",
		GOSUMDB: []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}}, SumDB: []string{up.SumDBName},
		ListTTL: time.Minute, FillTimeout: time.Minute, ShutdownTimeout: time.Second,
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	zipSize := int64(len(up.ZipBytes("example.com/a", "v1.0.0")))
	for _, p := range []string{"/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/v1.0.0.info", "/example.com/a/@v/v9.0.0.zip"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()
	if err := a.Close(); err != nil { // flushes the events
		t.Fatal(err)
	}
	x, err := index.Open(context.Background(), database, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	page, err := x.Events(context.Background(), index.Filter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Events {
		if e.ClientAddr != "127.0.0.1" || e.Replica != "r1" {
			t.Errorf("event %+v: want client 127.0.0.1 and replica r1", e)
		}
		got = append(got, e.Version+" "+e.Kind+" "+e.Result+" "+strconv.FormatInt(e.Bytes, 10))
	}
	slices.Sort(got)
	size := strconv.FormatInt(zipSize, 10)
	want := []string{"v1.0.0 zip filled " + size, "v1.0.0 zip hit " + size, "v9.0.0 zip not_found " + strconv.Itoa(0)}
	if !slices.Equal(got[:min(len(got), 3)], want[:]) || len(got) != 3 {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	v, err := x.Version(context.Background(), module.Version{Path: "example.com/a", Version: "v1.0.0"})
	if err != nil || v.Downloads != 2 || v.Hits != 1 {
		t.Errorf("Version = %+v, %v; want 2 downloads and 1 hit", v, err)
	}
}
