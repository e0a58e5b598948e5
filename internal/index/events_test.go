package index

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/testserver"
)

// eventually polls cond for up to 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, still not %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countEvents returns the number of events in the database.
func countEvents(t *testing.T, x *Index) int {
	t.Helper()
	var n int
	if err := x.r.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func zipHit(i int) Event {
	return Event{User: fmt.Sprintf("user%d", i%3), ClientAddr: "127.0.0.1:1234", Module: "example.com/m",
		Version: "v1.0.0", Kind: KindZip, Result: ResultHit, Bytes: int64(i)}
}

// testEventsBatching checks that a full batch is written at once, without
// waiting for the interval, and the rest at the interval or by Flush.
func testEventsBatching(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{BatchSize: 500, FlushInterval: time.Hour, Replica: "r1"})
	t0 := time.Now()
	for i := range 1200 {
		ev := zipHit(i)
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		x.Record(ev)
	}
	eventually(t, "1000 events written in two full batches", func() bool { return x.Stats().WrittenEvents == 1000 })
	time.Sleep(50 * time.Millisecond)
	if s := x.Stats(); s.WrittenEvents != 1000 || s.Batches != 2 || s.BufferedEvents != 200 {
		t.Errorf("after two full batches: %+v, want 1000 written in 2 batches and 200 waiting for the interval", s)
	}
	if n := countEvents(t, x); n != 1000 {
		t.Errorf("%d events in the database, want 1000", n)
	}
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if s := x.Stats(); s.WrittenEvents != 1200 || s.BufferedEvents != 0 || s.DroppedEvents != 0 {
		t.Errorf("after Flush: %+v", s)
	}
	page, err := x.Events(ctx(t), Filter{}, "", 1)
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("Events = %+v, %v", page, err)
	}
	want := zipHit(1199)
	want.Time = t0.Add(1199 * time.Microsecond).UTC().Round(0)
	want.Replica = "r1"
	got := page.Events[0]
	want.ID = got.ID
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newest event =\n%+v\nwant\n%+v", got, want)
	}

	// An interval flushes what waits.
	y := open(t, dsn, Options{FlushInterval: 20 * time.Millisecond})
	y.Record(zipHit(0))
	eventually(t, "an event written at the interval", func() bool { return countEvents(t, y) == 1201 })
}

func testEventsFilterAndPaging(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var all []Event
	for i := range 40 {
		ev := Event{
			Time:   t0.Add(time.Duration(i/2) * time.Second), // two events per second
			User:   []string{"", "alice", "bob"}[i%3],
			Module: []string{"example.com/a", "example.com/b"}[i%2],
			Kind:   KindZip, Result: []string{ResultHit, ResultFilled, ResultDenied, ResultNotFound}[i%4],
			Reason: fmt.Sprint(i), Replica: "r",
		}
		if ev.Result == ResultDenied {
			ev.Reason = "not allowed"
		}
		x.Record(ev)
		all = append(all, ev)
	}
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(all) // newest first; within a second, the later recorded first
	list := func(f Filter, limit int) []Event {
		t.Helper()
		var got []Event
		cursor := ""
		for {
			page, err := x.Events(ctx(t), f, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page.Events...)
			if cursor = page.Next; cursor == "" {
				return got
			}
		}
	}
	key := func(evs []Event) []string {
		var ks []string
		for _, e := range evs {
			ks = append(ks, fmt.Sprintf("%s|%s|%s|%s|%s", e.Time.Format(time.RFC3339), e.User, e.Module, e.Result, e.Reason))
		}
		return ks
	}
	filters := []Filter{
		{},
		{Module: "example.com/a"},
		{User: "alice"},
		{Result: ResultDenied},
		{Since: t0.Add(5 * time.Second), Until: t0.Add(10 * time.Second)},
		{Module: "example.com/b", User: "bob", Since: t0.Add(3 * time.Second)},
	}
	for _, f := range filters {
		var want []Event
		for _, e := range all {
			if (f.Module == "" || e.Module == f.Module) && (f.User == "" || e.User == f.User) && (f.Result == "" || e.Result == f.Result) &&
				(f.Since.IsZero() || !e.Time.Before(f.Since)) && (f.Until.IsZero() || e.Time.Before(f.Until)) {
				want = append(want, e)
			}
		}
		for _, limit := range []int{1, 3, 100} {
			if got := list(f, limit); !slices.Equal(key(got), key(want)) {
				t.Errorf("Events(%+v) paged by %d =\n%v\nwant\n%v", f, limit, key(got), key(want))
			}
		}
	}
	if _, err := x.Events(ctx(t), Filter{}, "nonsense", 0); fault.Of(err) != fault.Invalid {
		t.Errorf("Events with a bad cursor: %v, want an Invalid error", err)
	}
}

func testBufferOverflowCounted(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{BufferSize: 10, BatchSize: 100, MaxHitKeys: 3, FlushInterval: time.Hour})
	for i := range 15 {
		x.Record(zipHit(i))
	}
	for i := range 5 {
		x.CountHit(module.Version{Path: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i)}, "", time.Time{})
	}
	x.CountHit(module.Version{Path: "example.com/m", Version: "v1.0.0"}, "", time.Time{}) // a counter that waits: counted
	s := x.Stats()
	if s.DroppedEvents != 5 || s.BufferedEvents != 10 || s.DroppedHits != 2 || s.BufferedHits != 3 {
		t.Errorf("after 15 events into a buffer of 10 and 5 counters into 3: %+v, want 5 events and 2 hits dropped", s)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x.Record(zipHit(0)) // after Close: dropped, and counted
	if s := x.Stats(); s.DroppedEvents != 6 || s.BufferedEvents != 0 || s.WrittenEvents != 10 {
		t.Errorf("after Close and one more event: %+v, want 10 written and 6 dropped", s)
	}
	y := open(t, dsn, Options{})
	if n := countEvents(t, y); n != 10 {
		t.Errorf("%d events written at Close, want the 10 buffered", n)
	}
	var hits int
	if err := y.r.QueryRowContext(ctx(t), "SELECT SUM(count) FROM hit_counts").Scan(&hits); err != nil || hits != 4 {
		t.Errorf("hits written at Close: %d, %v; want 4", hits, err)
	}
}

func testDownloadsAndHits(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	t0 := time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC)
	mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	if err := x.RecordVersion(ctx(t), sample(mv.Path, mv.Version, t0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	zip := func(result string, at time.Time) Event {
		return Event{Time: at, Module: mv.Path, Version: mv.Version, Kind: KindZip, Result: result}
	}
	x.Record(zip(ResultFilled, t0))
	x.Record(zip(ResultHit, t0.Add(time.Second)))
	x.Record(zip(ResultDenied, t0.Add(time.Hour))) // no download
	x.Record(Event{Time: t0.Add(time.Hour), Module: mv.Path, Version: mv.Version, Kind: KindList, Result: ResultHit})
	other := zip(ResultHit, t0) // of a version not held: only an event
	other.Version = "v1.1.0"
	x.Record(other)
	x.CountHit(mv, "alice", t0)
	x.CountHit(mv, "alice", t0.Add(30*time.Second))
	x.CountHit(mv, "", t0.Add(2*time.Minute)) // the next day, UTC
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	x.CountHit(mv, "alice", t0.Add(10*time.Second)) // added to the written counter
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	v, err := x.Version(ctx(t), mv)
	if err != nil {
		t.Fatal(err)
	}
	if v.Downloads != 2 || v.Hits != 4 || !v.LastDownload.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("Downloads, Hits, LastDownload = %d, %d, %v; want 2, 4, %v", v.Downloads, v.Hits, v.LastDownload, t0.Add(2*time.Minute))
	}
	// Recording the version again keeps its counts.
	if err := x.RecordVersion(ctx(t), sample(mv.Path, mv.Version, t0)); err != nil {
		t.Fatal(err)
	}
	if v, err := x.Version(ctx(t), mv); err != nil || v.Downloads != 2 || v.Hits != 4 {
		t.Errorf("after recording it again: %d downloads, %d hits, %v", v.Downloads, v.Hits, err)
	}
	rows, err := x.r.QueryContext(ctx(t), "SELECT day, user_name, count FROM hit_counts ORDER BY day, user_name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var day, user string
		var n int
		if err := rows.Scan(&day, &user, &n); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %q %d", day, user, n))
	}
	if want := []string{`2026-06-01 "alice" 3`, `2026-06-02 "" 1`}; !slices.Equal(got, want) {
		t.Errorf("hit counters = %q, want %q", got, want)
	}
}

func testPrune(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{BatchSize: 5000})
	now := time.Now()
	old := now.Add(-100 * 24 * time.Hour)
	const nOld = pruneChunk + 2345 // more than one chunk
	for i := range nOld {
		ev := zipHit(i)
		ev.Time = old.Add(time.Duration(i) * time.Millisecond)
		x.Record(ev)
	}
	for i := range 7 {
		ev := zipHit(i)
		ev.Time = now
		x.Record(ev)
	}
	mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	x.CountHit(mv, "", old)
	x.CountHit(mv, "", now)
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ev, hits, err := x.Prune(ctx(t), now.Add(-90*24*time.Hour))
	if err != nil || ev != nOld || hits != 1 {
		t.Fatalf("Prune = %d events, %d hit counters, %v; want %d, 1", ev, hits, err, nOld)
	}
	if n := countEvents(t, x); n != 7 {
		t.Errorf("%d events left, want 7", n)
	}

	// The background loop prunes by itself.
	y := open(t, dsn, Options{Retention: time.Hour, PruneInterval: 20 * time.Millisecond})
	stale := zipHit(0)
	stale.Time = now.Add(-2 * time.Hour)
	y.Record(stale)
	if err := y.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stale event pruned", func() bool { return countEvents(t, y) == 7 })
}

// TestPostgresOutage stops the PostgreSQL server while events are
// recorded, and starts it again: every event that fit in the buffer is
// written once it is back, and serving (Record, CountHit) never blocked.
func TestPostgresOutage(t *testing.T) {
	pg := testserver.Postgres(t)
	dsn := pg.NewDatabase(t)
	x := open(t, dsn, Options{FlushInterval: 20 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond, BatchSize: 100})
	mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	if err := x.RecordVersion(ctx(t), sample(mv.Path, mv.Version, time.Now())); err != nil {
		t.Fatal(err)
	}
	record := func(from, to int) {
		t.Helper()
		start := time.Now()
		for i := from; i < to; i++ {
			x.Record(zipHit(i))
			x.CountHit(mv, "alice", time.Time{})
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("recording %d events took %v", to-from, d)
		}
	}
	record(0, 500)
	eventually(t, "500 events written", func() bool { return x.Stats().WrittenEvents == 500 })

	pg.Stop()
	record(500, 1500)
	eventually(t, "a failed write", func() bool { return x.Stats().WriteErrors >= 2 })
	record(1500, 2000)
	if s := x.Stats(); s.BufferedEvents != 1500 || s.DroppedEvents != 0 {
		t.Errorf("during the outage: %+v, want 1500 events waiting, none dropped", s)
	}

	pg.Start(t)
	eventually(t, "every event written after the outage", func() bool { return x.Stats().WrittenEvents == 2000 })
	if n := countEvents(t, x); n != 2000 {
		t.Errorf("%d events in the database, want 2000", n)
	}
	eventually(t, "every hit written after the outage", func() bool { return x.Stats().BufferedHits == 0 })
	v, err := x.Version(ctx(t), mv)
	if err != nil {
		t.Fatal(err)
	}
	if v.Downloads != 2000 || v.Hits != 2000 {
		t.Errorf("after the outage: %d downloads, %d hits; want 2000 of each", v.Downloads, v.Hits)
	}
}
