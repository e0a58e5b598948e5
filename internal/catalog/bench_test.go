package catalog_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// Size of the benchmark store: benchModules modules of benchVersions
// versions, each with a .info and a .mod.
const (
	benchModules  = 2000
	benchVersions = 10
)

// benchStore writes a file:// store of benchModules*benchVersions versions
// straight into a directory, in the store's layout, with .info times in an
// order unrelated to the key order, and a few hundred checksum-database
// files. It returns the store and the time of the version that is
// tailBack versions before the newest.
func benchStore(b *testing.B, tailBack int) (*store.Store, time.Time) {
	b.Helper()
	dir := b.TempDir()
	n := benchModules * benchVersions
	order := rand.New(rand.NewPCG(1, 2)).Perm(n) // order[i]: when version i was stored
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(key string, data string, t time.Time) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o666); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, t, t); err != nil {
			b.Fatal(err)
		}
	}
	for m := range benchModules {
		mod := fmt.Sprintf("example.com/org%d/mod%d", m%50, m)
		if m%10 == 0 {
			mod = fmt.Sprintf("github.com/Org%d/Mod%d", m%50, m) // case-encoded
		}
		for v := range benchVersions {
			ver := fmt.Sprintf("v1.%d.0", v)
			if v == benchVersions-1 {
				ver = "v0.0.0-20250101000000-abcdefabcdef"
			}
			t := t0.Add(time.Duration(order[m*benchVersions+v]) * time.Millisecond)
			for _, kind := range []protocol.Kind{protocol.Mod, protocol.Info} {
				k, err := protocol.Key(mod, ver, kind)
				if err != nil {
					b.Fatal(err)
				}
				write(k, "x", t)
			}
		}
	}
	for i := range 300 {
		write(fmt.Sprintf("sumdb/sum.example/lookup/example.com/org/mod%d@v1.0.0", i), "x", t0)
	}
	st, err := store.Open(context.Background(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, t0.Add(time.Duration(n-tailBack) * time.Millisecond)
}

func benchServe(b *testing.B, h http.Handler, target string, check func(body string)) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	check(rec.Body.String())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", target, rec.Code)
		}
	}
}

// BenchmarkIndex serves /index pages from a file:// store of 20,000
// versions: every page walks the whole store.
func BenchmarkIndex(b *testing.B) {
	st, tail := benchStore(b, 100)
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	lines := func(want int) func(string) {
		return func(body string) {
			if got := strings.Count(body, "\n"); got != want {
				b.Fatalf("%d lines, want %d", got, want)
			}
		}
	}
	b.Run("first-page", func(b *testing.B) { benchServe(b, h, "/index", lines(2000)) })
	b.Run("tail", func(b *testing.B) {
		benchServe(b, h, "/index?since="+tail.Format(time.RFC3339Nano), lines(100))
	})
}

// BenchmarkCatalog serves /catalog pages from a file:// store of 20,000
// versions: a page walks the store up to its last module.
func BenchmarkCatalog(b *testing.B) {
	st, _ := benchStore(b, 0)
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	// The cursor of the last page of 100 modules.
	var all []catalog.Module
	for cursor := ""; ; {
		page, err := catalog.ReadCatalog(context.Background(), st, cursor, catalog.MaxCatalogLimit)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, page.Modules...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(all) != benchModules {
		b.Fatalf("catalog has %d modules, want %d", len(all), benchModules)
	}
	cursor, _ := module.EscapePath(all[len(all)-101].Path)
	modules := func(want int) func(string) {
		return func(body string) {
			if got := strings.Count(body, `"Path"`); got != want {
				b.Fatalf("%d modules, want %d", got, want)
			}
		}
	}
	b.Run("first-page", func(b *testing.B) { benchServe(b, h, "/catalog", modules(100)) })
	b.Run("first-page-1000", func(b *testing.B) { benchServe(b, h, "/catalog?limit=1000", modules(1000)) })
	b.Run("last-page", func(b *testing.B) { benchServe(b, h, "/catalog?cursor="+url.QueryEscape(cursor), modules(100)) })
}

// BenchmarkWalk is the floor of both: a bare store.Walk of the benchmark
// store, counting keys.
func BenchmarkWalk(b *testing.B) {
	st, _ := benchStore(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := st.Walk(context.Background(), "", func(store.Entry) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n != 2*benchModules*benchVersions+300 {
			b.Fatalf("walked %d keys", n)
		}
	}
}
