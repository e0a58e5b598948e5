// Package policy decides which module versions may enter builds through
// modvault: by the operator's rules, the vulnerability database, the
// versions' licenses and a minimum age.
//
// An [Engine] answers [Engine.Decide] for one module version with a
// [Decision]: allow, warn or deny, and the reasons. The caller (the vault)
// asks on every request for a version, stored or not, so a vulnerability
// published today blocks a version stored last year.
//
// Precedence, in order:
//  1. Among the [Rule]s whose module pattern and version range match, the one
//     with the most specific pattern decides: the most path elements, then the
//     most literal (non-wildcard) characters, as internal/auth's rules; at
//     equal specificity a deny wins over an allow; then the rule listed first.
//     A deny rule denies. An allow rule allows and waives every automatic
//     check below: it is how an operator makes an exception.
//  2. With no matching rule, the automatic checks all run and the most
//     severe verdict wins: each vulnerability affecting the version (warn or
//     deny, [Config.VulnAction]), licenses not all in [Config.LicenseAllow]
//     (warn or deny, [Config.LicenseAction]), and a version younger than
//     [Config.MinAge] or that cannot be dated (always held back: denied).
//  3. In report mode every verdict is computed the same way and flagged
//     [Decision.Report]; nothing is denied.
//
// Invariants: a Decision is a pure function of the rules, the loaded
// vulnerability database (identified by its Modified time), the version's
// recorded licenses and publication time, and the clock for the minimum age.
// Decisions are cached per version and dropped when the vulnerability
// database's Modified time changes or [Engine.Update] installs new rules; a
// decision that depends on the clock is kept only until it would change, and
// one made without an input (licenses not yet detected, no publication time)
// is not kept.
package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/vulndb"
)

// Actions of the automatic checks ([Config.VulnAction], [Config.LicenseAction]),
// besides [Deny].
const Warn = "warn"

// Modes ([Config.Mode]).
const (
	Enforce = "enforce" // deny what the policy denies (the default)
	Report  = "report"  // deny nothing; decide and record as if enforcing
)

// Config is the policy an operator configures.
type Config struct {
	Rules []Rule // [[policy-rule]] tables
	// VulnAction is what a known vulnerability does: Warn (the default,
	// also for "") or Deny.
	VulnAction string
	// LicenseAllow lists the SPDX IDs allowed (compared ignoring case);
	// empty turns the license check off. UNKNOWN is never allowed.
	LicenseAllow []string
	// LicenseAction is what licenses outside LicenseAllow do: Warn (the
	// default, also for "") or Deny.
	LicenseAction string
	// MinAge holds back versions published less than this long ago; zero
	// turns the check off. See [Sources.Published] for which time counts.
	MinAge time.Duration
	// Mode is Enforce (the default, also for "") or Report.
	Mode string
}

// check checks the config's values (the rules are checked by ParseRules).
func (c Config) check() error {
	var errs []error
	if c.VulnAction != "" && c.VulnAction != Warn && c.VulnAction != Deny {
		errs = append(errs, fmt.Errorf("vuln-action %q: want %q or %q", c.VulnAction, Warn, Deny))
	}
	if c.LicenseAction != "" && c.LicenseAction != Warn && c.LicenseAction != Deny {
		errs = append(errs, fmt.Errorf("license-action %q: want %q or %q", c.LicenseAction, Warn, Deny))
	}
	if c.MinAge < 0 {
		errs = append(errs, fmt.Errorf("min-age %v: negative", c.MinAge))
	}
	if c.Mode != "" && c.Mode != Enforce && c.Mode != Report {
		errs = append(errs, fmt.Errorf("policy-mode %q: want %q or %q", c.Mode, Enforce, Report))
	}
	return errors.Join(errs...)
}

// Sources are where an Engine reads what it judges. Their functions must be
// safe for concurrent use and fast: Decide calls them on every version it
// has no cached decision for.
type Sources struct {
	// Vulns returns the current vulnerability database (vulndb.Updater.DB);
	// nil, or a nil result, means no known vulnerabilities.
	Vulns func() *vulndb.DB

	// Licenses returns the licenses detected in the version's zip and
	// recorded with it (in the index), or nil if they are not known yet: the
	// zip was never filled, or was stored before detection existed. A
	// version with no license file is recorded as an empty, non-nil slice.
	// Needed when Config.LicenseAllow is set. A lookup that fails is
	// reported as nil (and logged by the source).
	Licenses func(ctx context.Context, mv module.Version) []license.License

	// Published returns the time from which the version's age is counted,
	// and whether it is known. Needed when Config.MinAge is set.
	//
	// Which time to trust: the earliest time that someone other than the
	// module's author recorded the version. The Time of a .info file comes
	// from the tag's commit, which whoever pushes the tag chooses: a hijacker
	// can date a release last year, so it is never used. modvault's own
	// record is trusted: the time this modvault first saw the version from
	// its upstream (in a list, a @latest answer or a fetch), kept in the
	// index by its own clock, which can only be later than the true
	// publication, so it can only hold a version back longer. An operator
	// with a better source (the module index feed of the upstream mirror,
	// whose timestamps are that mirror's first sight of each version, or
	// the first-seen times of another modvault) gives it to the source, which
	// returns the earliest of the times it trusts.
	//
	// A version the source cannot date is held back (denied, with the reason
	// "publication time unknown"), not allowed: the versions an attacker has
	// just published are exactly the ones modvault has never seen, so
	// allowing undated versions would make the check void. That is why the
	// caller must record a first-seen time for every version it meets,
	// denied or not, including each version of an upstream list; the clock
	// then starts at the first request, and an allow rule lets a version
	// through at once. Such decisions are not cached.
	Published func(ctx context.Context, mv module.Version) (time.Time, bool)

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// policyDefaults returns cfg with its defaults filled in.
func policyDefaults(cfg Config) Config {
	if cfg.VulnAction == "" {
		cfg.VulnAction = Warn
	}
	if cfg.LicenseAction == "" {
		cfg.LicenseAction = Warn
	}
	if cfg.Mode == "" {
		cfg.Mode = Enforce
	}
	return cfg
}
