package policy

import (
	"strings"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
)

// Verdict is what a [Decision] does with a version.
type Verdict int

// The verdicts, from the mildest: a decision's verdict is the most severe
// of its reasons'.
const (
	Allowed Verdict = iota // serve it
	Warned                 // serve it, with a warning header and an event
	Denied                 // refuse it: 403, left out of lists
)

// String returns "allow", "warn" or "deny", as events and metrics name it.
func (v Verdict) String() string {
	switch v {
	case Warned:
		return "warn"
	case Denied:
		return "deny"
	}
	return "allow"
}

// Kind is what a [Reason] comes from.
type Kind string

// The kinds of reasons.
const (
	RuleKind    Kind = "rule"    // a [[policy-rule]]
	VulnKind    Kind = "vuln"    // a vulnerability of the database
	LicenseKind Kind = "license" // the version's licenses
	AgeKind     Kind = "age"     // the minimum age
)

// Reason is one thing that made a decision.
type Reason struct {
	Kind    Kind
	Verdict Verdict // what this reason alone asks for
	// Text is a short phrase for the go command's user:
	// "GO-2026-1234 (fixed in v1.2.4)", "license AGPL-3.0 (LICENSE) not allowed".
	Text string
	// ID names what decided, for events: the rule (its String), the
	// vulnerability's ID, the licenses found ("AGPL-3.0, MIT"), or the
	// publication time (RFC 3339, empty when unknown).
	ID string
}

// Decision is the policy's answer for one module version. Decisions are
// shared between callers (cached): do not modify Reasons.
type Decision struct {
	Module  module.Version
	Verdict Verdict
	Reasons []Reason // the reasons that made the verdict, most severe first
	// Report is set in report mode: the verdict is what enforcing would
	// have done, but nothing is denied ([Decision.Denied] is false).
	Report bool
	// Incomplete is set when a check could not be made because its input
	// is not known yet (the licenses of a version whose zip modvault has
	// not filled). Such decisions are not cached; the caller decides again
	// once the input is known (after the fill).
	Incomplete bool
}

// Denied reports whether the version must be refused: the verdict is
// Denied and the policy is enforced.
func (d Decision) Denied() bool { return d.Verdict == Denied && !d.Report }

// Text returns the decision in one line for the go command's user and the
// logs, or "" for a version allowed without a reason:
//
//	modvault policy: github.com/x/y@v1.2.3 denied: GO-2026-1234 (fixed in v1.2.4)
//	modvault policy: github.com/x/y@v1.2.3 warning: license UNKNOWN (LICENSE) not allowed
//	modvault policy (report): github.com/x/y@v1.2.3 would be denied: ...
//
// Only the reasons of the verdict's severity are shown, joined by "; ".
func (d Decision) Text() string {
	if len(d.Reasons) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("modvault policy")
	if d.Report {
		b.WriteString(" (report)")
	}
	b.WriteString(": ")
	b.WriteString(d.Module.Path)
	b.WriteString("@")
	b.WriteString(d.Module.Version)
	switch {
	case d.Report && d.Verdict == Denied:
		b.WriteString(" would be denied: ")
	case d.Verdict == Denied:
		b.WriteString(" denied: ")
	case d.Verdict == Warned:
		b.WriteString(" warning: ")
	default:
		b.WriteString(" allowed: ")
	}
	n := 0
	for _, r := range d.Reasons {
		if r.Verdict != d.Verdict {
			continue
		}
		if n > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Text)
		n++
	}
	return b.String()
}

// Err returns nil unless the decision denies the version ([Decision.Denied]);
// then an error of fault kind Policy whose message is [Decision.Text], which
// the server answers with a 403 and that text as the body.
func (d Decision) Err() error {
	if !d.Denied() {
		return nil
	}
	return fault.New(fault.Policy, d.Text())
}
