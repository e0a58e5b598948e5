package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/modvault/modvault/internal/store"
)

// Updater keeps a [DB] current: it mirrors a database into the store and
// loads the mirror whenever the stored index/db.json changes (by its own
// mirroring, another replica's sharing the bucket, or an imported bundle).
// Set the fields before the first call; the methods are safe for
// concurrent use.
type Updater struct {
	// Source is the database's URL (http, https or file). Empty: mirror
	// nothing, only load what the store holds (an air-gapped copy).
	Source string
	Store  *store.Store
	Client *http.Client // for http(s) sources; nil means http.DefaultClient
	Log    *slog.Logger // nil means slog.Default()

	db atomic.Pointer[DB]
}

// DB returns the current database: nil until the first successful load.
// A nil *DB has no vulnerabilities.
func (u *Updater) DB() *DB { return u.db.Load() }

// Update mirrors the source (if any), then loads the mirror ([Updater.Reload]).
// A failed mirror does not stop the load: a mirror stored earlier (or
// brought in by a bundle) is still loaded, and the error is returned.
func (u *Updater) Update(ctx context.Context) error {
	var mirrorErr error
	if u.Source != "" {
		_, mirrorErr = mirrorWith(ctx, u.Source, u.Store, u.Client)
	}
	return errors.Join(mirrorErr, u.Reload(ctx))
}

// Reload loads the mirror the store holds, without asking the source, if
// its index/db.json's modified time differs from the current DB's. With
// no mirror stored, the error matches fs.ErrNotExist.
func (u *Updater) Reload(ctx context.Context) error {
	cur := u.db.Load()
	b, err := u.Store.ReadAll(ctx, Prefix+dbEndpoint+".json")
	if err != nil {
		return fmt.Errorf("vulndb: loading: %w", err)
	}
	var meta dbMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("vulndb: loading %s: %w", dbEndpoint, err)
	}
	if cur != nil && cur.Modified().Equal(meta.Modified) {
		return nil
	}
	db, err := Load(ctx, u.Store, cur)
	if err != nil {
		return err
	}
	u.db.Store(db)
	u.log().InfoContext(ctx, "vulndb: loaded", "modified", db.Modified(), "entries", db.Len())
	return nil
}

// Run calls Update now and then every interval until ctx is done,
// logging failures. Each Update is given the interval (at least a minute)
// to finish, so a source that stalls delays no more than one update.
func (u *Updater) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		uctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
		err := u.Update(uctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			u.log().WarnContext(ctx, "vulndb: update failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (u *Updater) log() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.Default()
}
