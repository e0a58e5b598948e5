package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/index"
)

// Shape of the index BenchmarkAPIPages fills, as internal/index's
// BenchmarkPages: 100,000 modules of 10 versions.
const (
	benchModules  = 100_000
	benchVersions = 10
)

func benchPath(i int) string { return fmt.Sprintf("github.com/org%d/project-%d", i%5000, i) }

// BenchmarkAPIPages fills an SQLite index with 1,000,000 versions and
// measures one HTTP request (in process, through the handler, the answer
// encoded) for a page of 1,000 from /index, /catalog (1,000 modules, so
// 10,000 versions) and /api/v1/modules?q=, at the start and deep into
// each listing. Each must take less than 50ms.
//
//	go test -run XXX -bench APIPages -benchtime 20x ./internal/api/
func BenchmarkAPIPages(b *testing.B) {
	x := open(b, filepath.Join(b.TempDir(), "index.sqlite"))
	t0 := fill(b, x)
	h := api.New(api.Options{Index: x})
	mid := t0.Add(benchModules * benchVersions / 2 * time.Second).Format(time.RFC3339)
	midCursor, _ := module.EscapePath(benchPath(50_000))
	for _, p := range []struct{ name, target string }{
		{"index/start", "/index?limit=1000"},
		{"index/middle", "/index?limit=1000&since=" + mid + "&after=" + benchPath(3) + "@v1.0.0"},
		{"catalog/start", "/catalog?limit=1000"},
		{"catalog/middle", "/catalog?limit=1000&cursor=" + midCursor},
		{"modules/common", "/api/v1/modules?limit=1000&q=github.com/org&cursor=" + midCursor},
		{"modules/rare", "/api/v1/modules?limit=1000&q=project-99999"},
	} {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p.target, nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.Len() < 50 {
					b.Fatalf("GET %s: %d %s", p.target, w.Code, w.Body)
				}
			}
			if per := b.Elapsed() / time.Duration(b.N); per > 50*time.Millisecond {
				b.Errorf("a page takes %v, more than 50ms", per)
			}
		})
	}
}

// fill records benchModules*benchVersions versions as a reindex would
// (RecordVersions with large slices), one second apart from the time it
// returns, then refreshes the statistics.
func fill(b *testing.B, x *index.Index) time.Time {
	ctx := context.Background()
	start := time.Now()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := make([]index.Version, 0, 10_000)
	n := 0
	for v := range benchVersions {
		for m := range benchModules {
			path, version := benchPath(m), fmt.Sprintf("v1.%d.0", v)
			vs = append(vs, index.Version{
				Path: path, Version: version, StoredAt: t0.Add(time.Duration(n) * time.Second),
				Source: index.Source{Kind: index.SourceUpstream, Upstream: "http://127.0.0.1:9/proxy"},
				Info:   index.File{Size: 60, SHA256: fmt.Sprintf("%064x", n)},
				Mod:    index.File{Size: 30, SHA256: fmt.Sprintf("%064x", n+1)},
				Zip:    &index.File{Size: 1234, SHA256: fmt.Sprintf("%064x", n+2)},
				ModH1:  "h1:mod" + version + "=", ZipH1: "h1:zip" + version + "=",
				Proof: &index.Proof{DB: "sum.example.test", Record: 42, TreeSize: 1000},
			})
			n++
			if len(vs) == cap(vs) {
				if err := x.RecordVersions(ctx, vs); err != nil {
					b.Fatal(err)
				}
				vs = vs[:0]
			}
		}
	}
	if err := x.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d versions in %v (Optimize included)", n, time.Since(start))
	return t0
}
