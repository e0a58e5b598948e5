package vulndb

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modvault/modvault/internal/store"
)

// Handler returns the handler that serves the mirror in st to
// govulncheck (and any client of the v1 layout) at the paths
// "/vulndb/index/db.json", "/vulndb/ID/GO-2024-1234.json.gz" and so on:
// GET and HEAD, each file plain or gzipped by its name. govulncheck
// (golang.org/x/vuln internal/client) checks that HEAD
// index/modules.json.gz answers 200, then GETs the .json.gz files and
// gunzips the bodies itself, so they are sent as stored, with
// Content-Type application/gzip and no Content-Encoding. A .json.gz that
// is not stored (a mirror copied without them) is gzipped on the fly
// from the .json. Other paths are 404s.
func Handler(st *store.Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &handler{st: st, log: log}
}

type handler struct {
	st  *store.Store
	log *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	key, gz, ok := ParsePath(r.URL.Path)
	if !ok {
		http.Error(w, "not found: not a file of the vulnerability database", http.StatusNotFound)
		return
	}
	ctype := "application/json"
	if gz {
		ctype = "application/gzip"
	}
	obj, err := h.st.Open(r.Context(), key)
	if gz && errors.Is(err, fs.ErrNotExist) {
		h.serveGzipped(w, r, strings.TrimSuffix(key, ".gz"))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer obj.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", obj.ETag())
	http.ServeContent(w, r, "", obj.ModTime(), obj)
}

// serveGzipped serves the object at key gzipped.
func (h *handler) serveGzipped(w http.ResponseWriter, r *http.Request, key string) {
	obj, err := h.st.Open(r.Context(), key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxFileSize))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gz, err := gzipBytes(data)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, r, "", obj.ModTime(), bytes.NewReader(gz))
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "not found: "+strings.TrimPrefix(r.URL.Path, "/"), http.StatusNotFound)
		return
	}
	h.log.ErrorContext(r.Context(), "vulndb: serving", "path", r.URL.Path, "err", err)
	http.Error(w, "vulndb: reading the mirror failed", http.StatusInternalServerError)
}

// ParsePath returns the store key of a URL path the handler serves
// ("/vulndb/index/modules.json.gz" → "vulndb/index/modules.json.gz"), and
// whether it names the gzipped form; ok is false for any other path.
func ParsePath(p string) (key string, gz bool, ok bool) {
	rest, ok := strings.CutPrefix(p, "/"+Prefix)
	if !ok {
		return "", false, false
	}
	name, gz := strings.CutSuffix(rest, ".json.gz")
	if !gz {
		if name, ok = strings.CutSuffix(rest, ".json"); !ok {
			return "", false, false
		}
	}
	switch name {
	case dbEndpoint, modulesEndpoint, vulnsEndpoint:
	default:
		id, ok := strings.CutPrefix(name, idDir)
		if !ok || !validID(id) {
			return "", false, false
		}
	}
	return Prefix + rest, gz, true
}
