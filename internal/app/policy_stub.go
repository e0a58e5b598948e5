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
