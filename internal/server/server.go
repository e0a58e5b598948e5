// Package server is modvault's HTTP front: it parses module proxy requests,
// answers them from the vault with the status codes and headers the go
// command expects, passes checksum-database requests on, and logs every
// request. It knows nothing about where the bytes come from.
package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/httperr"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/reqlog"
	"github.com/modvault/modvault/internal/route"
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
	sumdb      SumDB
	log        *slog.Logger
	files      *fileCache // parsed version file paths, and stored .info and .mod files
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
	// API, if not nil, serves the JSON API under /api/v1/.
	API http.Handler
	// VulnDB, if not nil, serves the mirrored vulnerability database
	// under /vulndb/ (internal/vulndb's Handler).
	VulnDB http.Handler
	// UI, if not nil, serves the web UI under /ui/.
	UI http.Handler
	// User, if not nil, names the user a request was made by, for the
	// request log ("" for none).
	User func(ctx context.Context) string
	// Served, if not nil, is called after every request for a version's
	// .info, .mod or .zip, for the audit trail. Like Observe it runs on
	// every request, so it must be cheap and must not block.
	Served func(r *http.Request, info RequestInfo)
}

// RequestInfo describes an answered request, for Options.Observe.
type RequestInfo struct {
	Endpoint route.Endpoint
	Status   int          // 499 if the client went away first
	Source   vault.Source // "" if the answer did not come from the vault
	Bytes    int64        // body bytes written
	Duration time.Duration
	Fault    fault.Kind // the kind of the error answered, if any
	// Request is the module proxy request answered, for Served (the
	// route parsed once; zero for other endpoints).
	Request protocol.Request
	// Policy is the policy's decision on the version of a .info, .mod or
	// .zip request, for Served (zero without a policy).
	Policy policy.Decision
}

// PolicyHeader is the response header that carries the policy's line
// (policy.Decision.Text) on a version file it warns about, or would deny
// or warn about in report mode.
const PolicyHeader = "Modvault-Policy"

// fileCacheBytes bounds the memory kept for parsed paths and small stored
// files.
const fileCacheBytes = 32 << 20

// Header values shared by every response that sets them (net/http only
// reads them), so that setting them allocates nothing.
var (
	hdrImmutable  = []string{cacheImmutable}
	hdrBytes      = []string{"bytes"}
	hdrTypeInfo   = []string{"application/json"}
	hdrTypeZip    = []string{"application/zip"}
	hdrTypeText   = []string{"text/plain; charset=utf-8"}
	conditionalHd = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}
)

// SumDB serves the checksum database routes (package checksumdb).
type SumDB interface {
	Serve(w http.ResponseWriter, r *http.Request, rt route.Route)
}

// New returns a Server that answers from v. Requests under /cached-only/ or
// with the header "Disable-Module-Fetch: true" are answered from cachedOnly,
// a vault over the same store with no upstream, so they never cause an
// upstream fetch. sumdb, if not nil, serves paths under /sumdb/.
func New(v, cachedOnly *vault.Vault, sumdb SumDB, log *slog.Logger, opts Options) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{vault: v, cachedOnly: cachedOnly, sumdb: sumdb, log: log, files: newFileCache(fileCacheBytes), opts: opts}
}

// ServeHTTP routes a request and logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r)
	d := time.Since(start)
	if s.opts.Observe != nil {
		s.opts.Observe(RequestInfo{Endpoint: rec.endpoint, Status: rec.status, Source: rec.source, Bytes: rec.bytes, Duration: d, Fault: rec.fault})
	}
	if s.opts.Served != nil && (rec.endpoint == route.Info || rec.endpoint == route.Mod || rec.endpoint == route.Zip) {
		s.opts.Served(r, RequestInfo{Endpoint: rec.endpoint, Status: rec.status, Source: rec.source, Bytes: rec.bytes, Duration: d, Fault: rec.fault, Request: rec.request, Policy: rec.policy})
	}
	level := slog.LevelInfo
	switch {
	case rec.status >= 500:
		level = slog.LevelWarn
	case rec.endpoint == route.Health || rec.endpoint == route.Ready || rec.endpoint == route.Metrics:
		level = slog.LevelDebug // probes and scrapes, every few seconds
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	user := ""
	if s.opts.User != nil {
		user = s.opts.User(r.Context())
	}
	reqlog.Log(r.Context(), s.log, &reqlog.Line{Time: start.Add(d), Level: level, Method: r.Method, Path: r.URL.Path,
		Status: rec.status, Bytes: rec.bytes, Duration: d, Cache: string(rec.source), User: user})
}

// route answers a request by its route (route.Of: parsed once, by the
// first handler that needed it).
func (s *Server) route(w *recorder, r *http.Request) {
	// A version file's path seen before: parsed and validated then (both
	// depend on the path alone).
	path := r.URL.Path // before a cached-only request's prefix is cut
	e, cached := s.files.get(path)
	var rt route.Route
	if cached {
		rt = e.rt
	} else {
		rt = route.Of(r)
	}
	w.endpoint, w.request = rt.Endpoint, rt.Request
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httperr.Write(w, http.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
		return
	}
	v := s.vault
	if rt.CachedOnly {
		// The handlers below read the path without the prefix.
		r = r.Clone(r.Context())
		r.URL.Path = rt.Path
		r.URL.RawPath = ""
		v = s.cachedOnly
	} else if strings.EqualFold(r.Header.Get("Disable-Module-Fetch"), "true") {
		v = s.cachedOnly
	}
	ctx := r.Context()
	switch rt.Endpoint {
	case route.Health:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", cacheNone)
		fmt.Fprintln(w, "ok")
	case route.Ready:
		s.serveReady(w, r)
	case route.Catalog:
		serveOptional(w, r, s.opts.Catalog)
	case route.API:
		serveOptional(w, r, s.opts.API)
	case route.VulnDB:
		serveOptional(w, r, s.opts.VulnDB)
	case route.UI:
		serveOptional(w, r, s.opts.UI)
	case route.Metrics:
		serveOptional(w, r, s.opts.Metrics)
	case route.SumDB:
		if s.sumdb == nil {
			httperr.Write(w, http.StatusNotFound, "not found: no checksum database configured")
			return
		}
		s.sumdb.Serve(w, r, rt)
	case route.List:
		vers, src, err := v.List(ctx, rt.Request.Module)
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
	case route.Latest:
		body, src, err := v.Latest(ctx, rt.Request.Module)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = src
		writeSmall(w, r, "application/json", body)
	case route.Query:
		body, err := v.Query(ctx, rt.Request.Module, rt.Request.Version)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.source = vault.Upstream
		writeSmall(w, r, "application/json", body)
	case route.Info, route.Mod, route.Zip:
		if cached {
			s.serveVersionFile(w, r, v, e)
			return
		}
		if !rt.Request.Canonical() {
			req := rt.Request
			httperr.Write(w, http.StatusNotFound, fmt.Sprintf("not found: %s@%s: %s needs a canonical version; resolve the query with .info first", req.Module, req.Version, req.Kind))
			return
		}
		f, err := rt.Request.File()
		if err != nil {
			s.fail(w, r, err) // a version that cannot belong to the module: not found
			return
		}
		e := &fileEntry{path: path, rt: rt, file: f}
		s.files.put(path, e)
		s.serveVersionFile(w, r, v, e)
	default:
		httperr.Write(w, http.StatusBadRequest, "bad request: "+strings.TrimPrefix(rt.Err.Error(), fault.ErrInvalid.Error()+": "))
	}
}

// serveOptional serves a route with h, or answers 404 if modvault was
// configured without it.
func serveOptional(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if h == nil {
		httperr.Write(w, http.StatusNotFound, "not found: "+r.URL.Path+" is not enabled")
		return
	}
	h.ServeHTTP(w, r)
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
// needed, once the policy admits its version (vault.Admit: on every
// request, before the cache of small files). Small files are kept in
// memory once read.
func (s *Server) serveVersionFile(w *recorder, r *http.Request, v *vault.Vault, e *fileEntry) {
	f := e.file
	d, filled, err := v.Admit(r.Context(), f)
	w.policy = d
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	if d.Verdict != policy.Allowed {
		h.Set(PolicyHeader, headerValue(d.Text()))
	}
	if filled {
		defer func() { w.source = vault.Miss }()
	}
	h["Content-Type"] = contentType(f.Kind)
	h["Cache-Control"] = hdrImmutable
	if e.small != nil {
		w.source = vault.Hit
		writeStored(w, r, e.small)
		return
	}
	if f.Kind == protocol.Zip && s.opts.ZipRedirect > 0 {
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
	// Small zips too (most of what the go command downloads): a zip read
	// here is never redirected (ZipRedirect answered above).
	if obj.Size() <= maxSmallObject {
		body, err := io.ReadAll(obj.Content())
		if err != nil {
			if s.opts.StoreFailed != nil && r.Context().Err() == nil {
				s.opts.StoreFailed("read", err)
			}
			s.fail(w, r, fmt.Errorf("reading %s: %w", f.Key, err))
			return
		}
		o := newSmallObject(body, obj.ETag(), obj.ModTime())
		s.files.put(e.path, &fileEntry{path: e.path, rt: e.rt, file: f, small: o})
		writeStored(w, r, o)
		return
	}
	h["Etag"] = []string{obj.ETag()}
	http.ServeContent(w, r, "", obj.ModTime(), obj.Content())
}

// headerValue returns s with the characters a header value cannot hold
// replaced by spaces.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// writeStored answers with a small stored object kept in memory. A plain
// GET or HEAD, as the go command sends, is answered here with the headers
// made once for the object; a conditional or range request is answered by
// http.ServeContent, with the same headers.
func writeStored(w *recorder, r *http.Request, o *smallObject) {
	h := w.Header()
	h["Etag"] = o.etag
	for _, k := range conditionalHd {
		if _, ok := r.Header[k]; ok {
			http.ServeContent(w, r, "", o.modTime, bytes.NewReader(o.body))
			return
		}
	}
	if o.header != nil {
		h["Last-Modified"] = o.header
	}
	h["Accept-Ranges"] = hdrBytes
	h["Content-Length"] = o.length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(o.body)
	}
}

// contentType returns the Content-Type header value of a file kind.
func contentType(k protocol.Kind) []string {
	switch k {
	case protocol.Info:
		return hdrTypeInfo
	case protocol.Zip:
		return hdrTypeZip
	}
	return hdrTypeText
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
// fail answers a request that failed with err (httperr.Status), and logs
// modvault's and the upstream's failures.
func (s *Server) fail(w *recorder, r *http.Request, err error) {
	if r.Context().Err() != nil {
		w.status = 499 // the client is gone: log it as nginx does, write nothing
		return
	}
	w.fault = fault.Of(err)
	status, msg := httperr.Status(err)
	if status >= 500 {
		s.log.Warn("request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	httperr.Write(w, status, msg)
}

// recorder remembers the endpoint, status, size and source of a response
// for the log and metrics.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	source      vault.Source
	endpoint    route.Endpoint
	request     protocol.Request
	policy      policy.Decision
	fault       fault.Kind
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
