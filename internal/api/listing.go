package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/modvault/modvault/internal/catalog"
)

// serveCatalog serves GET /catalog as internal/catalog's Handler does,
// from the index: one page of the modules the viewer may read, with their
// versions, as JSON.
func (h *Handler) serveCatalog(w http.ResponseWriter, r *http.Request, q url.Values, _ string) {
	p, err := catalog.ParseCatalogQuery(q)
	if err != nil {
		h.badRequest(w, true, err)
		return
	}
	page, err := h.ix.VisibleCatalog(r.Context(), h.vis, p.Cursor, p.Limit)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	body, err := json.Marshal(page)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	write(w, r, http.StatusOK, "application/json", append(body, '\n'))
}

// serveIndex serves GET /index as internal/catalog's Handler does, from
// the index: the versions of the modules the viewer may read, in the
// order they were stored, as JSON lines.
func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request, q url.Values, _ string) {
	p, err := catalog.ParseIndexQuery(q)
	if err != nil {
		h.badRequest(w, true, err)
		return
	}
	entries, err := h.ix.VisibleSince(r.Context(), h.vis, p.Since, p.After, p.Limit)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	var buf bytes.Buffer
	buf.Grow(100 * len(entries))
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			h.fail(w, r, true, err)
			return
		}
	}
	write(w, r, http.StatusOK, "application/x-ndjson", buf.Bytes())
}
