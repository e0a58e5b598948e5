package index

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
)

// Record adds ev to the audit trail. It never blocks on the database: ev
// waits in a buffer of up to Options.BufferSize events until the
// background writer writes it, within Options.FlushInterval or as soon as
// Options.BatchSize events wait. If the buffer is full (the database is
// down or too slow), ev is dropped, counted in [Stats].DroppedEvents and
// logged (at most once every 10s). A zip served (Kind zip, Result hit or
// filled) also counts as a download of its version.
func (x *Index) Record(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Replica == "" {
		ev.Replica = x.opts.Replica
	}
	ev.ID = 0
	x.buf.addEvent(ev, x.log)
}

// CountHit counts an .info or .mod file of mv served to user ("" is
// anonymous) at t: hits are not events, but counters per version, user and
// day (UTC), added up in memory and written with the events. Like Record,
// it never blocks; once Options.MaxHitKeys counters wait, hits of further
// ones are dropped and counted in [Stats].DroppedHits.
func (x *Index) CountHit(mv module.Version, user string, t time.Time) {
	if t.IsZero() {
		t = time.Now()
	}
	// The day is kept as a number until the counters are written: no
	// string is made on the request path.
	x.buf.addHit(hitKey{day: t.Unix() / secondsPerDay, module: mv.Path, version: mv.Version, user: user}, unixNano(t), x.log)
}

// Stats describes the writer of events and hits, for metrics.
type Stats struct {
	BufferedEvents int    // events waiting to be written
	BufferedHits   int    // hit counters waiting to be written
	WrittenEvents  uint64 // events written since Open
	DroppedEvents  uint64 // events dropped: the buffer was full, or they could not be written at Close
	DroppedHits    uint64 // hits dropped, likewise
	Batches        uint64 // transactions that wrote events or hits
	WriteErrors    uint64 // failed attempts to write a batch
}

// Stats returns the writer's counters.
func (x *Index) Stats() Stats {
	b := x.buf
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.BufferedEvents = len(b.events)
	s.BufferedHits = len(b.hits) + len(b.inflight)
	return s
}

// Flush writes every event and hit buffered now, in batches, and returns
// the first error (the background writer tries again later).
func (x *Index) Flush(ctx context.Context) error { return x.flush(ctx, false) }

// hitKey is a hit counter.
type hitKey struct {
	day                   int64 // days since the Unix epoch, UTC
	module, version, user string
}

// secondsPerDay converts Unix seconds to hitKey days.
const secondsPerDay = 24 * 60 * 60

// hitCount is the hits of a counter not written yet.
type hitCount struct {
	n    int64
	last int64 // the time of the last hit, Unix nanoseconds
}

// buffer holds the events and hits waiting to be written. The writer takes
// a batch from the front and removes it once it is written, so that a
// batch being written still counts against the bound.
type buffer struct {
	batch, maxEvents, maxHits int
	kick                      chan struct{} // a full batch waits

	mu       sync.Mutex
	events   []Event
	hits     map[hitKey]hitCount // counted since the last batch was taken
	inflight map[hitKey]hitCount // taken by the batch being written
	stats    Stats
	closed   bool      // by Close: nothing more is written
	logged   time.Time // when overflow was last logged
	unlogged uint64    // drops not logged yet
}

func newBuffer(o Options) *buffer {
	return &buffer{batch: o.BatchSize, maxEvents: o.BufferSize, maxHits: o.MaxHitKeys,
		kick: make(chan struct{}, 1), hits: make(map[hitKey]hitCount)}
}

func (b *buffer) addEvent(ev Event, log *slog.Logger) {
	b.mu.Lock()
	if len(b.events) >= b.maxEvents || b.closed {
		b.stats.DroppedEvents++
		b.dropped(log)
		return
	}
	b.events = append(b.events, ev)
	full := len(b.events) >= b.batch
	b.mu.Unlock()
	if full {
		b.signal()
	}
}

func (b *buffer) addHit(k hitKey, t int64, log *slog.Logger) {
	b.mu.Lock()
	c, ok := b.hits[k]
	if (!ok && len(b.hits) >= b.maxHits) || b.closed {
		b.stats.DroppedHits++
		b.dropped(log)
		return
	}
	c.n++
	c.last = max(c.last, t)
	b.hits[k] = c
	full := len(b.hits) >= b.batch
	b.mu.Unlock()
	if full {
		b.signal()
	}
}

// signal wakes the writer for a full batch, unless it is already woken.
func (b *buffer) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// dropped logs, at most every 10 seconds, the drops since the last log. It
// is called with b.mu held, and releases it.
func (b *buffer) dropped(log *slog.Logger) {
	b.unlogged++
	now := time.Now()
	if now.Sub(b.logged) < 10*time.Second {
		b.mu.Unlock()
		return
	}
	n, s := b.unlogged, b.stats
	b.unlogged, b.logged = 0, now
	b.mu.Unlock()
	log.Error("index: event buffer full: events or hits dropped (the database is down or too slow)",
		"dropped", n, "dropped_events_total", s.DroppedEvents, "dropped_hits_total", s.DroppedHits)
}

// take returns the next batch: up to BatchSize events from the front, and
// the hits counted since the last batch (or, after a failed attempt, the
// same hits again). With full set, it returns events only if a whole batch
// waits, and hits only if a batch's worth of counters waits.
func (b *buffer) take(full bool) ([]Event, map[hitKey]hitCount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.events), b.batch)
	if full && n < b.batch {
		n = 0
	}
	if b.inflight == nil && len(b.hits) > 0 && (!full || len(b.hits) >= b.batch) {
		b.inflight, b.hits = b.hits, make(map[hitKey]hitCount)
	}
	return b.events[:n:n], b.inflight
}

// written removes the batch of n events and the hits just written.
func (b *buffer) written(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.events[:n]) // let the strings go
	b.events = b.events[n:]
	b.inflight = nil
	b.stats.WrittenEvents += uint64(n)
	b.stats.Batches++
}

// failed counts a failed attempt to write a batch.
func (b *buffer) failed() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.WriteErrors++
	return b.stats.WriteErrors
}

// close makes the buffer drop (and count) whatever is added from now on,
// and drops everything it holds, counting it, and returns how much.
func (b *buffer) close() (events, hits int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	events, hits = len(b.events), len(b.hits)+len(b.inflight)
	b.stats.DroppedEvents += uint64(events)
	b.stats.DroppedHits += uint64(hits)
	b.events, b.hits, b.inflight = nil, make(map[hitKey]hitCount), nil
	return events, hits
}

// writeLoop writes buffered batches every FlushInterval, and whenever a
// full batch waits, until ctx ends. After a failed write it waits (100ms,
// doubling up to MaxRetryDelay) and tries the same batch again, so that
// nothing that fits in the buffer is lost while the database is down.
func (x *Index) writeLoop(ctx context.Context) {
	tick := time.NewTicker(x.opts.FlushInterval)
	defer tick.Stop()
	var failures int      // consecutive failed attempts
	var lastLog time.Time // of a failure
	for {
		full := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-x.buf.kick:
			full = true
		}
		delay := 100 * time.Millisecond
		for {
			err := x.flush(ctx, full)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				if failures > 0 {
					x.log.Info("index: writing events again", "failed_attempts", failures)
					failures = 0
				}
				break
			}
			failures++
			x.buf.failed()
			if time.Since(lastLog) >= 30*time.Second {
				lastLog = time.Now()
				s := x.Stats()
				x.log.Error("index: writing events failed; retrying", "err", err, "failed_attempts", failures,
					"buffered_events", s.BufferedEvents, "buffered_hits", s.BufferedHits, "retry_in", delay)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, x.opts.MaxRetryDelay)
		}
	}
}

// flush writes batches until what it takes is empty (see buffer.take for
// full), or a write fails.
func (x *Index) flush(ctx context.Context, full bool) error {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	for {
		evs, hits := x.buf.take(full)
		if len(evs) == 0 && len(hits) == 0 {
			return nil
		}
		if err := x.writeBatch(ctx, evs, hits); err != nil {
			return fmt.Errorf("index: writing %d events and %d hit counters: %w", len(evs), len(hits), err)
		}
		x.buf.written(len(evs))
	}
}

// usage is what a batch adds to a version's row.
type usage struct {
	downloads, hits, last int64
}

// writeBatch writes events and hits in one transaction: the events, the
// hit counters (added to those already written), and the download counts
// and last download times of the versions they name.
func (x *Index) writeBatch(ctx context.Context, evs []Event, hits map[hitKey]hitCount) error {
	uses := make(map[module.Version]usage)
	for i := range evs {
		if e := &evs[i]; e.download() {
			mv := module.Version{Path: e.Module, Version: e.Version}
			u := uses[mv]
			u.downloads++
			u.last = max(u.last, unixNano(e.Time))
			uses[mv] = u
		}
	}
	type hit struct {
		k hitKey
		c hitCount
	}
	hs := make([]hit, 0, len(hits))
	for k, c := range hits {
		hs = append(hs, hit{k, c})
		mv := module.Version{Path: k.module, Version: k.version}
		u := uses[mv]
		u.hits += c.n
		u.last = max(u.last, c.last)
		uses[mv] = u
	}
	return x.inTx(ctx, func(tx *sql.Tx) error {
		for chunk := range chunks(evs, eventsPerInsert) {
			if err := x.insertEvents(ctx, tx, chunk); err != nil {
				return err
			}
		}
		for chunk := range chunks(hs, x.d.maxParams/5) {
			var q strings.Builder
			args := make([]any, 0, 5*len(chunk))
			q.WriteString("INSERT INTO hit_counts (day, module, version, user_name, count) VALUES ")
			for _, h := range chunk {
				x.d.valuesRow(&q, len(args), plain(5)...)
				args = append(args, day(time.Unix(h.k.day*secondsPerDay, 0)), h.k.module, h.k.version, h.k.user, h.c.n)
			}
			q.WriteString(" ON CONFLICT (day, module, version, user_name) DO UPDATE SET count = hit_counts.count + excluded.count")
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		return x.addUsage(ctx, tx, uses)
	})
}

// eventsPerInsert is the most events one INSERT statement inserts. The
// statement for exactly this many is prepared once (Index.insertStmt), so
// that a busy server's batches are not parsed again and again; SQLite
// spent a quarter of its time for events parsing 1,000-row statements.
const eventsPerInsert = 100

// insertEventsSQL returns the statement that inserts n events.
func (x *Index) insertEventsSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO events (at, user_name, client_addr, replica, module, version, kind, result, reason, bytes) VALUES ")
	cols := plain(10)
	for i := range n {
		x.d.valuesRow(&q, 10*i, cols...)
	}
	return q.String()
}

// insertEvents inserts evs (at most eventsPerInsert) with one statement.
func (x *Index) insertEvents(ctx context.Context, tx *sql.Tx, evs []Event) error {
	args := make([]any, 0, 10*len(evs))
	for _, e := range evs {
		args = append(args, unixNano(e.Time), e.User, e.ClientAddr, e.Replica, e.Module, e.Version, e.Kind, e.Result, e.Reason, e.Bytes)
	}
	if len(evs) == eventsPerInsert {
		_, err := tx.StmtContext(ctx, x.insertStmt).ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, x.insertEventsSQL(len(evs)), args...)
	return err
}

// addUsage adds downloads and hits to the rows of the versions they name,
// and moves their last download time forward. Versions the index does
// not hold are left out.
func (x *Index) addUsage(ctx context.Context, tx *sql.Tx, uses map[module.Version]usage) error {
	type use struct {
		mv module.Version
		u  usage
	}
	us := make([]use, 0, len(uses))
	for mv, u := range uses {
		us = append(us, use{mv, u})
	}
	for chunk := range chunks(us, x.d.maxParams/5) {
		var q strings.Builder
		args := make([]any, 0, 5*len(chunk))
		q.WriteString("WITH u (esc_key, vsort, downloads, hits, last) AS (VALUES ")
		for _, u := range chunk {
			x.d.valuesRow(&q, len(args), "", "", "BIGINT", "BIGINT", "BIGINT")
			args = append(args, escKey(u.mv.Path), versionKey(u.mv.Version), u.u.downloads, u.u.hits, u.u.last)
		}
		fmt.Fprintf(&q, `) UPDATE versions SET downloads = versions.downloads + u.downloads, hits = versions.hits + u.hits,
			last_download = %s(COALESCE(versions.last_download, u.last), u.last)
			FROM u WHERE versions.esc_key = u.esc_key AND versions.vsort = u.vsort`, x.d.greatest)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
