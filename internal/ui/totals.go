package ui

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/modvault/modvault/internal/index"
)

// totalsWait bounds how long a request waits for totals that are being
// read for the first time; then /ui/ says they are being counted.
const totalsWait = 40 * time.Millisecond

// errCounting is the error of totals that are still being read for the
// first time.
var errCounting = errorString("the totals are being counted")

// totals keeps the index's per-module totals ([index.Index.ModuleTotals]),
// which cost a scan of the index, and reads them again in the background
// at most every ttl. They are the same for every viewer: each request
// filters them by what its viewer may read, so old totals never show a
// viewer more than they may see.
type totals struct {
	x   *index.Index
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	t       []index.ModuleTotal // nil until read
	err     error               // of the latest read
	at      time.Time           // when t was read
	reading chan struct{}       // closed when the running read ends; nil if none runs
}

func newTotals(x *index.Index, ttl time.Duration, now func() time.Time, log *slog.Logger) *totals {
	return &totals{x: x, ttl: ttl, now: now, log: log}
}

// get returns the totals. Totals read before are returned at once (and a
// background read starts if they are older than ttl). Before the first
// read has ended, get waits for it for at most totalsWait, then fails with
// errCounting; if the latest read failed, with its error.
func (c *totals) get(ctx context.Context) ([]index.ModuleTotal, error) {
	c.mu.Lock()
	if c.now().Sub(c.at) >= c.ttl {
		c.startLocked()
	}
	t, reading := c.t, c.reading
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if reading != nil {
		timer := time.NewTimer(totalsWait)
		defer timer.Stop()
		select {
		case <-reading:
		case <-timer.C:
			return nil, errCounting
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil, c.err
	}
	return c.t, nil
}

// refresh starts a background read, unless one runs.
func (c *totals) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
}

// startLocked starts a background read unless one runs; c.mu is held.
func (c *totals) startLocked() {
	if c.reading != nil {
		return
	}
	done := make(chan struct{})
	c.reading = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		t, err := c.x.ModuleTotals(ctx)
		if err != nil {
			c.log.Warn("ui: reading the totals of the index failed", "err", err)
		} else if t == nil {
			t = []index.ModuleTotal{}
		}
		c.mu.Lock()
		c.err, c.at, c.reading = err, c.now(), nil
		if err == nil {
			c.t = t
		}
		c.mu.Unlock()
		close(done)
	}()
}
