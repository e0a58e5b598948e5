package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/modvault/modvault/internal/store"
)

// maxWalks bounds the store walks that requests run at once: each walks
// the whole listing (an /index page) or part of it, which on an object
// store is many list requests.
const maxWalks = 4

// Handler serves the catalog and the index of a store over HTTP:
//
//   - GET /catalog?cursor=C&limit=N answers application/json:
//     {"Modules":[{"Path":"…","Versions":["v1.0.0",…]},…],"Next":"…"}
//     (see [ReadCatalog]). limit defaults to 100 modules; above 1000 it is
//     1000. Next is the cursor of the following page, "" on the last one.
//   - GET /index?since=T&limit=N&after=P@V answers application/x-ndjson, one
//     {"Path":"…","Version":"…","Timestamp":"…"} per line (see [ReadIndex]).
//     since is an RFC 3339 time, inclusive (default: the beginning of time);
//     Timestamp is RFC 3339 with nanoseconds, in UTC. limit defaults to
//     2000 versions; above 2000 it is 2000. after, optional, is the Path and
//     Version of the last entry of the previous page, to get the next page
//     without duplicates.
//
// GET and HEAD only (405 otherwise); malformed parameters answer 400 and a
// failing store 500, each with a short text/plain message (the error
// itself is logged). Answers are not cached (Cache-Control: no-store): the
// last page changes with every version stored. At most four requests walk
// the store at once; the others wait for their turn.
type Handler struct {
	st    *store.Store
	log   *slog.Logger
	walks chan struct{} // semaphore of store walks

	// CanRead, if not nil, reports whether the viewer of a request (its
	// context) may read a module path (auth.Auth.CanRead): the modules it
	// refuses are left out of the answers, whose pages are still full and
	// whose cursors are the last module shown. Nil shows every module.
	// Set it before the Handler serves.
	CanRead func(ctx context.Context, modulePath string) bool
}

// keep returns what keeps the modules the viewer of ctx may read, or nil
// for all.
func (h *Handler) keep(ctx context.Context) func(path string) bool {
	if h.CanRead == nil {
		return nil
	}
	return func(path string) bool { return h.CanRead(ctx, path) }
}

// New returns a Handler over st. A nil log means slog.Default().
func New(st *store.Store, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{st: st, log: log, walks: make(chan struct{}, maxWalks)}
}

// ServeHTTP serves /catalog and /index; other paths answer 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, url.Values)
	switch r.URL.Path {
	case "/catalog":
		serve = h.serveCatalog
	case "/index":
		serve = h.serveIndex
	default:
		textError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		textError(w, http.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		textError(w, http.StatusBadRequest, "bad request: malformed query")
		return
	}
	serve(w, r, q)
}

func (h *Handler) serveCatalog(w http.ResponseWriter, r *http.Request, q url.Values) {
	p, err := ParseCatalogQuery(q)
	if err != nil {
		textError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	var page Page
	err = h.walk(r.Context(), func(ctx context.Context) (err error) {
		page, err = readCatalog(ctx, h.st, p.Cursor, p.Limit, h.keep(r.Context()))
		return err
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := json.Marshal(page)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	write(w, r, "application/json", append(body, '\n'))
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request, q url.Values) {
	p, err := ParseIndexQuery(q)
	if err != nil {
		textError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	var entries []IndexEntry
	err = h.walk(r.Context(), func(ctx context.Context) (err error) {
		entries, err = readIndex(ctx, h.st, p.Since, p.After, p.Limit, h.keep(r.Context()))
		return err
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	write(w, r, "application/x-ndjson", buf.Bytes())
}

// walk runs fn once fewer than maxWalks others run, or returns ctx's error
// if ctx ends first.
func (h *Handler) walk(ctx context.Context, fn func(context.Context) error) error {
	select {
	case h.walks <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.walks }()
	return fn(ctx)
}

// fail answers 500 for err, or nothing if the client has gone.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client has gone: nobody reads an answer
	}
	h.log.Warn("catalog request failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	textError(w, http.StatusInternalServerError, "internal error: reading the store failed")
}

// write sends a successful answer.
func write(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// textError sends a short text/plain error.
func textError(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
