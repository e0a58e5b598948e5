package ui

import (
	"context"
	"net/http"
	"slices"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/policy"
)

// modulePage is the data of /ui/<module>.
type modulePage struct {
	Path     string
	Latest   string
	Versions []versionRow // newest first
	Policy   bool         // whether verdicts are shown
	ModErr   bool         // the go.mod with the retractions could not be read
}

// versionRow is one version in a module's list.
type versionRow struct {
	V         index.Version
	Latest    bool
	Retracted *retraction // nil if not retracted
	Verdict   *verdict    // nil without a policy
}

// retraction is a retract directive of a module's go.mod.
type retraction struct {
	Low, High string
	Rationale string
}

// verdict is a policy decision as the pages show it.
type verdict struct {
	Verdict string // "allow", "warn", "deny"
	Report  bool   // report mode: nothing is denied
	Reasons []policy.Reason
}

// serveModule serves /ui/<module>: every version of the module, newest
// first, with which is latest, retracted, private, denied or warned, and
// their downloads.
func (h *Handler) serveModule(w http.ResponseWriter, r *http.Request, path string) {
	if len(r.URL.RawQuery) > 0 {
		h.badRequest(w, r, errNoParams)
		return
	}
	if err := parseModule("the module path", path); err != nil {
		h.badRequest(w, r, err)
		return
	}
	ctx := r.Context()
	if !h.canRead(ctx, path) {
		h.notFound(w, r)
		return
	}
	vs, err := h.opts.Index.Versions(ctx, path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(vs) == 0 {
		h.notFound(w, r)
		return
	}
	p := &modulePage{Path: path, Policy: h.opts.Decide != nil}
	names := make([]string, len(vs))
	for i := range vs {
		names[i] = vs[i].Version
	}
	retracts, err := h.retractions(ctx, path, latest(names, nil))
	p.ModErr = err != nil
	isRetracted := func(v string) *retraction {
		for i := range retracts {
			if semver.Compare(retracts[i].Low, v) <= 0 && semver.Compare(v, retracts[i].High) <= 0 {
				return &retracts[i]
			}
		}
		return nil
	}
	p.Latest = latest(names, func(v string) bool { return isRetracted(v) != nil })
	for i := len(vs) - 1; i >= 0; i-- {
		row := versionRow{V: vs[i], Latest: vs[i].Version == p.Latest, Retracted: isRetracted(vs[i].Version)}
		row.Verdict = h.decide(ctx, module.Version{Path: path, Version: vs[i].Version})
		p.Versions = append(p.Versions, row)
	}
	h.render(w, r, http.StatusOK, "module", path, p)
}

// latest returns the version the go command resolves @latest to among
// versions (in semantic version order), leaving out those retracted says
// are retracted (nil for none): the highest release, else the highest
// pre-release, else the highest pseudo-version.
func latest(versions []string, retracted func(string) bool) string {
	var release, pre, pseudo string
	for _, v := range versions {
		if retracted != nil && retracted(v) {
			continue
		}
		switch {
		case module.IsPseudoVersion(v):
			pseudo = v
		case semver.Prerelease(v) != "":
			pre = v
		default:
			release = v
		}
	}
	for _, v := range []string{release, pre, pseudo} {
		if v != "" {
			return v
		}
	}
	return ""
}

// retractions returns the retract directives of the go.mod of path at
// version (the latest, whose go.mod the go command reads them from).
func (h *Handler) retractions(ctx context.Context, path, version string) ([]retraction, error) {
	if h.opts.ReadMod == nil || version == "" {
		return nil, nil
	}
	f, err := h.goMod(ctx, module.Version{Path: path, Version: version})
	if err != nil {
		return nil, err
	}
	var out []retraction
	for _, rt := range f.Retract {
		out = append(out, retraction{Low: rt.Low, High: rt.High, Rationale: rt.Rationale})
	}
	return out, nil
}

// goMod reads and parses the stored go.mod of mv.
func (h *Handler) goMod(ctx context.Context, mv module.Version) (*modfile.File, error) {
	b, err := h.opts.ReadMod(ctx, mv)
	if err != nil {
		h.log.Warn("ui: reading a go.mod failed", "module", mv.Path, "version", mv.Version, "err", err)
		return nil, err
	}
	f, err := modfile.ParseLax(mv.Path+"@"+mv.Version+"/go.mod", b, nil)
	if err != nil {
		h.log.Warn("ui: parsing a go.mod failed", "module", mv.Path, "version", mv.Version, "err", err)
		return nil, err
	}
	return f, nil
}

// decide returns the policy's verdict on mv, or nil without a policy.
func (h *Handler) decide(ctx context.Context, mv module.Version) *verdict {
	if h.opts.Decide == nil {
		return nil
	}
	d := h.opts.Decide(ctx, mv)
	v := &verdict{Verdict: d.Verdict.String(), Report: d.Report}
	for _, r := range d.Reasons {
		if r.Verdict == d.Verdict && d.Verdict != policy.Allowed {
			v.Reasons = append(v.Reasons, r)
		}
	}
	v.Reasons = slices.Clip(v.Reasons)
	return v
}
