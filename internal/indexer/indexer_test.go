package indexer_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/indexer"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/testserver"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// licenseText returns a license text of internal/license's testdata.
func licenseText(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "license", "testdata", id+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The versions of the tests: an AGPL module, an MIT one with an Apache
// licensed directory, one without a license file, and one whose zip is
// never asked for.
var (
	agpl      = module.Version{Path: "example.com/agpl", Version: "v1.0.0"}
	mit       = module.Version{Path: "example.com/mit", Version: "v1.2.0"}
	none      = module.Version{Path: "example.com/none", Version: "v0.1.0"}
	infoOnly  = module.Version{Path: "example.com/mit", Version: "v1.3.0"}
	allZipped = []module.Version{agpl, mit, none}
)

// wantFound is what each zip holds.
var wantFound = map[module.Version][]license.License{
	agpl: {{Path: "LICENSE", Types: []string{"AGPL-3.0"}}},
	mit: {
		{Path: "LICENSE", Types: []string{"MIT"}},
		{Path: "third_party/x/COPYING", Types: []string{"Apache-2.0"}},
	},
	none: {},
}

// newUpstream returns an upstream serving the test versions.
func newUpstream(t *testing.T) *proxytest.Upstream {
	files := func(mv module.Version, extra map[string]string) map[string]string {
		m := map[string]string{"go.mod": proxytest.GoMod(mv.Path), "a.go": "package a\n"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return proxytest.New(t,
		proxytest.Module{Path: agpl.Path, Version: agpl.Version, Files: files(agpl, map[string]string{"LICENSE": licenseText(t, "AGPL-3.0")})},
		proxytest.Module{Path: mit.Path, Version: mit.Version, Files: files(mit, map[string]string{
			"LICENSE": licenseText(t, "MIT"), "third_party/x/COPYING": licenseText(t, "Apache-2.0"),
		})},
		proxytest.Module{Path: none.Path, Version: none.Version, Files: files(none, map[string]string{"README": "no license here\n"})},
		proxytest.Module{Path: infoOnly.Path, Version: infoOnly.Version, Files: files(infoOnly, map[string]string{"LICENSE": licenseText(t, "MIT")})},
	)
}

// stores returns the kinds of store the tests run on: a directory (zips
// read through their file), memory and a real S3 bucket (MinIO, started
// by the subtest), whose zips are read by range requests.
func stores(t *testing.T) map[string]func(t *testing.T) *store.Store {
	open := func(t *testing.T, u string) *store.Store {
		st, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return map[string]func(t *testing.T) *store.Store{
		"file": func(t *testing.T) *store.Store {
			return open(t, (&url.URL{Scheme: "file", Path: filepath.ToSlash(t.TempDir())}).String())
		},
		"mem": func(t *testing.T) *store.Store { return open(t, "mem://") },
		"s3": func(t *testing.T) *store.Store {
			s3 := testserver.MinIO(t)
			testserver.SetEnv(t, s3.Env())
			return open(t, s3.NewBucket(t))
		},
	}
}

// openIndex opens a new SQLite index.
func openIndex(t *testing.T) *index.Index {
	t.Helper()
	x, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.sqlite"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// fill fills the test versions through a vault that reports to rec: the
// zips of allZipped, and the .info of infoOnly.
func fill(t *testing.T, up *proxytest.Upstream, st *store.Store, rec *indexer.Recorder) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	v := vault.New(st, upstream.New([]upstream.Proxy{{URL: up.URL}}, upstream.Options{}),
		vault.Options{FillTimeout: time.Minute, TempDir: t.TempDir(), Logger: log, Stored: rec.Stored})
	open := func(mv module.Version, kind protocol.Kind) {
		f, err := protocol.NewFile(mv, kind)
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := v.Open(context.Background(), f)
		if err != nil {
			t.Fatalf("filling %s: %v", f.Key, err)
		}
		obj.Close()
	}
	for _, mv := range allZipped {
		open(mv, protocol.Zip)
	}
	open(infoOnly, protocol.Info)
}

// checkLicenses checks what the index and PolicyInputs say about the
// licenses of the test versions: want (a version → its licenses; a
// version left out is unknown).
func checkLicenses(t *testing.T, x *index.Index, want map[module.Version][]license.License) {
	t.Helper()
	p := indexer.PolicyInputs{Index: x}
	for _, mv := range append(allZipped, infoOnly) {
		found, ok, err := x.Licenses(context.Background(), mv)
		if err != nil {
			t.Fatal(err)
		}
		w, known := want[mv]
		if ok != known {
			t.Errorf("Licenses(%v): ok = %v, want %v", mv, ok, known)
			continue
		}
		got := p.Licenses(context.Background(), mv)
		if !known {
			if got != nil {
				t.Errorf("PolicyInputs.Licenses(%v) = %v, want nil (unknown)", mv, got)
			}
			continue
		}
		if len(found) != len(got) || got == nil {
			t.Errorf("PolicyInputs.Licenses(%v) = %#v; the index has %#v", mv, got, found)
		}
		for i := range got {
			if got[i].Coverage < 75 {
				t.Errorf("%v: %s covered at %v%%, want at least 75%%", mv, got[i].Path, got[i].Coverage)
			}
			got[i].Coverage = 0
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("PolicyInputs.Licenses(%v) = %#v, want %#v", mv, got, w)
		}
	}
}

// TestRecorderDetectsLicenses: with Licenses on, a fill's zip has its
// license files recorded by the time the fill returns; a zip without
// one has an empty list; a version whose zip is not stored has none.
// The policy's allow-list then judges them as the issue says.
func TestRecorderDetectsLicenses(t *testing.T) {
	up := newUpstream(t)
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st, x := newStore(t), openIndex(t)
			rec := &indexer.Recorder{Index: x, Store: st, Config: indexer.Config{Licenses: true}, Log: slog.New(slog.DiscardHandler)}
			start := time.Now()
			fill(t, up, st, rec)
			if n := rec.Failed.Load(); n != 0 {
				t.Errorf("%d index writes failed", n)
			}
			checkLicenses(t, x, wantFound)

			p := indexer.PolicyInputs{Index: x}
			allow := []string{"MIT", "BSD-3-Clause", "Apache-2.0"}
			for mv, want := range map[module.Version]bool{agpl: false, mit: true, none: false} {
				if ok, why := license.Allowed(p.Licenses(context.Background(), mv), allow); ok != want {
					t.Errorf("Allowed(%v) = %v (%s), want %v", mv, ok, why, want)
				}
			}

			// Every filled version has a first-seen time: its fill's.
			for _, mv := range append(allZipped, infoOnly) {
				at, ok := p.Published(context.Background(), mv)
				if !ok || at.Before(start.Add(-time.Millisecond)) || at.After(time.Now()) {
					t.Errorf("Published(%v) = %v, %v; want the time of its fill", mv, at, ok)
				}
			}
			if at, ok := p.Published(context.Background(), module.Version{Path: "example.com/never", Version: "v1.0.0"}); ok {
				t.Errorf("Published of a version never seen = %v, true", at)
			}
		})
	}
}

// TestReconcileAndReindexDetectLicenses: zips filled while detection was
// off get their licenses from Reconcile; a reindex into an empty index
// detects them all, and dates each version by when its .info was stored.
func TestReconcileAndReindexDetectLicenses(t *testing.T) {
	up := newUpstream(t)
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st, x := newStore(t), openIndex(t)
			rec := &indexer.Recorder{Index: x, Store: st, Log: slog.New(slog.DiscardHandler)}
			fill(t, up, st, rec)
			checkLicenses(t, x, nil) // detection off

			cfg := indexer.Config{Licenses: true, TempDir: t.TempDir()}
			versions, zips, err := indexer.Reconcile(context.Background(), st, x, cfg)
			if err != nil || versions != 0 || zips != 0 {
				t.Errorf("Reconcile = %d versions, %d zips, %v; want nothing else recorded", versions, zips, err)
			}
			checkLicenses(t, x, wantFound)

			// Reindex into a new index.
			y := openIndex(t)
			res, err := indexer.Reindex(context.Background(), st, y, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Versions != 4 || res.Licenses != 3 {
				t.Errorf("Reindex = %+v, want 4 versions and 3 zips' licenses", res)
			}
			checkLicenses(t, y, wantFound)
			for _, mv := range append(allZipped, infoOnly) {
				f, _ := protocol.NewFile(mv, protocol.Info)
				obj, err := st.Open(context.Background(), f.Key)
				if err != nil {
					t.Fatal(err)
				}
				obj.Close()
				// A bucket's listing has milliseconds, its objects' headers
				// only seconds.
				at, ok, err := y.FirstSeen(context.Background(), mv)
				if err != nil || !ok || at.Before(obj.ModTime()) || !at.Before(obj.ModTime().Add(time.Second)) {
					t.Errorf("FirstSeen(%v) after a reindex = %v, %v, %v; want the .info's time %v", mv, at, ok, err, obj.ModTime())
				}
				if v, err := y.Version(context.Background(), mv); err != nil || !v.StoredAt.Equal(at) {
					t.Errorf("StoredAt of %v = %v, %v; want FirstSeen's %v", mv, v.StoredAt, err, at)
				}
			}

			// Again: nothing left to detect.
			if res, err := indexer.Reindex(context.Background(), st, y, cfg, io.Discard); err != nil || res.Licenses != 0 {
				t.Errorf("second Reindex = %+v, %v; want no license detected again", res, err)
			}
		})
	}
}
