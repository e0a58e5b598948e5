package indexer

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// batchSize is how many versions a walk hands the index at once.
const batchSize = 500

// stored is a version found by a walk of the store.
type stored struct {
	mv       module.Version
	storedAt time.Time // the .info's modification time
	zip      bool
}

// walkVersions calls fn with the stored versions (those with a .info), in
// batches of up to batchSize, streaming: a version's objects are adjacent
// in key order (.info, .mod, .zip), so one is complete when the next
// begins.
func walkVersions(ctx context.Context, st *store.Store, fn func([]stored) error) error {
	var (
		batch   []stored
		cur     stored
		curBase string
		fnErr   error
	)
	flushCur := func() {
		if curBase != "" && !cur.storedAt.IsZero() {
			batch = append(batch, cur)
		}
		if len(batch) >= batchSize {
			fnErr = fn(batch)
			batch = nil
		}
	}
	err := st.Walk(ctx, "", func(e store.Entry) bool {
		if strings.HasPrefix(e.Key, "sumdb/") || strings.HasPrefix(e.Key, "quarantine/") {
			return true
		}
		r, err := protocol.Parse(e.Key)
		if err != nil || (r.Kind != protocol.Info && r.Kind != protocol.Zip) {
			return true
		}
		base := e.Key[:strings.LastIndexByte(e.Key, '.')]
		if base != curBase {
			flushCur()
			if fnErr != nil {
				return false
			}
			curBase, cur = base, stored{mv: module.Version{Path: r.Module, Version: r.Version}}
		}
		if r.Kind == protocol.Info {
			cur.storedAt = e.ModTime
		} else {
			cur.zip = true
		}
		return ctx.Err() == nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && fnErr == nil {
		flushCur()
		if fnErr == nil && len(batch) > 0 {
			fnErr = fn(batch)
		}
	}
	if err != nil {
		return err
	}
	return fnErr
}

// rows reads the index rows of vs from the store. A version that vanished
// meanwhile is skipped.
func (c Config) rows(ctx context.Context, st *store.Store, vs []stored) ([]index.Version, error) {
	out := make([]index.Version, 0, len(vs))
	for _, s := range vs {
		v, err := c.FromStore(ctx, st, s.mv, s.zip)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("reading %s from the store: %w", s.mv, err)
		}
		v.StoredAt = s.storedAt
		out = append(out, v)
	}
	return out, nil
}

// withZip returns the versions of rows that have a zip.
func withZip(rows []index.Version) []module.Version {
	var mvs []module.Version
	for _, v := range rows {
		if v.Zip != nil {
			mvs = append(mvs, module.Version{Path: v.Path, Version: v.Version})
		}
	}
	return mvs
}

// ReindexResult says what a reindex did.
type ReindexResult struct {
	Versions int   // versions recorded
	Removed  int64 // versions the index held that are no longer stored
	Licenses int   // zips whose licenses were detected (Config.Licenses)
}

// Reindex rebuilds the index's versions from a walk of the store: it
// records every stored version, in batches, then removes the versions not
// seen (Sweep; their download counts go with them, those of the others
// stay) and refreshes the statistics (Optimize). It writes a progress line
// to progress every batch. Events, hit counters and first-seen times are
// kept; a version without a first-seen time gets the time its .info was
// stored (its modification time in the store). With c.Licenses it detects
// the licenses of the zips whose licenses the index lacks.
func Reindex(ctx context.Context, st *store.Store, x *index.Index, c Config, progress io.Writer) (ReindexResult, error) {
	start := time.Now()
	var res ReindexResult
	err := walkVersions(ctx, st, func(vs []stored) error {
		rows, err := c.rows(ctx, st, vs)
		if err != nil {
			return err
		}
		if err := x.RecordVersions(ctx, rows); err != nil {
			return err
		}
		res.Versions += len(rows)
		n, err := c.detectMissing(ctx, st, x, withZip(rows))
		res.Licenses += n
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "reindex: %d versions recorded (%s)\n", res.Versions, time.Since(start).Round(time.Millisecond))
		return nil
	})
	if err != nil {
		return res, err
	}
	if res.Removed, err = x.Sweep(ctx, start); err != nil {
		return res, err
	}
	return res, x.Optimize(ctx)
}

// Reconcile records the stored versions the index lacks, and the stored
// zips it lacks, as found by a walk of the store: what fills stored while
// the index could not be written, or before it existed; with c.Licenses,
// also the licenses of the stored zips whose licenses it lacks. It returns
// how many versions and zips it recorded.
func Reconcile(ctx context.Context, st *store.Store, x *index.Index, c Config) (versions, zips int, err error) {
	err = walkVersions(ctx, st, func(vs []stored) error {
		mvs := make([]module.Version, len(vs))
		byVersion := make(map[module.Version]stored, len(vs))
		for i, s := range vs {
			mvs[i] = s.mv
			byVersion[s.mv] = s
		}
		missing, noZip, err := x.Missing(ctx, mvs)
		if err != nil {
			return err
		}
		want := make([]stored, 0, len(missing))
		for _, mv := range missing {
			want = append(want, byVersion[mv])
		}
		rows, err := c.rows(ctx, st, want)
		if err != nil {
			return err
		}
		if err := x.RecordVersions(ctx, rows); err != nil {
			return err
		}
		versions += len(rows)
		for _, mv := range noZip {
			if !byVersion[mv].zip {
				continue
			}
			l := c.readLookup(ctx, st, mv)
			f, h1, err := c.readZip(ctx, st, mv, l.zipH1)
			if err != nil {
				if isNotExist(err) {
					continue
				}
				return err
			}
			if err := x.RecordZip(ctx, mv, *f, h1); err != nil {
				return err
			}
			zips++
		}
		var zipped []module.Version
		for _, s := range vs {
			if s.zip {
				zipped = append(zipped, s.mv)
			}
		}
		_, err = c.detectMissing(ctx, st, x, zipped)
		return err
	})
	return versions, zips, err
}
