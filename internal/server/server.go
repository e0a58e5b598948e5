// Package server is modvault's HTTP front: it parses module proxy requests,
// answers them from the vault with the status codes and headers the go
// command expects, passes checksum-database requests on, and logs every
// request. It knows nothing about where the bytes come from.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// Cache-Control values.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheShort     = "public, max-age=60"
	cacheNone      = "no-store"
)

// Server serves the module proxy protocol.
type Server struct {
	vault      *vault.Vault
	cachedOnly *vault.Vault
	sumdb      http.Handler
	log        *slog.Logger
	small      *smallCache // stored .info and .mod files
	opts       Options
}

// Options configures a [Server].
type Options struct {
	// ZipRedirect, if not zero, makes stored zips be answered with a 302
	// redirect to a URL of the object in the store that Sign makes, valid
	// for ZipRedirect, so that the bytes come from the object store and not
	// through modvault.
	ZipRedirect time.Duration
	// Sign returns a URL for a stored key valid for expiry (a store's
	// signed URL). Required with ZipRedirect.
	Sign func(ctx context.Context, key string, expiry time.Duration) (string, error)
	// Observe, if not nil, is called after every request with what it was
	// and how it was answered, for metrics. It runs on every request, so
	// it must be cheap, and safe for concurrent use.
	Observe func(RequestInfo)
	// StoreFailed, if not nil, is called when reading a stored object
	// that the vault opened fails, with the operation ("read") and the
	// error, for metrics.
	StoreFailed func(op string, err error)
	// Metrics, if not nil, serves /metrics.
	Metrics http.Handler
	// Ready, if not nil, answers /readyz: ok says whether modvault can
	// serve (200, else 503), and report, a few lines of text/plain, says
	// why. Without it, /readyz answers like /healthz.
	Ready func(ctx context.Context) (report string, ok bool)
	// Catalog, if not nil, serves /catalog and /index.
	Catalog http.Handler
	// User, if not nil, names the user a request was made by, for the
	// request log ("" for none).
	User func(ctx context.Context) string
}

// Endpoint is the kind of a request, for metrics.
type Endpoint uint8

// The endpoints.
const (
	EndpointOther   Endpoint = iota // anything else: bad paths, other methods
	EndpointList                    // $module/@v/list
	EndpointLatest                  // $module/@latest
	EndpointInfo                    // $module/@v/$version.info, canonical version
	EndpointMod                     // $module/@v/$version.mod
	EndpointZip                     // $module/@v/$version.zip
	EndpointQuery                   // $module/@v/$query.info, any other version query
	EndpointSumDB                   // /sumdb/...
	EndpointHealth                  // /healthz
	EndpointReady                   // /readyz
	EndpointMetrics                 // /metrics
	EndpointCatalog                 // /catalog and /index
	numEndpoints
)

// Endpoints returns every Endpoint, in order: Endpoints()[e] == e.
func Endpoints() []Endpoint {
	es := make([]Endpoint, numEndpoints)
	for i := range es {
		es[i] = Endpoint(i)
	}
	return es
}

// String returns the endpoint's name, as used in metrics.
func (e Endpoint) String() string {
	switch e {
	case EndpointList:
		return "list"
	case EndpointLatest:
		return "latest"
	case EndpointInfo:
		return "info"
	case EndpointMod:
		return "mod"
	case EndpointZip:
		return "zip"
	case EndpointQuery:
		return "query"
	case EndpointSumDB:
		return "sumdb"
	case EndpointHealth:
		return "health"
	case EndpointReady:
		return "ready"
	case EndpointMetrics:
		return "metrics"
	case EndpointCatalog:
		return "catalog"
	}
	return "other"
}

// RequestInfo describes an answered request, for Options.Observe.
type RequestInfo struct {
	Endpoint Endpoint
	Status   int          // 499 if the client went away first
	Source   vault.Source // "" if the answer did not come from the vault
	Bytes    int64        // body bytes written
	Duration time.Duration
}

// smallCacheBytes bounds the memory kept for small stored files.
const smallCacheBytes = 32 << 20

// New returns a Server that answers from v. Requests under /cached-only/ or
// with the header "Disable-Module-Fetch: true" are answered from cachedOnly,
// a vault over the same store with no upstream, so they never cause an
// upstream fetch. sumdb, if not nil, serves paths under /sumdb/.
func New(v, cachedOnly *vault.Vault, sumdb http.Handler, log *slog.Logger, opts Options) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{vault: v, cachedOnly: cachedOnly, sumdb: sumdb, log: log, small: newSmallCache(smallCacheBytes), opts: opts}
}

// ServeHTTP routes a request and logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r)
	d := time.Since(start)
	if s.opts.Observe != nil {
		s.opts.Observe(RequestInfo{Endpoint: rec.endpoint, Status: rec.status, Source: rec.source, Bytes: rec.bytes, Duration: d})
	}
	level := slog.LevelInfo
	switch {
	case rec.status >= 500:
		level = slog.LevelWarn
	case rec.endpoint == EndpointHealth || rec.endpoint == EndpointReady || rec.endpoint == EndpointMetrics:
		level = slog.LevelDebug // probes and scrapes, every few seconds
	}
	user := ""
	if s.opts.User != nil {
		user = s.opts.User(r.Context())
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	method, path, status := slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status)
	size, dur, cache := slog.Int64("bytes", rec.bytes), slog.Duration("duration", d), slog.String("cache", string(rec.source))
	if user == "" {
		s.log.LogAttrs(r.Context(), level, "request", method, path, status, size, dur, cache)
		return
	}
	s.log.LogAttrs(r.Context(), level, "request", method, path, status, size, dur, cache, slog.String("user", user))
}

func (s *Server) route(w *recorder, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		textError(w, http.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
		return
	}
	v := s.vault
	if p, ok := strings.CutPrefix(r.URL.Path, "/cached-only/"); ok {
		r = r.Clone(r.Context())
		r.URL.Path = "/" + p
		r.URL.RawPath = ""
		v = s.cachedOnly
	} else if strings.EqualFold(r.Header.Get("Disable-Module-Fetch"), "true") {
		v = s.cachedOnly
	}
	switch {
	case r.URL.Path == "/healthz":
		w.endpoint = EndpointHealth
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", cacheNone)
		fmt.Fprintln(w, "ok")
		return
	case r.URL.Path == "/readyz":
		w.endpoint = EndpointReady
		s.serveReady(w, r)
		return
	case (r.URL.Path == "/catalog" || r.URL.Path == "/index") && s.opts.Catalog != nil:
		w.endpoint = EndpointCatalog
		s.opts.Catalog.ServeHTTP(w, r)
		return
	case r.URL.Path == "/metrics" && s.opts.Metrics != nil:
		w.endpoint = EndpointMetrics
		s.opts.Metrics.ServeHTTP(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/sumdb/"):
		w.endpoint = EndpointSumDB
		if s.sumdb == nil {
			textError(w, http.StatusNotFound, "not found: no checksum database configured")
			return
		}
		s.sumdb.ServeHTTP(w, r)
		return
	}
	req, err := protocol.Parse(r.URL.Path)
	if err != nil {
		textError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	w.endpoint = endpointOf(req)
	ctx := r.Context()
	switch {
	case req.Kind == protocol.List:
		vers, src, err := v.List(ctx, req.Module)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = src
		var b strings.Builder
		for _, v := range vers {
			b.WriteString(v)
			b.WriteByte('\n')
		}
		writeSmall(w, r, "text/plain; charset=utf-8", []byte(b.String()))
	case req.Kind == protocol.Latest:
		body, src, err := v.Latest(ctx, req.Module)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = src
		writeSmall(w, r, "application/json", body)
	case req.Kind == protocol.Info && !req.Canonical():
		body, err := v.Query(ctx, req.Module, req.Version)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = vault.Upstream
		writeSmall(w, r, "application/json", body)
	case !req.Canonical():
		textError(w, http.StatusNotFound, fmt.Sprintf("not found: %s@%s: %s needs a canonical version; resolve the query with .info first", req.Module, req.Version, req.Kind))
	default:
		if err := protocol.CheckVersion(req.Module, req.Version); err != nil {
			// A major-version mismatch: no upstream can have it.
			textError(w, http.StatusNotFound, "not found: "+err.Error())
			return
		}
		s.serveVersionFile(w, r, v, req)
	}
}

// endpointOf returns the endpoint of a module proxy request.
func endpointOf(req protocol.Request) Endpoint {
	switch req.Kind {
	case protocol.List:
		return EndpointList
	case protocol.Latest:
		return EndpointLatest
	case protocol.Info:
		if !req.Canonical() {
			return EndpointQuery
		}
		return EndpointInfo
	case protocol.Mod:
		return EndpointMod
	case protocol.Zip:
		return EndpointZip
	}
	return EndpointOther
}

// serveReady answers /readyz with Options.Ready's report: 200 if ready, 503
// if not.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	report, ok := "ok\n", true
	if s.opts.Ready != nil {
		report, ok = s.opts.Ready(r.Context())
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheNone)
	h.Set("Content-Length", strconv.Itoa(len(report)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, report)
	}
}

// serveVersionFile serves a stored .info, .mod or .zip, filling it first if
// needed. Small files are kept in memory once read.
func (s *Server) serveVersionFile(w *recorder, r *http.Request, v *vault.Vault, req protocol.Request) {
	h := w.Header()
	h.Set("Content-Type", contentType(req.Kind))
	h.Set("Cache-Control", cacheImmutable)
	key := req.Path()
	if o, ok := s.small.get(key); ok {
		w.source = vault.Hit
		h.Set("ETag", o.etag)
		http.ServeContent(w, r, "", o.modTime, bytes.NewReader(o.body))
		return
	}
	f, err := req.File()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Kind == protocol.Zip && s.opts.ZipRedirect > 0 {
		u, src, err := v.ZipURL(r.Context(), f, s.opts.ZipRedirect, s.opts.Sign)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = src
		// The URL expires: the redirect is not to be cached for long.
		h.Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(s.opts.ZipRedirect.Seconds()/2)))
		h.Del("Content-Type")
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	obj, src, err := v.Open(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer obj.Close()
	w.source = src
	h.Set("ETag", obj.ETag())
	if req.Kind != protocol.Zip && obj.Size() <= maxSmallObject {
		body, err := io.ReadAll(obj.Content())
		if err != nil {
			if s.opts.StoreFailed != nil && r.Context().Err() == nil {
				s.opts.StoreFailed("read", err)
			}
			s.fail(w, r, fmt.Errorf("reading %s: %w", key, err))
			return
		}
		o := &smallObject{body: body, etag: obj.ETag(), modTime: obj.ModTime()}
		s.small.put(key, o)
		http.ServeContent(w, r, "", o.modTime, bytes.NewReader(o.body))
		return
	}
	http.ServeContent(w, r, "", obj.ModTime(), obj.Content())
}

func contentType(k protocol.Kind) string {
	switch k {
	case protocol.Info:
		return "application/json"
	case protocol.Zip:
		return "application/zip"
	}
	return "text/plain; charset=utf-8"
}

// writeSmall writes a short-lived answer (list, latest, query).
func writeSmall(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cacheShort)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// fail answers with the status the go command understands for err:
// 404 for what is not available, 502 or 504 for upstream failures, 500 for
// our own.
func (s *Server) fail(w *recorder, r *http.Request, err error) {
	status, msg := classify(err)
	if r.Context().Err() != nil {
		w.status = 499 // the client is gone: log it as nginx does, write nothing
		return
	}
	if status >= 500 {
		s.log.Warn("request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	textError(w, status, msg)
}

func classify(err error) (int, string) {
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue):
		switch ue.Status {
		case 0, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
			return http.StatusNotFound, notFoundText(ue)
		}
		return http.StatusBadGateway, fmt.Sprintf("bad gateway: upstream answered %d %s: %s", ue.Status, http.StatusText(ue.Status), ue.Text)
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, "not found: " + err.Error()
	case errors.Is(err, checksumdb.ErrMismatch):
		return http.StatusForbidden, "forbidden: " + err.Error()
	case errors.Is(err, checksumdb.ErrSecurity):
		return http.StatusServiceUnavailable, "service unavailable: " + err.Error()
	case errors.Is(err, checksumdb.ErrUnverifiable):
		return http.StatusBadGateway, "bad gateway: " + err.Error()
	case errors.Is(err, vault.ErrInvalid):
		return http.StatusBadGateway, "bad gateway: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "gateway timeout: upstream did not answer in time"
	case errors.Is(err, upstream.ErrUnreachable):
		return http.StatusBadGateway, "bad gateway: upstream unreachable"
	case errors.Is(err, upstream.ErrBadResponse):
		return http.StatusBadGateway, "bad gateway: " + err.Error()
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "service unavailable: modvault is shutting down"
	}
	return http.StatusInternalServerError, "internal error: " + err.Error()
}

// notFoundText is the message for an upstream answer that means "not
// found": the upstream's own text, which the go command shows the user,
// marked "not found:" once (upstream proxies often start it that way).
func notFoundText(ue *upstream.Error) string {
	text := ue.Text
	if text == "" {
		text = fmt.Sprintf("upstream answered %d %s", ue.Status, http.StatusText(ue.Status))
	}
	if strings.HasPrefix(text, "not found") {
		return text
	}
	return "not found: " + text
}

// textError writes a short text/plain error, which the go command prints.
func textError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("ETag")
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheNone)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// recorder remembers the endpoint, status, size and source of a response
// for the log and metrics.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	source      vault.Source
	endpoint    Endpoint
	wroteHeader bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom passes io.Copy on to the underlying writer's ReadFrom, so that a
// stored file is sent with sendfile(2).
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
