package ui

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/modvault/modvault/internal/index"
)

// maxQuery bounds the length of a search.
const maxQuery = 200

// searchPage is the data of /ui/search.
type searchPage struct {
	Q       string
	Modules []index.ModuleSummary
	Limit   int
	Cursor  string // this page's cursor; "" for the first
	Next    string // the next page's URL; "" on the last page
}

// serveSearch serves /ui/search?q=&cursor=&limit=: the modules whose path
// contains q (ignoring case) that the viewer may read, a page at a time.
// A page leaves out the modules the viewer may not read and is still full
// unless it is the last; Next goes on after its last module shown
// (index.Visible), so neither names nor counts a module left out.
func (h *Handler) serveSearch(w http.ResponseWriter, r *http.Request, q url.Values) {
	if err := onlyParams(q, "q", "cursor", "limit"); err != nil {
		h.badRequest(w, r, err)
		return
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		h.badRequest(w, r, err)
		return
	}
	p := &searchPage{Q: q.Get("q"), Limit: limit, Cursor: q.Get("cursor")}
	if len(p.Q) > maxQuery {
		h.badRequest(w, r, fmt.Errorf("q is longer than %d bytes", maxQuery))
		return
	}
	page, err := h.opts.Index.VisibleModules(r.Context(), h.opts.CanRead, p.Q, p.Cursor, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Modules = page.Modules
	if page.Next != "" {
		l := ""
		if limit != DefaultLimit {
			l = fmt.Sprint(limit)
		}
		p.Next = queryURL(Prefix+"search", "q", p.Q, "cursor", page.Next, "limit", l)
	}
	h.render(w, r, http.StatusOK, "search", "Search", p)
}

// onlyParams fails if q has a parameter not in names, or one of them more
// than once.
func onlyParams(q url.Values, names ...string) error {
	for k, vs := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return fmt.Errorf("unknown parameter %q", k)
		}
		if len(vs) > 1 {
			return fmt.Errorf("parameter %q is given %d times", k, len(vs))
		}
	}
	return nil
}
