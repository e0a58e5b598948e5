package index

import (
	"context"
	"fmt"
	"time"
)

// Prune deletes the events from before t, and the hit counters of the days
// before t's (UTC) day, in chunks of 10,000 rows, each in its own
// transaction (so that it never holds the database for long), and
// returns how many of each it deleted.
func (x *Index) Prune(ctx context.Context, t time.Time) (events, hits int64, err error) {
	events, err = x.deleteChunks(ctx, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 ORDER BY at LIMIT $2)", unixNano(t))
	if err != nil {
		return events, 0, fmt.Errorf("index: pruning events: %w", err)
	}
	hits, err = x.deleteChunks(ctx, `DELETE FROM hit_counts WHERE (day, module, version, user_name) IN
		(SELECT day, module, version, user_name FROM hit_counts WHERE day < $1 ORDER BY day LIMIT $2)`, day(t))
	if err != nil {
		return events, hits, fmt.Errorf("index: pruning hit counters: %w", err)
	}
	return events, hits, nil
}

// pruneChunk is how many rows one statement of Prune deletes.
const pruneChunk = 10_000

// deleteChunks runs the DELETE q with arg and pruneChunk until it deletes
// fewer rows than that, and returns how many it deleted.
func (x *Index) deleteChunks(ctx context.Context, q string, arg any) (int64, error) {
	var total int64
	for {
		res, err := x.w.ExecContext(ctx, q, arg, pruneChunk)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		total += n
		if err != nil || n < pruneChunk {
			return total, err
		}
	}
}

// pruneLoop prunes what is older than the retention period at once and
// then every Options.PruneInterval, until ctx ends.
func (x *Index) pruneLoop(ctx context.Context) {
	t := time.NewTicker(x.opts.PruneInterval)
	defer t.Stop()
	for {
		ev, hits, err := x.Prune(ctx, time.Now().Add(-x.opts.Retention))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			x.log.Warn("index: pruning old events failed", "err", err)
		case ev > 0 || hits > 0:
			x.log.Info("index: pruned old events", "events", ev, "hit_counters", hits, "retention", x.opts.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
