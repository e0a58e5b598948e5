package vault

import (
	"context"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/protocol"
)

// Policy decides which module versions may enter builds: internal/policy's
// Engine. The vault asks it on every request for a version, before it reads
// or fetches anything of it, and filters lists and @latest with it. Its
// methods must be safe for concurrent use and fast when they answer from
// their cache.
type Policy interface {
	// Decide returns the decision for mv.
	Decide(ctx context.Context, mv module.Version) policy.Decision
	// DecideStored returns the decision for mv once its zip is stored:
	// licenses still unknown then count as UNKNOWN.
	DecideStored(ctx context.Context, mv module.Version) policy.Decision
	// FilterList returns the versions of mod that may be listed.
	FilterList(ctx context.Context, mod string, versions []string) []string
	// Latest returns the newest of versions that may be served; ok is
	// false if none may.
	Latest(ctx context.Context, mod string, versions []string) (version string, ok bool)
}

// Admit returns the policy's decision on f's version (the zero Decision,
// an allow, without Options.Policy) and, if it refuses the version, the
// error to answer with (fault kind Policy, its message the decision's one
// line): then the caller reads and fetches nothing of the version. It is
// called on every request for a .info, .mod or .zip, stored or not, so a
// version stored last year is refused once a vulnerability makes the
// policy deny it.
//
// A version the policy cannot date (minimum age) is reported to
// Options.Seen, so that its age counts from now, and decided again.
// A decision that lacks the version's licenses (Incomplete: its zip is not
// stored yet) admits a .info or .mod by what is known. For a .zip Admit
// then fills the zip first (validated and verified as always; the
// Options.Stored hook records its licenses) and decides again; filled
// reports that it did. A stored zip is never served on an Incomplete
// decision: licenses still unknown then count as UNKNOWN (DecideStored).
func (v *Vault) Admit(ctx context.Context, f protocol.File) (d policy.Decision, filled bool, err error) {
	p := v.opts.Policy
	if p == nil {
		return policy.Decision{}, false, nil
	}
	d = p.Decide(ctx, f.Version)
	if d.Incomplete && undated(d) && v.opts.Seen != nil {
		v.opts.Seen(ctx, f.Path, []string{f.Version.Version})
		d = p.Decide(ctx, f.Version)
	}
	if err := d.Err(); err != nil || !d.Incomplete || f.Kind != protocol.Zip {
		return d, false, err
	}
	zip := f.As(protocol.Zip)
	stored := v.isCommitted(zip.Key)
	if !stored {
		if stored, err = v.store.Exists(ctx, zip.Key); err != nil {
			return d, false, err
		}
	}
	if !stored {
		if err := v.ensureZip(ctx, zip); err != nil {
			return d, false, err
		}
		filled = true
	}
	d = p.DecideStored(ctx, f.Version)
	return d, filled, d.Err()
}

// undated reports whether d holds a version back because its publication
// time is unknown.
func undated(d policy.Decision) bool {
	for _, r := range d.Reasons {
		if r.Kind == policy.AgeKind && r.ID == "" {
			return true
		}
	}
	return false
}

// seen reports the versions of an upstream list or @latest answer to
// Options.Seen.
func (v *Vault) seen(ctx context.Context, mod string, versions []string) {
	if v.opts.Seen != nil && len(versions) > 0 {
		v.opts.Seen(ctx, mod, versions)
	}
}
