package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/testserver"
)

// benchBackends returns the databases benchmarks run against: a new
// SQLite file, and with MODVAULT_BENCH_POSTGRES=1 also a new database of a
// PostgreSQL server that the benchmark starts.
func benchBackends(b *testing.B) map[string]func(b *testing.B) string {
	m := map[string]func(b *testing.B) string{
		"sqlite": func(b *testing.B) string { return filepath.Join(b.TempDir(), "index.sqlite") },
	}
	if os.Getenv("MODVAULT_BENCH_POSTGRES") == "1" {
		m["postgres"] = func(b *testing.B) string { return testserver.Postgres(b).NewDatabase(b) }
	}
	return m
}

// Shape of the index BenchmarkPages fills: 100,000 modules of 10 versions.
const (
	benchModules  = 100_000
	benchVersions = 10
)

func benchPath(i int) string { return fmt.Sprintf("github.com/org%d/project-%d", i%5000, i) }

// BenchmarkPages fills an index with 1,000,000 versions and measures a
// page of 1,000 from each listing, at its start and deep into it: /index
// (Since), /catalog (Catalog: 1,000 modules, so 10,000 versions) and the
// module search (SearchModules, for a substring every path has and for one
// that a single path has, which walks every module). Each must take less
// than 50ms.
//
//	go test -run XXX -bench Pages -benchtime 20x ./internal/index/
func BenchmarkPages(b *testing.B) {
	for name, newDSN := range benchBackends(b) {
		b.Run(name, func(b *testing.B) {
			x := open(b, newDSN(b), Options{})
			fill(b, x)
			mid := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(benchModules * benchVersions / 2 * time.Second)
			midCursor, _ := module.EscapePath(benchPath(50_000))
			pages := []struct {
				name string
				page func(ctx context.Context) (int, error)
			}{
				{"Since/start", func(ctx context.Context) (int, error) {
					es, err := x.Since(ctx, time.Time{}, module.Version{}, 1000)
					return len(es), err
				}},
				{"Since/middle", func(ctx context.Context) (int, error) {
					es, err := x.Since(ctx, mid, module.Version{Path: benchPath(3), Version: "v1.0.0"}, 1000)
					return len(es), err
				}},
				{"Catalog/start", func(ctx context.Context) (int, error) {
					p, err := x.Catalog(ctx, "", 1000)
					return len(p.Modules), err
				}},
				{"Catalog/middle", func(ctx context.Context) (int, error) {
					p, err := x.Catalog(ctx, midCursor, 1000)
					return len(p.Modules), err
				}},
				{"SearchModules/common", func(ctx context.Context) (int, error) {
					p, err := x.SearchModules(ctx, "github.com/org", midCursor, 1000)
					return len(p.Modules), err
				}},
				{"SearchModules/rare", func(ctx context.Context) (int, error) {
					p, err := x.SearchModules(ctx, "project-99999", "", 1000)
					return len(p.Modules), err
				}},
			}
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					ctx := context.Background()
					for b.Loop() {
						n, err := p.page(ctx)
						if err != nil || n == 0 {
							b.Fatalf("%d entries, %v", n, err)
						}
					}
					if per := b.Elapsed() / time.Duration(b.N); per > 50*time.Millisecond {
						b.Errorf("a page takes %v, more than 50ms", per)
					}
				})
			}
		})
	}
}

// fill records benchModules*benchVersions versions, as a reindex would:
// RecordVersions with large slices.
func fill(b testing.TB, x *Index) {
	start := time.Now()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := make([]Version, 0, 10_000)
	n := 0
	for v := range benchVersions {
		for m := range benchModules {
			ver := sample(benchPath(m), fmt.Sprintf("v1.%d.0", v), t0.Add(time.Duration(n)*time.Second))
			vs = append(vs, ver)
			n++
			if len(vs) == cap(vs) {
				if err := x.RecordVersions(context.Background(), vs); err != nil {
					b.Fatal(err)
				}
				vs = vs[:0]
			}
		}
	}
	if err := x.Optimize(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d versions in %v (Optimize included)", n, time.Since(start))
}

// BenchmarkWriteEvents measures the background writer's cost of one zip
// download's event: b.N events recorded, then written in batches of the
// default size (SQLite). This is CPU that a busy server spends off the
// request path, but on the same cores.
//
//	go test -run XXX -bench WriteEvents -benchmem ./internal/index/
func BenchmarkWriteEvents(b *testing.B) {
	x := open(b, filepath.Join(b.TempDir(), "index.sqlite"), Options{BufferSize: 1 << 30, FlushInterval: time.Hour})
	ctx := context.Background()
	ev := Event{User: "ci", ClientAddr: "10.1.2.3", Module: "github.com/google/uuid", Version: "v1.6.0",
		Kind: KindZip, Result: ResultHit, Bytes: 31981}
	b.ReportAllocs()
	for b.Loop() {
		x.Record(ev)
		if x.Stats().BufferedEvents >= x.opts.BatchSize {
			if err := x.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := x.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
