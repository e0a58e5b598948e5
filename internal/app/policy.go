package app

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/modvault/modvault/internal/indexer"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vulndb"
)

// vulnDBStartTimeout bounds the first mirror of a vulnerability database
// at start, when the store holds none yet.
const vulnDBStartTimeout = 2 * time.Minute

// loadVulnDB makes the updater of the vulnerability database mirror and
// loads what the store holds (usable at once, and offline). With --vulndb
// and nothing stored yet, it mirrors the source first, so that the first
// requests are judged; a source it cannot reach is logged, not fatal: the
// refresh (refreshVulnDB) tries again.
func (a *App) loadVulnDB(ctx context.Context) error {
	u := &vulndb.Updater{
		Source: a.cfg.VulnDB,
		Store:  a.store,
		Client: &http.Client{Transport: upstream.NewTransport()},
		Log:    a.log,
	}
	a.vulndb = u
	if err := u.Reload(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("vulndb: the stored mirror cannot be loaded", "err", err)
	}
	if a.cfg.VulnDB == "" || u.DB() != nil {
		return nil
	}
	uctx, cancel := context.WithTimeout(ctx, vulnDBStartTimeout)
	defer cancel()
	a.vulndbFresh = true
	if err := u.Update(uctx); err != nil {
		a.log.Warn("vulndb: the first mirror failed: no vulnerability is known until a refresh succeeds", "vulndb", a.cfg.VulnDB, "err", err)
	}
	return nil
}

// newPolicy builds the policy engine, when a policy setting asks for a
// check or a mirror of the vulnerability database is stored. Licenses and
// publication times come from the metadata index.
func (a *App) newPolicy() error {
	cfg := a.cfg
	if !cfg.PolicyOn() && a.vulndb.DB() == nil {
		return nil
	}
	src := policy.Sources{Vulns: a.vulndb.DB}
	if a.index != nil {
		in := indexer.PolicyInputs{Index: a.index, Log: a.log}
		src.Licenses, src.Published = in.Licenses, in.Published
	}
	e, err := policy.New(cfg.Policy, src)
	if err != nil {
		return err
	}
	a.policy = e
	a.log.Info("policy on", "mode", e.Config().Mode, "rules", len(cfg.Policy.Rules), "vulndb", cfg.VulnDB,
		"vuln_action", e.Config().VulnAction, "license_allow", cfg.Policy.LicenseAllow,
		"license_action", e.Config().LicenseAction, "min_age", cfg.Policy.MinAge)
	return nil
}

// seen records the first sight of versions in the index, for the minimum
// age (vault.Options.Seen). A failed write is logged: the version is then
// undated and held back, and the next sight records it.
func (a *App) seen(ctx context.Context, mod string, versions []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.index.Seen(ctx, mod, versions, time.Now()); err != nil {
		a.log.Warn("index: recording versions seen failed", "module", mod, "err", err)
	}
}

// refreshVulnDB mirrors the vulnerability database again every
// --vulndb-refresh (without --vulndb, reloads the store's mirror, which a
// bundle import or another replica may have replaced), until Close. It
// runs last, so that nothing is left running when an earlier step fails.
func (a *App) refreshVulnDB(ctx context.Context) error {
	if a.policy == nil {
		return nil
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if a.vulndbFresh { // loadVulnDB has just mirrored
			select {
			case <-rctx.Done():
				return
			case <-time.After(a.cfg.VulnDBRefresh):
			}
		}
		a.vulndb.Run(rctx, a.cfg.VulnDBRefresh)
	}()
	a.onClose(func() error { cancel(); <-done; return nil })
	return nil
}
