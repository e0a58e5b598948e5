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
// when the zip was, and then, with Config.Licenses, the zip's licenses
// (detected before Stored returns, so that the caller's next policy
// decision sees them). A detection that fails is logged, and leaves the
// licenses unknown.
func (r *Recorder) Stored(ctx context.Context, sv vault.StoredVersion) {
	ctx = context.WithoutCancel(ctx)
	err := r.record(ctx, sv)
	if err == nil && sv.Zip != nil && r.Config.Licenses {
		_, err = recordLicenses(ctx, r.Store, r.Index, sv.Version, r.Log)
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

// record writes sv's version or zip.
func (r *Recorder) record(ctx context.Context, sv vault.StoredVersion) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if sv.Zip != nil {
		return r.Index.RecordZip(ctx, sv.Version, index.File{Size: sv.Zip.Size, SHA256: sv.Zip.SHA256}, sv.Zip.H1)
	}
	v, _, err := r.Config.describe(ctx, r.Store, sv.Version, sv.Info, sv.Mod, sv.From, sv.ModH1)
	if err != nil {
		return err
	}
	v.Private = sv.Private
	return r.Index.RecordVersion(ctx, v)
}
