package indexer

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vault"
)

// Recorder records what fills store in the index, for vault.Options.Stored.
// A failed write is logged and counted, never returned: the fill already
// succeeded, and the next Reconcile or Reindex finds what is missing.
type Recorder struct {
	Index  *index.Index
	Store  *store.Store
	Config Config
	Log    *slog.Logger
	// Failed counts the index writes that failed.
	Failed atomic.Uint64
	// Missed, if not nil, is sent a value after a failed write, without
	// blocking (so give it a buffer of one): the index lacks a stored
	// version until it is reconciled with the store.
	Missed chan<- struct{}
}

// writeTimeout bounds one index write of a fill.
const writeTimeout = 5 * time.Second

// Stored records sv: the version when its .info was committed, its zip
// when the zip was.
func (r *Recorder) Stored(ctx context.Context, sv vault.StoredVersion) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var err error
	if sv.Zip != nil {
		err = r.Index.RecordZip(ctx, sv.Version, index.File{Size: sv.Zip.Size, SHA256: sv.Zip.SHA256}, sv.Zip.H1)
	} else {
		var v index.Version
		if v, _, err = r.Config.describe(ctx, r.Store, sv.Version, sv.Info, sv.Mod, sv.From, sv.ModH1); err == nil {
			v.Private = sv.Private
			err = r.Index.RecordVersion(ctx, v)
		}
	}
	if err != nil {
		r.Failed.Add(1)
		select {
		case r.Missed <- struct{}{}:
		default:
		}
		r.Log.Warn("index: recording a stored version failed; the next reconcile adds it", "module", sv.Version.Path, "version", sv.Version.Version, "err", err)
	}
}
