package app

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/indexer"
)

// Reindex rebuilds the metadata index of cfg's store ("modvault reindex"):
// it opens the store and the index as serve does, records every stored
// version, removes those no longer stored, and refreshes the database's
// statistics (indexer.Reindex), writing progress lines to progress.
// Events and hit counters are kept.
func Reindex(ctx context.Context, cfg config.Serve, log *slog.Logger, progress io.Writer) (_ indexer.ReindexResult, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if cerr := a.Close(); err == nil {
			err = cerr
		}
	}()
	if err := a.openStore(ctx); err != nil {
		return indexer.ReindexResult{}, err
	}
	if cfg.Database == config.DatabaseOff {
		return indexer.ReindexResult{}, errors.New("reindex: --database is off: there is no index to rebuild")
	}
	if err := a.openIndex(ctx); err != nil {
		return indexer.ReindexResult{}, err
	}
	return indexer.Reindex(ctx, a.store, a.index, a.indexConfig(), progress)
}
