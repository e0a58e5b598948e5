package policy_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/policy"
)

var ctx = context.Background()

func TestVulnDeny(t *testing.T) {
	u, _ := newUpdater(t, entryFixed, entryLastAffected, entryWithdrawn)
	e := newEngine(t, policy.Config{VulnAction: "deny"}, policy.Sources{Vulns: u.DB})

	d := e.Decide(ctx, mv("example.com/vuln@v1.2.3"))
	const want = "modvault policy: example.com/vuln@v1.2.3 denied: GO-2099-0001 (fixed in v1.2.4)"
	if !d.Denied() || d.Text() != want {
		t.Errorf("Decide(vuln@v1.2.3) = %v %q, want denied %q", d.Verdict, d.Text(), want)
	}
	err := d.Err()
	if fault.Of(err) != fault.Policy || err.Error() != want {
		t.Errorf("Err() = %v (kind %v), want kind policy %q", err, fault.Of(err), want)
	}
	if len(d.Reasons) != 1 || d.Reasons[0].Kind != policy.VulnKind || d.Reasons[0].ID != "GO-2099-0001" {
		t.Errorf("Reasons = %+v, want only GO-2099-0001 (the withdrawn GO-2099-0003 ignored)", d.Reasons)
	}

	// The fixed version: allowed, the withdrawn entry that would cover it ignored.
	if d := e.Decide(ctx, mv("example.com/vuln@v1.2.4")); d.Verdict != policy.Allowed || d.Err() != nil || d.Text() != "" {
		t.Errorf("Decide(vuln@v1.2.4) = %v %q, want allowed", d.Verdict, d.Text())
	}
	if d := e.Decide(ctx, mv("example.com/ok@v0.1.0")); d.Verdict != policy.Allowed {
		t.Errorf("Decide(ok@v0.1.0) = %v %q: only a withdrawn entry names it", d.Verdict, d.Text())
	}
	const wantLast = "modvault policy: example.com/last@v1.1.0 denied: GO-2099-0002 (no fixed version)"
	if got := e.Decide(ctx, mv("example.com/last@v1.1.0")).Text(); got != wantLast {
		t.Errorf("Text = %q, want %q", got, wantLast)
	}
	if d := e.Decide(ctx, mv("example.com/last@v1.1.1")); d.Verdict != policy.Allowed {
		t.Errorf("Decide(last@v1.1.1) = %v, want allowed (after last_affected)", d.Verdict)
	}
}

func TestVulnWarn(t *testing.T) {
	u, _ := newUpdater(t, entryFixed)
	for _, action := range []string{"", "warn"} {
		e := newEngine(t, policy.Config{VulnAction: action}, policy.Sources{Vulns: u.DB})
		d := e.Decide(ctx, mv("example.com/vuln@v1.0.0"))
		const want = "modvault policy: example.com/vuln@v1.0.0 warning: GO-2099-0001 (fixed in v1.2.4)"
		if d.Verdict != policy.Warned || d.Denied() || d.Err() != nil || d.Text() != want {
			t.Errorf("vuln-action %q: Decide = %v %q, want warned %q and no error", action, d.Verdict, d.Text(), want)
		}
	}
}

func TestVulnAllowRuleWaives(t *testing.T) {
	u, _ := newUpdater(t, entryFixed)
	e := newEngine(t, policy.Config{
		VulnAction: "deny",
		Rules:      []policy.Rule{{Module: "example.com/vuln", Versions: "v1.2.3", Action: "allow", Reason: "Bad is not called"}},
	}, policy.Sources{Vulns: u.DB})
	if d := e.Decide(ctx, mv("example.com/vuln@v1.2.3")); d.Verdict != policy.Allowed || d.Reasons[0].Kind != policy.RuleKind {
		t.Errorf("Decide(vuln@v1.2.3) = %v %+v, want allowed by the rule", d.Verdict, d.Reasons)
	}
	if d := e.Decide(ctx, mv("example.com/vuln@v1.2.2")); !d.Denied() {
		t.Errorf("Decide(vuln@v1.2.2) = %v, want denied (the rule covers v1.2.3 only)", d.Verdict)
	}
}

// licenses is a Sources.Licenses recording what each version holds, as the
// index would after fills; it counts lookups.
type licenses struct {
	mu    sync.Mutex
	m     map[module.Version][]license.License
	calls atomic.Int64
}

func (l *licenses) get(_ context.Context, mv module.Version) []license.License {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[mv]
}

func (l *licenses) set(mv module.Version, ls []license.License) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[mv] = ls
}

func lic(path string, types ...string) license.License {
	return license.License{Path: path, Types: types, Coverage: 100}
}

func TestLicenses(t *testing.T) {
	ls := &licenses{m: map[module.Version][]license.License{
		mv("a.com/agpl@v1.0.0"):    {lic("LICENSE", "AGPL-3.0")},
		mv("a.com/mit@v1.0.0"):     {lic("LICENSE", "MIT")},
		mv("a.com/mixed@v1.0.0"):   {lic("LICENSE", "Apache-2.0"), lic("third_party/x/COPYING", "BSD-3-Clause")},
		mv("a.com/unknown@v1.0.0"): {lic("LICENSE", license.Unknown)},
		mv("a.com/none@v1.0.0"):    {},
	}}
	allow := []string{"MIT", "BSD-3-Clause", "Apache-2.0"}
	e := newEngine(t, policy.Config{LicenseAllow: allow, LicenseAction: "deny"}, policy.Sources{Licenses: ls.get})
	for _, tc := range []struct {
		mv   string
		want policy.Verdict
		text string
	}{
		{"a.com/agpl@v1.0.0", policy.Denied, "modvault policy: a.com/agpl@v1.0.0 denied: license AGPL-3.0 (LICENSE) not allowed"},
		{"a.com/mit@v1.0.0", policy.Allowed, ""},
		{"a.com/mixed@v1.0.0", policy.Allowed, ""},
		{"a.com/unknown@v1.0.0", policy.Denied, "modvault policy: a.com/unknown@v1.0.0 denied: license of LICENSE not recognized (UNKNOWN)"},
		{"a.com/none@v1.0.0", policy.Denied, "modvault policy: a.com/none@v1.0.0 denied: no license file at the module root (UNKNOWN)"},
	} {
		d := e.Decide(ctx, mv(tc.mv))
		if d.Verdict != tc.want || d.Text() != tc.text || d.Incomplete {
			t.Errorf("Decide(%s) = %v %q (incomplete %v), want %v %q", tc.mv, d.Verdict, d.Text(), d.Incomplete, tc.want, tc.text)
		}
	}

	// Not detected yet: no license verdict, incomplete, and not cached, so
	// the licenses recorded by the fill count at the next decision.
	later := mv("a.com/later@v1.0.0")
	if d := e.Decide(ctx, later); d.Verdict != policy.Allowed || !d.Incomplete {
		t.Errorf("Decide(undetected) = %v incomplete=%v, want allowed, incomplete", d.Verdict, d.Incomplete)
	}
	ls.set(later, []license.License{lic("LICENSE", "AGPL-3.0")})
	if d := e.Decide(ctx, later); !d.Denied() || d.Incomplete {
		t.Errorf("Decide(detected AGPL) = %v incomplete=%v, want denied", d.Verdict, d.Incomplete)
	}
}

func TestLicenseWarnAndVulnTogether(t *testing.T) {
	u, _ := newUpdater(t, entryFixed)
	ls := &licenses{m: map[module.Version][]license.License{mv("example.com/vuln@v1.0.0"): {lic("LICENSE", "AGPL-3.0")}}}
	e := newEngine(t, policy.Config{VulnAction: "deny", LicenseAllow: []string{"MIT"}}, policy.Sources{Vulns: u.DB, Licenses: ls.get})
	d := e.Decide(ctx, mv("example.com/vuln@v1.0.0"))
	if d.Verdict != policy.Denied || len(d.Reasons) != 2 || d.Reasons[0].Kind != policy.VulnKind || d.Reasons[1].Kind != policy.LicenseKind || d.Reasons[1].Verdict != policy.Warned || d.Reasons[1].ID != "AGPL-3.0" {
		t.Fatalf("Decide = %v %+v, want denied by the vulnerability, then a license warning", d.Verdict, d.Reasons)
	}
	// The text shows the reasons of the verdict's severity only.
	if got, want := d.Text(), "modvault policy: example.com/vuln@v1.0.0 denied: GO-2099-0001 (fixed in v1.2.4)"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

// clock is a settable Sources.Now.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *clock) set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }

func TestMinAge(t *testing.T) {
	now := time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)
	var clk clock
	clk.set(now)
	published := map[module.Version]time.Time{
		mv("a.com/x@v1.0.0"): now.Add(-30 * 24 * time.Hour),
		mv("a.com/x@v1.1.0"): now.Add(-2 * time.Hour),
		mv("a.com/y@v1.1.0"): now.Add(-2 * time.Hour),
	}
	var mu sync.Mutex
	pub := func(_ context.Context, mv module.Version) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		t, ok := published[mv]
		return t, ok
	}
	e := newEngine(t, policy.Config{
		MinAge: 72 * time.Hour,
		Rules:  []policy.Rule{{Module: "a.com/y", Action: "allow", Reason: "our own"}},
	}, policy.Sources{Published: pub, Now: clk.now})

	if d := e.Decide(ctx, mv("a.com/x@v1.0.0")); d.Verdict != policy.Allowed {
		t.Errorf("30 days old: %v %q, want allowed", d.Verdict, d.Text())
	}
	d := e.Decide(ctx, mv("a.com/x@v1.1.0"))
	const want = "modvault policy: a.com/x@v1.1.0 denied: published 2099-03-01T10:00:00Z, held back until 2099-03-04T10:00:00Z (minimum age 72h)"
	if !d.Denied() || d.Text() != want || d.Reasons[0].Kind != policy.AgeKind {
		t.Errorf("2 hours old: %v %q, want denied %q", d.Verdict, d.Text(), want)
	}
	// The allow rule is the exception.
	if d := e.Decide(ctx, mv("a.com/y@v1.1.0")); d.Verdict != policy.Allowed {
		t.Errorf("2 hours old, allow rule: %v %q, want allowed", d.Verdict, d.Text())
	}
	// Undated: held back, not cached.
	d = e.Decide(ctx, mv("a.com/x@v1.2.0"))
	if !d.Denied() || !d.Incomplete || !strings.Contains(d.Text(), "publication time unknown, held back (minimum age 72h)") {
		t.Errorf("undated: %v incomplete=%v %q, want held back", d.Verdict, d.Incomplete, d.Text())
	}
	mu.Lock()
	published[mv("a.com/x@v1.2.0")] = now.Add(-100 * time.Hour)
	mu.Unlock()
	if d := e.Decide(ctx, mv("a.com/x@v1.2.0")); d.Verdict != policy.Allowed {
		t.Errorf("dated after an undated decision: %v %q, want allowed", d.Verdict, d.Text())
	}
	// The cached hold expires when the version comes of age.
	clk.add(70*time.Hour - time.Second)
	if d := e.Decide(ctx, mv("a.com/x@v1.1.0")); !d.Denied() {
		t.Errorf("one second before its time: %v, want denied", d.Verdict)
	}
	clk.add(time.Second)
	if d := e.Decide(ctx, mv("a.com/x@v1.1.0")); d.Verdict != policy.Allowed {
		t.Errorf("72 hours old: %v %q, want allowed", d.Verdict, d.Text())
	}
}

func TestReportMode(t *testing.T) {
	u, _ := newUpdater(t, entryFixed)
	e := newEngine(t, policy.Config{
		Mode:       "report",
		VulnAction: "deny",
		Rules:      []policy.Rule{{Module: "a.com/x", Action: "deny", Reason: "no"}},
	}, policy.Sources{Vulns: u.DB})
	for _, tc := range []struct{ mv, text string }{
		{"a.com/x@v1.0.0", "modvault policy (report): a.com/x@v1.0.0 would be denied: no (policy-rule deny a.com/x)"},
		{"example.com/vuln@v1.0.0", "modvault policy (report): example.com/vuln@v1.0.0 would be denied: GO-2099-0001 (fixed in v1.2.4)"},
	} {
		d := e.Decide(ctx, mv(tc.mv))
		if d.Verdict != policy.Denied || !d.Report || d.Denied() || d.Err() != nil || d.Text() != tc.text {
			t.Errorf("Decide(%s) = %v report=%v denied=%v err=%v %q, want verdict deny, reported, not denied: %q", tc.mv, d.Verdict, d.Report, d.Denied(), d.Err(), d.Text(), tc.text)
		}
	}
	list := []string{"v1.0.0", "v1.2.4"}
	if got := e.FilterList(ctx, "example.com/vuln", list); !slices.Equal(got, list) {
		t.Errorf("FilterList in report mode = %v, want %v", got, list)
	}
}

func TestCacheInvalidation(t *testing.T) {
	u, src := newUpdater(t, entryFixed)
	ls := &licenses{m: map[module.Version][]license.License{mv("example.com/ok@v1.0.0"): {lic("LICENSE", "MIT")}}}
	e := newEngine(t, policy.Config{VulnAction: "deny", LicenseAllow: []string{"MIT"}}, policy.Sources{Vulns: u.DB, Licenses: ls.get})
	ok := mv("example.com/ok@v1.0.0")

	if d := e.Decide(ctx, ok); d.Verdict != policy.Allowed {
		t.Fatalf("before: %v %q, want allowed", d.Verdict, d.Text())
	}
	e.Decide(ctx, ok)
	if n := ls.calls.Load(); n != 1 {
		t.Errorf("%d license lookups for two decisions, want 1 (the second cached)", n)
	}

	// A vulnerability published later denies the version already decided.
	writeDB(t, src, entryFixed, entryLater)
	if err := u.Update(ctx); err != nil {
		t.Fatal(err)
	}
	const want = "modvault policy: example.com/ok@v1.0.0 denied: GO-2099-0006 (fixed in v1.0.1)"
	if d := e.Decide(ctx, ok); d.Text() != want {
		t.Errorf("after the database changed: %q, want %q", d.Text(), want)
	}

	// New rules replace every cached decision.
	if err := e.Update(policy.Config{VulnAction: "deny", LicenseAllow: []string{"MIT"}, Rules: []policy.Rule{{Module: "example.com/ok", Action: "allow"}}}); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(ctx, ok); d.Verdict != policy.Allowed {
		t.Errorf("after an allow rule: %v %q, want allowed", d.Verdict, d.Text())
	}
	// A bad update keeps the rules in force.
	if err := e.Update(policy.Config{Rules: []policy.Rule{{Module: "x", Action: "maybe"}}}); err == nil {
		t.Error("Update with a bad rule: no error")
	}
	if d := e.Decide(ctx, ok); d.Verdict != policy.Allowed {
		t.Errorf("after a failed update: %v %q, want allowed", d.Verdict, d.Text())
	}
}

func TestFilterListAndLatest(t *testing.T) {
	u, _ := newUpdater(t, entryFixed)
	e := newEngine(t, policy.Config{
		VulnAction: "deny",
		Rules:      []policy.Rule{{Module: "example.com/vuln", Versions: ">=v1.3.0", Action: "deny", Reason: "bad release"}},
	}, policy.Sources{Vulns: u.DB})
	list := []string{"v1.0.0", "v1.2.4", "v1.2.5-rc.1", "v1.3.0", "v1.3.1-0.20990101000000-abcdefabcdef", "v1.2.3"}
	want := []string{"v1.2.4", "v1.2.5-rc.1"}
	if got := e.FilterList(ctx, "example.com/vuln", list); !slices.Equal(got, want) {
		t.Errorf("FilterList = %v, want %v", got, want)
	}
	if list[0] != "v1.0.0" || len(list) != 6 {
		t.Errorf("FilterList modified its argument: %v", list)
	}
	if v, ok := e.Latest(ctx, "example.com/vuln", list); v != "v1.2.4" || !ok {
		t.Errorf("Latest = %q, %v, want v1.2.4 (the newest allowed release)", v, ok)
	}
	if v, ok := e.Latest(ctx, "example.com/vuln", []string{"v1.2.0", "v1.2.5-rc.1", "v1.3.0", "bad"}); v != "v1.2.5-rc.1" || !ok {
		t.Errorf("Latest without an allowed release = %q, %v, want v1.2.5-rc.1", v, ok)
	}
	if v, ok := e.Latest(ctx, "example.com/vuln", []string{"v1.0.0", "v1.3.0"}); ok {
		t.Errorf("Latest with every version denied = %q, true", v)
	}
	clean := []string{"v1.2.4"}
	if got := e.FilterList(ctx, "example.com/vuln", clean); &got[0] != &clean[0] {
		t.Error("FilterList copied a list it left whole")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  policy.Config
		src  policy.Sources
		want string
	}{
		{policy.Config{VulnAction: "block"}, policy.Sources{}, `vuln-action "block"`},
		{policy.Config{LicenseAction: "deny!"}, policy.Sources{}, `license-action "deny!"`},
		{policy.Config{Mode: "dry-run"}, policy.Sources{}, `policy-mode "dry-run"`},
		{policy.Config{MinAge: -time.Hour}, policy.Sources{}, `min-age -1h0m0s: negative`},
		{policy.Config{LicenseAllow: []string{"MIT"}}, policy.Sources{}, "nothing records licenses"},
		{policy.Config{MinAge: time.Hour}, policy.Sources{}, "nothing records publication times"},
		{policy.Config{Rules: []policy.Rule{{Module: "a.com", Action: "deny", Versions: "1"}}}, policy.Sources{}, `policy-rule 1 (module "a.com"): versions "1"`},
	} {
		_, err := policy.New(tc.cfg, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	e := newEngine(t, policy.Config{}, policy.Sources{})
	if c := e.Config(); c.VulnAction != "warn" || c.LicenseAction != "warn" || c.Mode != "enforce" {
		t.Errorf("defaults = %+v", c)
	}
}

// TestDecideStored: once a version's zip is stored, licenses still unknown
// (their detection failed) count as UNKNOWN: denied or warned by the
// license action, not cached, and a later detection decides.
func TestDecideStored(t *testing.T) {
	ls := &licenses{m: map[module.Version][]license.License{mv("a.com/mit@v1.0.0"): {lic("LICENSE", "MIT")}}}
	for _, action := range []string{"deny", "warn"} {
		e := newEngine(t, policy.Config{LicenseAllow: []string{"MIT"}, LicenseAction: action}, policy.Sources{Licenses: ls.get})
		if d := e.DecideStored(ctx, mv("a.com/mit@v1.0.0")); d.Verdict != policy.Allowed || d.Incomplete {
			t.Errorf("%s: DecideStored(MIT) = %v incomplete=%v", action, d.Verdict, d.Incomplete)
		}
		want := policy.Denied
		if action == "warn" {
			want = policy.Warned
		}
		d := e.DecideStored(ctx, mv("a.com/failed@v1.0.0"))
		if d.Verdict != want || !strings.Contains(d.Text(), "licenses not detected (yet), UNKNOWN not allowed") {
			t.Errorf("%s: DecideStored(unknown licenses) = %v %q, want %v", action, d.Verdict, d.Text(), want)
		}
		if d := e.Decide(ctx, mv("a.com/failed@v1.0.0")); d.Verdict != policy.Allowed || !d.Incomplete {
			t.Errorf("%s: Decide after DecideStored = %v incomplete=%v: the UNKNOWN was cached", action, d.Verdict, d.Incomplete)
		}
	}
	// Without the license check, nothing changes.
	e := newEngine(t, policy.Config{}, policy.Sources{Licenses: ls.get})
	if d := e.DecideStored(ctx, mv("a.com/failed@v1.0.0")); d.Verdict != policy.Allowed {
		t.Errorf("no license check: DecideStored = %v %q", d.Verdict, d.Text())
	}
}
