package policy

import (
	"context"
	"slices"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// FilterList returns the versions of mod that the policy does not deny, in
// their order: what @v/list answers. versions is not modified; it is
// returned itself when nothing is left out. In report mode nothing is.
func (e *Engine) FilterList(ctx context.Context, mod string, versions []string) []string {
	var out []string
	for i, v := range versions {
		if !e.Decide(ctx, module.Version{Path: mod, Version: v}).Denied() {
			if out != nil {
				out = append(out, v)
			}
			continue
		}
		if out == nil {
			out = make([]string, i, len(versions))
			copy(out, versions[:i])
		}
	}
	if out == nil {
		return versions
	}
	return out
}

// Latest returns the newest version of mod among versions that the policy
// does not deny, as the go command's "latest" query picks it: the highest
// release, or if no release is allowed, the highest prerelease or
// pseudo-version. ok is false if every version is denied (or there are
// none). Versions that are not valid semantic versions are skipped.
//
// For @latest, the caller decides the upstream's answer first; if it is
// denied, it offers the module's list (plus that answer) here, and if ok is
// false, it refuses with the first decision's Err.
func (e *Engine) Latest(ctx context.Context, mod string, versions []string) (version string, ok bool) {
	vs := slices.DeleteFunc(slices.Clone(versions), func(v string) bool { return !semver.IsValid(v) })
	semver.Sort(vs)
	best := ""
	for _, v := range slices.Backward(vs) {
		if e.Decide(ctx, module.Version{Path: mod, Version: v}).Denied() {
			continue
		}
		if semver.Prerelease(v) == "" {
			return v, true
		}
		if best == "" {
			best = v
		}
	}
	return best, best != ""
}
