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
// API's URLs are plain, not case-encoded. Access control is the caller's:
// every answer may name private modules.
package api

import (
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

// Handler serves the JSON API, /index and /catalog from an index.
type Handler struct {
	ix  *index.Index
	log *slog.Logger
}

// New returns a Handler over ix. A nil log means slog.Default().
func New(ix *index.Index, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{ix: ix, log: log}
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
