package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

// BenchmarkStorage writes 100,000 events and then 100,000 hit counters
// (distinct versions, users and days) to a new database, and reports what
// they take on disk, per million: for SQLite the growth of the file (after
// a checkpoint, free pages not counted), for PostgreSQL
// pg_total_relation_size of the table (heap, indexes and TOAST).
//
//	go test -run XXX -bench Storage -benchtime 1x ./internal/index/
//	MODVAULT_BENCH_POSTGRES=1 go test -run XXX -bench Storage -benchtime 1x ./internal/index/
func BenchmarkStorage(b *testing.B) {
	const n = 100_000
	for name, newDSN := range benchBackends(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				x := open(b, newDSN(b), Options{BatchSize: 5000, BufferSize: 2 * n, MaxHitKeys: 2 * n, FlushInterval: time.Hour})
				before := x.size(b, "events")
				t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				for i := range n {
					x.Record(Event{
						Time:       t0.Add(time.Duration(i) * 7 * time.Second),
						User:       fmt.Sprintf("user%03d@example.com", i%200),
						ClientAddr: fmt.Sprintf("10.0.%d.%d:%d", i%7, i%250, 30000+i%30000),
						Replica:    "modvault-0",
						Module:     fmt.Sprintf("github.com/org%d/project%d", i%300, i%1000),
						Version:    fmt.Sprintf("v1.%d.%d", i%20, i%7),
						Kind:       KindZip,
						Result:     ResultHit,
						Bytes:      int64(10_000 + i%100_000),
					})
				}
				if err := x.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				afterEvents := x.size(b, "events")
				before2 := x.size(b, "hit_counts")
				for i := range n {
					mv := module.Version{Path: fmt.Sprintf("github.com/org%d/project%d", i%300, i%1000), Version: fmt.Sprintf("v1.%d.0", i/1000%10)}
					x.CountHit(mv, fmt.Sprintf("user%03d@example.com", i/10_000), t0)
				}
				if err := x.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				var rows int
				if err := x.r.QueryRow("SELECT COUNT(*) FROM hit_counts").Scan(&rows); err != nil || rows != n {
					b.Fatalf("%d hit counters, %v; want %d", rows, err, n)
				}
				afterHits := x.size(b, "hit_counts")
				b.ReportMetric(float64(afterEvents-before)*1e6/n, "bytes/Mevents")
				b.ReportMetric(float64(afterHits-before2)*1e6/n, "bytes/Mcounters")
			}
		})
	}
}

// size returns the bytes that table takes: on SQLite, those of the whole
// database, less its free pages (so only a difference tells the table's);
// on PostgreSQL, pg_total_relation_size of the table.
func (x *Index) size(b *testing.B, table string) int64 {
	b.Helper()
	var n int64
	var err error
	if x.d.name == "postgres" {
		err = x.r.QueryRow("SELECT pg_total_relation_size($1)", table).Scan(&n)
	} else {
		var pages, free, size int64
		if _, err = x.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err == nil {
			err = x.w.QueryRow("SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())").Scan(&pages, &free, &size)
		}
		n = (pages - free) * size
	}
	if err != nil {
		b.Fatal(err)
	}
	return n
}
