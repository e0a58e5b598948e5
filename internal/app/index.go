package app

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/indexer"
	"github.com/modvault/modvault/internal/redact"
)

// openIndex opens the metadata index (--database), after the store. With
// neither --database nor a directory for the default SQLite file (a
// mem:// store), the index is a temporary SQLite file, removed at Close
// like the store's content.
func (a *App) openIndex(ctx context.Context) error {
	cfg := a.cfg
	if cfg.Database == config.DatabaseOff {
		a.log.Warn("no metadata index (--database off): no audit trail and no /api/v1/; /catalog and /index walk the store")
		return nil
	}
	dir := cfg.IndexDir
	if cfg.Database == "" && dir == "" {
		tmp, err := os.MkdirTemp("", "modvault-index-") // not in --temp-dir, which holds only fills
		if err != nil {
			return err
		}
		a.onClose(func() error { return os.RemoveAll(tmp) })
		dir = tmp
	}
	x, err := index.Open(ctx, cfg.Database, index.Options{
		Dir:       dir,
		Logger:    a.log,
		Replica:   cfg.Replica,
		Retention: cfg.EventRetention,
	})
	if err != nil {
		return err
	}
	a.index = x
	a.onClose(x.Close) // flushes the buffered events
	if x.Driver() == "sqlite" && !config.FileStore(cfg.Storage) && !isMem(cfg.Storage) {
		a.log.Warn("the metadata index is an SQLite file, but the store is a bucket: replicas sharing the bucket would each keep their own index; give them one --database postgres://…")
	}
	a.log.Info("metadata index open", "driver", x.Driver(), "database", redact.URL(cfg.Database), "dir", dir, "replica", cfg.Replica, "event_retention", cfg.EventRetention)
	return nil
}

// isMem reports whether storage is an in-memory store.
func isMem(storage string) bool { return strings.HasPrefix(storage, "mem://") }

// indexConfig says how versions are described in the index.
func (a *App) indexConfig() indexer.Config {
	return indexer.Config{
		SumDBs:   a.cfg.SumDB,
		NoVerify: a.cfg.GONOSUMDB,
		TempDir:  a.cfg.TempDir,
		// Licenses are detected only for the policy's license check.
		Licenses: len(a.cfg.Policy.LicenseAllow) > 0,
		Log:      a.log,
	}
}

// newRecorder makes what records the vault's fills in the index.
func (a *App) newRecorder() error {
	if a.index == nil {
		return nil
	}
	a.missed = make(chan struct{}, 1)
	a.recorder = &indexer.Recorder{Index: a.index, Store: a.store, Config: a.indexConfig(), Log: a.log, Missed: a.missed}
	a.metrics.WatchIndex(a.index.Stats, a.recorder.Failed.Load)
	return nil
}

// reconcileIndex records, in the background, the stored versions the index
// lacks: at start (stored while it could not be written, or before it
// existed), and again whenever a fill could not be recorded (the database
// was down), retrying until the database answers. It stops at Close.
func (a *App) reconcileIndex(ctx context.Context) error {
	if a.index == nil {
		return nil
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.reconcile(rctx)
		for {
			select {
			case <-rctx.Done():
				return
			case <-a.missed:
			}
			for delay := reconcileRetry; ; delay = min(2*delay, maxReconcileRetry) {
				select {
				case <-rctx.Done():
					return
				case <-time.After(delay):
				}
				select {
				case <-a.missed: // covered by this attempt
				default:
				}
				if a.reconcile(rctx) == nil {
					break
				}
			}
		}
	}()
	a.onClose(func() error { cancel(); <-done; return nil })
	return nil
}

// The wait before reconciling after a fill could not be recorded, doubling
// while reconciling fails.
const (
	reconcileRetry    = time.Second
	maxReconcileRetry = time.Minute
)

// reconcile records the stored versions the index lacks, and logs what it
// did.
func (a *App) reconcile(ctx context.Context) error {
	start := time.Now()
	versions, zips, err := indexer.Reconcile(ctx, a.store, a.index, a.indexConfig())
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("index: reconciling with the store failed; retrying after a failed fill, or run modvault reindex", "err", err)
	case versions > 0 || zips > 0:
		a.log.Info("index: recorded stored versions it lacked", "versions", versions, "zips", zips, "duration", time.Since(start))
	}
	return err
}
