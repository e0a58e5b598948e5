package api

import (
	"net/http"
	"net/url"
	"time"

	"github.com/modvault/modvault/internal/index"
)

// EventsPage is the answer of GET /api/v1/events: events newest first.
type EventsPage struct {
	Events []Event `json:"events"`
	// Next is the (opaque) cursor of the next, older page; "" on the last
	// one.
	Next string `json:"next"`
}

// Event is one entry of the audit trail.
type Event struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	User       string    `json:"user"` // "" is anonymous
	ClientAddr string    `json:"client_addr"`
	Replica    string    `json:"replica"`
	Module     string    `json:"module"`
	Version    string    `json:"version,omitempty"`
	Kind       string    `json:"kind"`   // zip, info, mod, list, latest
	Result     string    `json:"result"` // hit, filled, not_found, denied, warned, report, error
	Reason     string    `json:"reason,omitempty"`
	Bytes      int64     `json:"bytes"`
}

// serveEvents serves GET /api/v1/events?since=&until=&module=&user=&result=&cursor=&limit=:
// the audit trail, newest first, without the events of modules the viewer
// may not read.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request, q url.Values, _ string) {
	f, limit, err := parseEventsQuery(q)
	if err != nil {
		h.badRequest(w, false, err)
		return
	}
	page, err := h.ix.VisibleEvents(r.Context(), h.vis, f, q.Get("cursor"), limit)
	if err != nil {
		h.fail(w, r, false, err) // a bad cursor is fault.Invalid: a 400 naming it
		return
	}
	out := EventsPage{Events: make([]Event, len(page.Events)), Next: page.Next}
	for i, e := range page.Events {
		out.Events[i] = Event{ID: e.ID, Time: e.Time, User: e.User, ClientAddr: e.ClientAddr,
			Replica: e.Replica, Module: e.Module, Version: e.Version, Kind: e.Kind,
			Result: e.Result, Reason: e.Reason, Bytes: e.Bytes}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// parseEventsQuery parses the parameters of the events but the cursor.
func parseEventsQuery(q url.Values) (f index.Filter, limit int, err error) {
	if limit, err = parseLimit(q.Get("limit")); err != nil {
		return f, 0, err
	}
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, 0, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, 0, err
	}
	if m := q.Get("module"); m != "" {
		if f.Module, err = parseModule("module", m); err != nil {
			return f, 0, err
		}
	}
	f.User = q.Get("user")
	if f.Result, err = parseResult(q.Get("result")); err != nil {
		return f, 0, err
	}
	return f, limit, nil
}
