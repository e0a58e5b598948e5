package api

import (
	"net/http"
	"net/url"
	"time"

	"github.com/modvault/modvault/internal/index"
)

// ModulesPage is the answer of GET /api/v1/modules.
type ModulesPage struct {
	Modules []ModuleSummary `json:"modules"`
	// Next is the cursor of the next page; "" on the last one.
	Next string `json:"next"`
}

// ModuleSummary is a module found by a search.
type ModuleSummary struct {
	Path     string `json:"path"`
	Versions int    `json:"versions"` // how many versions of it the index holds
	Highest  string `json:"highest"`  // the highest in semantic version order
}

// ModuleVersions is the answer of GET /api/v1/modules/<module>.
type ModuleVersions struct {
	Path     string           `json:"path"`
	Versions []VersionSummary `json:"versions"` // in semantic version order
}

// VersionSummary is one version of a module, as its module's answer lists
// it; GET /api/v1/versions/<module>@<version> tells more.
type VersionSummary struct {
	Version      string    `json:"version"`
	StoredAt     time.Time `json:"stored_at"`
	Private      bool      `json:"private"`
	InfoSize     int64     `json:"info_size"`
	ModSize      int64     `json:"mod_size"`
	ZipSize      *int64    `json:"zip_size"` // null while no zip is stored
	ModH1        string    `json:"mod_h1"`
	ZipH1        string    `json:"zip_h1,omitempty"`
	Downloads    int64     `json:"downloads"`
	LastDownload time.Time `json:"last_download,omitzero"`
}

// serveModules serves GET /api/v1/modules?q=&cursor=&limit=: the modules
// whose path contains q (ignoring ASCII case) that the viewer may read, a
// page at a time, in the order and with the cursors of /catalog.
func (h *Handler) serveModules(w http.ResponseWriter, r *http.Request, q url.Values, _ string) {
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		h.badRequest(w, false, err)
		return
	}
	page, err := h.ix.VisibleModules(r.Context(), h.vis, q.Get("q"), q.Get("cursor"), limit)
	if err != nil {
		h.fail(w, r, false, err) // a bad cursor is fault.Invalid: a 400 naming it
		return
	}
	out := ModulesPage{Modules: make([]ModuleSummary, len(page.Modules)), Next: page.Next}
	for i, m := range page.Modules {
		out.Modules[i] = ModuleSummary{Path: m.Path, Versions: m.Versions, Highest: m.Highest}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// serveModule serves GET /api/v1/modules/<module>: every version of the
// module the index holds, or 404 if none or if the viewer may not read it.
func (h *Handler) serveModule(w http.ResponseWriter, r *http.Request, _ url.Values, path string) {
	path, err := parseModule("module path", path)
	if err != nil {
		h.badRequest(w, false, err)
		return
	}
	var vs []index.Version
	if h.canRead(r.Context(), path) {
		if vs, err = h.ix.Versions(r.Context(), path); err != nil {
			h.fail(w, r, false, err)
			return
		}
	}
	if len(vs) == 0 {
		h.error(w, false, http.StatusNotFound, "not found: module "+path+" is not in the index")
		return
	}
	out := ModuleVersions{Path: path, Versions: make([]VersionSummary, len(vs))}
	for i, v := range vs {
		out.Versions[i] = summary(&v)
	}
	writeJSON(w, r, http.StatusOK, out)
}

// summary returns the summary of v.
func summary(v *index.Version) VersionSummary {
	s := VersionSummary{
		Version:      v.Version,
		StoredAt:     v.StoredAt,
		Private:      v.Private,
		InfoSize:     v.Info.Size,
		ModSize:      v.Mod.Size,
		ModH1:        v.ModH1,
		ZipH1:        v.ZipH1,
		Downloads:    v.Downloads,
		LastDownload: v.LastDownload,
	}
	if v.Zip != nil {
		s.ZipSize = &v.Zip.Size
	}
	return s
}
