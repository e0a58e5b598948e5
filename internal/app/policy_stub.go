package app

import (
	"context"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/license"
)

// TEMPORARY until p14-index is merged.
type stubInputs struct{}

func (stubInputs) Licenses(ctx context.Context, mv module.Version) []license.License { return nil }
func (stubInputs) Published(ctx context.Context, mv module.Version) (time.Time, bool) {
	return time.Time{}, false
}
func (a *App) policyInputs() stubInputs { return stubInputs{} }

// seen records the first sight of versions in the index, for the minimum
// age (vault.Options.Seen). A failed write is logged: the version is then
// undated and held back, and the next sight records it.
func (a *App) seen(ctx context.Context, mod string, versions []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := error(nil); err != nil {
		a.log.Warn("index: recording versions seen failed", "module", mod, "err", err)
	}
}
