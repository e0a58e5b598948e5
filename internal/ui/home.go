package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/modvault/modvault/internal/index"
)

// setting is one environment variable the go command reads.
type setting struct {
	ID, Name, Value string
	Note            string
}

// homePage is the data of /ui/.
type homePage struct {
	Settings []setting
	Netrc    string // a ~/.netrc line, when access control is on
	Host     string
	// Counts, of what the viewer may read.
	Modules, Versions, Bytes int64
	CountsOK                 bool
	Counting                 bool // the totals are being read for the first time
	DatabaseOK               bool
	Ready                    string // Options.Ready's report
	ReadyOK                  bool
	HasReady                 bool
	Events                   []index.Event
	User                     string
}

// recentEvents is how many events /ui/ shows.
const recentEvents = 20

// serveHome serves /ui/: how to use this server, counts, health, and the
// latest events.
func (h *Handler) serveHome(w http.ResponseWriter, r *http.Request, q url.Values) {
	if len(q) > 0 {
		h.badRequest(w, r, errNoParams)
		return
	}
	ctx := r.Context()
	base := h.baseURL(r)
	p := &homePage{User: principal(r), DatabaseOK: true}
	p.Settings, p.Host = h.settings(base)
	if h.opts.Setup.Auth {
		p.Netrc = "machine " + p.Host + " login USER password PASSWORD"
	}
	switch totals, err := h.totals.get(ctx); {
	case err == nil:
		for _, t := range totals {
			if h.canRead(ctx, t.Path) {
				p.Modules++
				p.Versions += t.Versions
				p.Bytes += t.Bytes
			}
		}
		p.CountsOK = true
	case errors.Is(err, errCounting):
		p.Counting = true
	default:
		p.DatabaseOK = false
	}
	if evs, err := h.readableEvents(ctx, index.Filter{}, "", recentEvents); err == nil {
		p.Events = evs.Events
	} else {
		p.DatabaseOK = false
		h.log.Warn("ui: reading the latest events failed", "err", err)
	}
	if h.opts.Ready != nil {
		p.HasReady = true
		p.Ready, p.ReadyOK = h.opts.Ready(ctx)
		p.Ready = strings.TrimSpace(p.Ready)
	}
	h.render(w, r, http.StatusOK, "home", "modvault", p)
}

// baseURL returns this server's URL, ending in "/": Setup.URL, or the
// request's scheme and Host.
func (h *Handler) baseURL(r *http.Request) string {
	if u := h.opts.Setup.URL; u != "" {
		return strings.TrimSuffix(u, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}

// settings returns the go command's settings for this server at base, and
// base's host.
func (h *Handler) settings(base string) ([]setting, string) {
	host := base
	if u, err := url.Parse(base); err == nil {
		host = u.Hostname()
	}
	s := []setting{{ID: "goproxy", Name: "GOPROXY", Value: base,
		Note: "Fetch every module through this server."}}
	if v := h.opts.Setup.NoSumDB; v != "" {
		s = append(s, setting{ID: "gonosumdb", Name: "GONOSUMDB", Value: v,
			Note: "Private modules: never looked up in a public checksum database. (Not GOPRIVATE: it would fetch them around this server.)"})
	}
	if v := h.opts.Setup.GOSUMDB; v != "" {
		s = append(s, setting{ID: "gosumdb", Name: "GOSUMDB", Value: v,
			Note: "Verify public modules; the go command reaches the checksum database through this server."})
	}
	if h.opts.Setup.Auth {
		s = append(s, setting{ID: "goauth", Name: "GOAUTH", Value: "netrc",
			Note: "Send your credentials from ~/.netrc (a token: login token, password the token)."})
	}
	return s, host
}

// readableEvents returns a page of events matching f that the viewer of
// ctx may see: the events of modules they may not read are left out, and
// the page is still full unless it is the last (index.Visible).
func (h *Handler) readableEvents(ctx context.Context, f index.Filter, cursor string, limit int) (index.EventsPage, error) {
	return h.opts.Index.VisibleEvents(ctx, h.opts.CanRead, f, cursor, limit)
}
