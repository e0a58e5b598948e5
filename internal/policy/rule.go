package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/modvault/modvault/internal/pattern"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// The actions of a [Rule].
const (
	Deny  = "deny"  // refuse what the rule matches
	Allow = "allow" // admit what the rule matches, waiving the automatic checks
)

// Rule is one [[policy-rule]] table of the config file.
type Rule struct {
	// Module is a GOPRIVATE-style pattern: a glob of leading path elements
	// ("github.com/acme/*", "example.com/x"), or "*" for every module.
	Module string `toml:"module"`
	// Versions is an optional semantic version range: comparisons joined
	// by spaces, all of which must hold (">=v1.2.0 <v1.3.0"). An operator
	// is one of <, <=, >, >=, =; a version without one means "=".
	// Empty means every version.
	Versions string `toml:"versions"`
	// Action is Deny or Allow.
	Action string `toml:"action"`
	// Reason is shown to the go command's user and recorded in events.
	Reason string `toml:"reason"`
}

// String returns the rule in one line, as `modvault config` prints it and
// as a [Reason.ID] names it: "deny github.com/x/y <v1.6.0".
func (r Rule) String() string {
	s := r.Action + " " + r.Module
	if r.Versions != "" {
		s += " " + r.Versions
	}
	return s
}

// ParseRules checks and compiles rules. An error names the rule by its
// position (counting from 1, as the tables appear in the file) and module.
func ParseRules(rules []Rule) ([]CompiledRule, error) {
	out := make([]CompiledRule, 0, len(rules))
	var errs []error
	for i, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy-rule %d (module %q): %w", i+1, r.Module, err))
			continue
		}
		out = append(out, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// CompiledRule is a checked [Rule], ready to match.
type CompiledRule struct {
	Rule
	rank   pattern.Specificity
	ranges []bound
}

// bound is one comparison of a version range: semver.Compare(v, version)
// must be one of the signs allowed.
type bound struct {
	version    string
	lt, eq, gt bool // which results of the comparison satisfy it
}

func compileRule(r Rule) (CompiledRule, error) {
	if err := pattern.Check(r.Module); err != nil {
		return CompiledRule{}, fmt.Errorf("module: %w", err)
	}
	if r.Action != Deny && r.Action != Allow {
		return CompiledRule{}, fmt.Errorf("action %q: want %q or %q", r.Action, Deny, Allow)
	}
	ranges, err := parseRange(r.Versions)
	if err != nil {
		return CompiledRule{}, fmt.Errorf("versions %q: %w", r.Versions, err)
	}
	return CompiledRule{
		Rule:   r,
		rank:   pattern.Rank(r.Module),
		ranges: ranges,
	}, nil
}

// parseRange parses a Versions range; empty is every version.
func parseRange(s string) ([]bound, error) {
	var bs []bound
	for f := range strings.FieldsSeq(s) {
		// op is the leading run of operator characters; the rest is the version.
		op := f[:len(f)-len(strings.TrimLeft(f, "<>="))]
		v := f[len(op):]
		var b bound
		switch op {
		case "<":
			b = bound{lt: true}
		case "<=":
			b = bound{lt: true, eq: true}
		case ">":
			b = bound{gt: true}
		case ">=":
			b = bound{gt: true, eq: true}
		case "=", "":
			b = bound{eq: true}
		default:
			return nil, fmt.Errorf("operator %q: want <, <=, >, >= or =", op)
		}
		if v == "" {
			return nil, fmt.Errorf("%q: no version after %q", f, op)
		}
		if !semver.IsValid(v) {
			return nil, fmt.Errorf("%q is not a semantic version such as v1.2.3 (with the v)", v)
		}
		b.version = v
		bs = append(bs, b)
	}
	return bs, nil
}

// contains reports whether version satisfies every bound of the rule's
// range. Versions compare as semver says: a pseudo-version or prerelease
// comes before its release (so "<v1.6.0" holds for v1.6.0-rc.1 and for
// v1.5.1-0.20240101000000-abcdefabcdef), and "+incompatible" is ignored.
func (r *CompiledRule) contains(version string) bool {
	for _, b := range r.ranges {
		switch semver.Compare(version, b.version) {
		case -1:
			if !b.lt {
				return false
			}
		case 0:
			if !b.eq {
				return false
			}
		case 1:
			if !b.gt {
				return false
			}
		}
	}
	return true
}

// matches reports whether the rule covers mv.
func (r *CompiledRule) matches(mv module.Version) bool {
	return module.MatchPrefixPatterns(r.Module, mv.Path) && r.contains(mv.Version)
}

// moreSpecific reports whether r wins over s when both match a version:
// the pattern with more path elements, then the one with more literal
// characters; at equal specificity, a deny over an allow. Otherwise the
// rule listed first wins (the caller keeps it).
func (r *CompiledRule) moreSpecific(s *CompiledRule) bool {
	if r.rank != s.rank {
		return r.rank.MoreThan(s.rank)
	}
	return r.Action == Deny && s.Action == Allow
}

// match returns the rule that decides mv, or nil if none matches.
func match(rules []CompiledRule, mv module.Version) *CompiledRule {
	var best *CompiledRule
	for i := range rules {
		r := &rules[i]
		if r.matches(mv) && (best == nil || r.moreSpecific(best)) {
			best = r
		}
	}
	return best
}
