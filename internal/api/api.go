// Package api serves what modvault's metadata index (package index) knows,
// over HTTP:
//
//   - a JSON API under /api/v1/: modules (search and per-module versions),
//     versions (everything recorded about one), and events (the audit
//     trail);
//   - /index and /catalog, in exactly the formats, parameters and error
//     answers of internal/catalog's store walk (their parameters are parsed
//     by the same functions), each page one keyset query of the index.
//
// Invariants: GET and HEAD only; every answer has Cache-Control: no-store
// (the index changes with every version stored and every download); a bad
// parameter is a 400 whose reason names it; a failing database is a 500
// whose text says only that (the error, which may name the database, is
// logged). The JSON API answers errors as {"error": "…"}; /index and
// /catalog as text/plain, as internal/catalog does. Module paths in the
// API's URLs are plain, not case-encoded.
//
// A viewer sees only the modules [Options.CanRead] lets them read, as in
// the web UI (internal/ui): the others are left out of every listing
// (modules, events, /catalog, /index), whose pages are still full and
// whose cursors follow the last item shown (index.Visible), and a module
// or version of theirs answers exactly as one the index does not hold.
// Who may reach the API at all is the caller's (the @catalog rule).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/httperr"
	"github.com/modvault/modvault/internal/index"
)

// Prefix is the path under which the JSON API is served.
const Prefix = "/api/v1/"

// Options configures a [Handler]. Index is required.
type Options struct {
	Index *index.Index
	// Log receives the failures of the database; nil means slog.Default().
	Log *slog.Logger
	// CanRead reports whether the viewer of a request (its context) may
	// read a module path. Nil means everyone may read every module: no
	// access control. With access control, it is auth.Auth.CanRead, as
	// for the web UI (ui.Options.CanRead).
	CanRead func(ctx context.Context, modulePath string) bool
}

// Handler serves the JSON API, /index and /catalog from an index.
type Handler struct {
	ix  *index.Index
	log *slog.Logger
	vis index.Visible // nil: every module
}

// New returns a Handler with opts. It panics if opts.Index is nil.
func New(opts Options) *Handler {
	if opts.Index == nil {
		panic("api: no index")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Handler{ix: opts.Index, log: opts.Log, vis: opts.CanRead}
}

// canRead reports whether the viewer of ctx may see module path mod.
func (h *Handler) canRead(ctx context.Context, mod string) bool {
	return h.vis == nil || h.vis(ctx, mod)
}

// endpoint serves one kind of request, given its query; rest is what
// follows the endpoint's prefix in the path (a module path, or a module
// path and version).
type endpoint func(w http.ResponseWriter, r *http.Request, q url.Values, rest string)

// ServeHTTP serves Prefix+"modules", Prefix+"modules/<module>",
// Prefix+"versions/<module>@<version>", Prefix+"events", "/index" and
// "/catalog"; other paths answer 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	text := p == "/index" || p == "/catalog" // answers errors in text/plain
	var serve endpoint
	var rest string
	switch {
	case p == "/index":
		serve = h.serveIndex
	case p == "/catalog":
		serve = h.serveCatalog
	case p == Prefix+"modules":
		serve = h.serveModules
	case strings.HasPrefix(p, Prefix+"modules/"):
		serve, rest = h.serveModule, strings.TrimPrefix(p, Prefix+"modules/")
	case strings.HasPrefix(p, Prefix+"versions/"):
		serve, rest = h.serveVersion, strings.TrimPrefix(p, Prefix+"versions/")
	case p == Prefix+"events":
		serve = h.serveEvents
	default:
		h.error(w, text, http.StatusNotFound, "not found: no such endpoint")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.error(w, text, http.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.error(w, text, http.StatusBadRequest, "bad request: malformed query")
		return
	}
	serve(w, r, q, rest)
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error string `json:"error"`
}

// error answers status with msg: as JSON, or as text/plain if text.
func (h *Handler) error(w http.ResponseWriter, text bool, status int, msg string) {
	if text {
		httperr.Write(w, status, msg)
		return
	}
	writeJSON(w, nil, status, errorBody{Error: msg})
}

// badRequest answers 400 for a bad parameter; err names it.
func (h *Handler) badRequest(w http.ResponseWriter, text bool, err error) {
	h.error(w, text, http.StatusBadRequest, "bad request: "+err.Error())
}

// fail answers a request whose reading of the index failed with err: a
// bad cursor (fault.Invalid) is a 400; anything else is logged and
// answered by its kind, with a fixed text so that no database detail
// (a DSN, a query) reaches the client. Nothing is answered to a client
// that has gone.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, text bool, err error) {
	if r.Context().Err() != nil {
		return
	}
	if errors.Is(err, fault.ErrInvalid) {
		h.badRequest(w, text, errors.New("cursor is not a cursor of this listing"))
		return
	}
	h.log.Warn("index request failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	status, _ := httperr.Status(err)
	if status < 500 {
		status = http.StatusInternalServerError
	}
	h.error(w, text, status, http.StatusText(status)+": reading the index failed")
}

// writeJSON answers status with v as JSON. r is nil for an error answer,
// which has a body even for HEAD (net/http drops it).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only values of this package's types are written
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error: encoding the answer failed"}`)
	}
	write(w, r, status, "application/json", append(body, '\n'))
}

// write answers status with body of type ctype, uncached; no body for
// HEAD.
func write(w http.ResponseWriter, r *http.Request, status int, ctype string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		w.Write(body)
	}
}
