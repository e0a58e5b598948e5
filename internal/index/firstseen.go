package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
)

// Seen records that this modvault saw the versions of module mod at at
// (zero means now): in an upstream's @v/list or @latest answer, or in a
// fill. The index keeps the earliest time recorded for each version, its
// first-seen time ([Index.FirstSeen]), which the policy's minimum age
// counts from. Versions that are not valid canonical versions of mod are
// skipped.
//
// Calls for versions already recorded at or before at write nothing: the
// Index remembers (up to Options.MaxSeenKeys versions) the versions it has
// recorded and a time no earlier than the one the database holds, so that
// Seen on every list answer costs a map lookup per version, not a
// database write.
func (x *Index) Seen(ctx context.Context, mod string, versions []string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	t := unixNano(at)
	todo := x.seen.missing(mod, versions, t)
	if len(todo) == 0 {
		return nil
	}
	rows := make([]seenRow, 0, len(todo))
	for _, v := range todo {
		if module.Check(mod, v) == nil && module.CanonicalVersion(v) == v {
			rows = append(rows, seenRow{module.Version{Path: mod, Version: v}, t})
		}
	}
	if err := x.writeSeen(ctx, x.w, rows); err != nil {
		return fmt.Errorf("index: recording versions of %s as seen: %w", mod, err)
	}
	x.seen.add(rows)
	return nil
}

// FirstSeen returns the earliest time recorded for mv by [Index.Seen] or
// [Index.RecordVersions], and whether there is one.
func (x *Index) FirstSeen(ctx context.Context, mv module.Version) (time.Time, bool, error) {
	var at int64
	err := x.r.QueryRowContext(ctx, "SELECT at FROM first_seen WHERE module = $1 AND version = $2", mv.Path, mv.Version).Scan(&at)
	switch {
	case err == sql.ErrNoRows:
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("index: first-seen time of %s: %w", mv, err)
	}
	return fromUnixNano(at), true, nil
}

// seenRow is a version seen at a time (Unix nanoseconds).
type seenRow struct {
	mv module.Version
	at int64
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeSeen records rows in first_seen, keeping the earliest time of each
// version, with one statement per chunk. Rows naming one version twice are
// merged first (PostgreSQL refuses an upsert that touches a row twice).
func (x *Index) writeSeen(ctx context.Context, db execer, rows []seenRow) error {
	rows = mergeSeen(rows)
	for chunk := range chunks(rows, min(1000, x.d.maxParams/3)) {
		var q strings.Builder
		args := make([]any, 0, 3*len(chunk))
		q.WriteString("INSERT INTO first_seen (module, version, at) VALUES ")
		for _, r := range chunk {
			x.d.valuesRow(&q, len(args), plain(3)...)
			args = append(args, r.mv.Path, r.mv.Version, r.at)
		}
		// The WHERE makes a later time write nothing.
		q.WriteString(" ON CONFLICT (module, version) DO UPDATE SET at = excluded.at WHERE excluded.at < first_seen.at")
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// mergeSeen returns rows with one row per version, at its earliest time.
func mergeSeen(rows []seenRow) []seenRow {
	if len(rows) < 2 {
		return rows
	}
	idx := make(map[module.Version]int, len(rows))
	out := make([]seenRow, 0, len(rows))
	for _, r := range rows {
		if i, ok := idx[r.mv]; ok {
			out[i].at = min(out[i].at, r.at)
			continue
		}
		idx[r.mv] = len(out)
		out = append(out, r)
	}
	return out
}

// seenCache remembers versions whose first-seen time is recorded, each with
// a time no earlier than the recorded one: the database's time only ever
// moves earlier (and another replica's writes only move it earlier too), so
// a later call for the version has nothing to write. It holds at most max
// versions in two generations: when the current one is full it becomes the
// old one, and the old one is dropped; a version found in the old one moves
// to the current one. So the versions seen often stay, and one forgotten
// costs one write that changes nothing.
type seenCache struct {
	max int // versions in both generations together

	mu       sync.Mutex
	cur, old map[module.Version]int64
}

func newSeenCache(max int) *seenCache {
	return &seenCache{max: max, cur: make(map[module.Version]int64)}
}

// missing returns the versions of mod that the cache does not hold at or
// before t, in the order of versions (nil if none).
func (c *seenCache) missing(mod string, versions []string, t int64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i, v := range versions {
		mv := module.Version{Path: mod, Version: v}
		at, ok := c.cur[mv]
		if !ok {
			if at, ok = c.old[mv]; ok {
				c.put(mv, at)
			}
		}
		if ok && at <= t {
			continue
		}
		if out == nil {
			out = make([]string, 0, len(versions)-i)
		}
		out = append(out, v)
	}
	return out
}

// add remembers rows, just written.
func (c *seenCache) add(rows []seenRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		if at, ok := c.cur[r.mv]; ok && at <= r.at {
			continue
		}
		c.put(r.mv, r.at)
	}
}

// put sets mv's time in the current generation, starting a new one first
// if it is full. It is called with c.mu held.
func (c *seenCache) put(mv module.Version, at int64) {
	if _, ok := c.cur[mv]; !ok && len(c.cur) >= max(1, c.max/2) {
		c.old, c.cur = c.cur, make(map[module.Version]int64, len(c.cur))
	}
	c.cur[mv] = at
}

// len returns how many versions the cache holds (in tests).
func (c *seenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.cur)
	for mv := range c.old {
		if _, ok := c.cur[mv]; !ok {
			n++
		}
	}
	return n
}
