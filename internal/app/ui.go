package app

import (
	"context"
	"fmt"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/indexer"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/ui"
	"github.com/modvault/modvault/internal/vulndb"
)

// newUI makes the web UI over the metadata index (nil without one), with
// the policy's decisions when a policy is on, the mirrored vulnerability
// database's findings and, when they are detected (--license-allow), the
// licenses the index records.
func (a *App) newUI() *ui.Handler {
	if a.index == nil {
		return nil
	}
	opts := ui.Options{
		Index:   a.index,
		Log:     a.log,
		ReadMod: a.readMod,
		Ready:   a.ready,
		CanRead: a.canRead(),
		Setup:   ui.Setup{URL: a.cfg.PublicURL, NoSumDB: a.cfg.GONOSUMDB, Auth: a.guard != nil},
	}
	if len(a.cfg.GOSUMDB) > 0 && len(a.cfg.SumDB) > 0 {
		db := a.cfg.GOSUMDB[0]
		// Without its URL: the go command reaches it through this server.
		opts.Setup.GOSUMDB = config.SumDB{Name: db.Name, Key: db.Key}.String()
	}
	if a.policy != nil {
		opts.Decide = a.policy.Decide
	}
	if a.cfg.VulnDB != "" || a.vulndb.DB() != nil { // else no database: none would be "known"
		opts.Vulns = a.vulns
	}
	if a.indexConfig().Licenses { // else never detected: the page would say none
		opts.Licenses = indexer.PolicyInputs{Index: a.index, Log: a.log}.Licenses
	}
	return ui.New(opts)
}

// canRead returns what decides which modules the viewer of a request to
// the web UI or the JSON API (and /catalog, /index) may see:
// auth.Auth.CanRead, or nil (every module) without access control.
func (a *App) canRead() func(ctx context.Context, modulePath string) bool {
	if a.guard == nil {
		return nil
	}
	return a.guard.CanRead
}

// vulns returns the known vulnerabilities of mv in the mirrored database:
// empty if none, nil before a mirror is loaded (ui.Options.Vulns).
func (a *App) vulns(_ context.Context, mv module.Version) []vulndb.Finding {
	db := a.vulndb.DB()
	if db == nil {
		return nil
	}
	if f := db.Vulns(mv.Path, mv.Version); f != nil {
		return f
	}
	return []vulndb.Finding{}
}

// readMod returns the stored go.mod of mv.
func (a *App) readMod(ctx context.Context, mv module.Version) ([]byte, error) {
	f, err := protocol.NewFile(mv, protocol.Mod)
	if err != nil {
		return nil, fmt.Errorf("go.mod of %s: %w", mv, err)
	}
	return a.store.ReadAll(ctx, f.Key)
}
