package policy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/vulndb"
)

// warmEngine returns an Engine with every check on (20 rules, a vulnerability
// database, licenses, a minimum age) and the versions it has decided once.
func warmEngine(tb testing.TB) (*policy.Engine, []module.Version) {
	u, _ := newUpdater(tb, entryFixed, entryLastAffected, entryWithdrawn)
	var rules []policy.Rule
	for i := range 20 {
		rules = append(rules, policy.Rule{Module: fmt.Sprintf("corp.example/team%d/*", i), Versions: "<v1.0.0", Action: "deny"})
	}
	mit := []license.License{lic("LICENSE", "MIT")}
	old := time.Now().Add(-1000 * time.Hour)
	e := newEngine(tb, policy.Config{
		Rules: rules, VulnAction: "deny", LicenseAllow: []string{"MIT"}, LicenseAction: "deny", MinAge: 72 * time.Hour,
	}, policy.Sources{
		Vulns:     func() *vulndb.DB { return u.DB() },
		Licenses:  func(ctx context.Context, mv module.Version) []license.License { return mit },
		Published: func(ctx context.Context, mv module.Version) (time.Time, bool) { return old, true },
	})
	var mvs []module.Version
	for i := range 1000 {
		mvs = append(mvs, module.Version{Path: fmt.Sprintf("github.com/owner%d/repo", i), Version: "v1.2.3"})
	}
	mvs = append(mvs, mv("example.com/vuln@v1.2.3")) // denied, also cached
	for _, m := range mvs {
		e.Decide(ctx, m)
	}
	return e, mvs
}

// TestDecideCachedNoAlloc: a decision already made costs no allocation.
func TestDecideCachedNoAlloc(t *testing.T) {
	e, mvs := warmEngine(t)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		e.Decide(ctx, mvs[i%len(mvs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("cached Decide: %v allocations, want 0", allocs)
	}
}

// BenchmarkDecideCached measures the warm path: a version decided before,
// with every check configured.
func BenchmarkDecideCached(b *testing.B) {
	e, mvs := warmEngine(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Decide(ctx, mvs[i%len(mvs)])
		i++
	}
}

// BenchmarkDecideCachedParallel is the warm path under concurrent requests.
func BenchmarkDecideCachedParallel(b *testing.B) {
	e, mvs := warmEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e.Decide(ctx, mvs[i%len(mvs)])
			i++
		}
	})
}

// BenchmarkDecideCold measures a decision made from the sources: rules,
// vulnerability lookup, licenses and age (a rule change or database update
// makes every version cold once).
func BenchmarkDecideCold(b *testing.B) {
	e, mvs := warmEngine(b)
	cfg := e.Config()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := e.Update(cfg); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, m := range mvs[:100] {
			e.Decide(ctx, m)
		}
	}
}
