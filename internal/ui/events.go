package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modvault/modvault/internal/index"
)

// results are the values of the result filter.
var results = []string{index.ResultHit, index.ResultFilled, index.ResultNotFound, index.ResultDenied, index.ResultError,
	index.ResultWarned, index.ResultReport}

// eventsPage is the data of /ui/events.
type eventsPage struct {
	Module, User, Result, Since, Until string // the filters, as given
	Results                            []string
	Events                             []index.Event
	Next                               string // the next (older) page's URL; "" on the last
	Filtered                           bool
}

// serveEvents serves /ui/events?module=&user=&result=&since=&until=&cursor=&limit=:
// the audit trail, newest first, a page at a time, without the events of
// modules the viewer may not read. Refusals (denied, error) are marked.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request, q url.Values) {
	if err := onlyParams(q, "module", "user", "result", "since", "until", "cursor", "limit"); err != nil {
		h.badRequest(w, r, err)
		return
	}
	p := &eventsPage{Module: q.Get("module"), User: q.Get("user"), Result: q.Get("result"),
		Since: q.Get("since"), Until: q.Get("until"), Results: results}
	f, err := parseEventsQuery(p)
	if err != nil {
		h.badRequest(w, r, err)
		return
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		h.badRequest(w, r, err)
		return
	}
	p.Filtered = f != index.Filter{}
	page, err := h.readableEvents(r.Context(), f, q.Get("cursor"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Events = page.Events
	if page.Next != "" {
		l := ""
		if limit != DefaultLimit {
			l = fmt.Sprint(limit)
		}
		p.Next = queryURL(Prefix+"events", "module", p.Module, "user", p.User, "result", p.Result,
			"since", p.Since, "until", p.Until, "cursor", page.Next, "limit", l)
	}
	h.render(w, r, http.StatusOK, "events", "Events", p)
}

// parseEventsQuery parses the filters of the events page.
func parseEventsQuery(p *eventsPage) (f index.Filter, err error) {
	if f.Since, err = parseTime("since", p.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", p.Until); err != nil {
		return f, err
	}
	if p.Module != "" {
		if err := parseModule("module", p.Module); err != nil {
			return f, err
		}
		f.Module = p.Module
	}
	f.User = p.User
	if p.Result != "" && !slices.Contains(results, p.Result) {
		return f, fmt.Errorf("result must be one of %s", strings.Join(results, ", "))
	}
	f.Result = p.Result
	return f, nil
}
