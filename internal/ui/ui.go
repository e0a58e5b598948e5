// Package ui is modvault's web UI: server-rendered HTML pages under /ui/
// over the metadata index (package index) and the audit trail, for the
// platform teams and auditors who look at what the proxy holds and serves.
//
// Pages: /ui/ (how to use this server, counts, health, recent activity),
// /ui/search?q= (modules by path substring), /ui/<module> (its versions),
// /ui/<module>@<version> (everything known about one version), /ui/events
// (the audit trail, filtered), and /ui/login (asks a browser for
// credentials). docs/ui.md is the operator's guide.
//
// Invariants:
//
//   - Every value reaches the page through html/template, which escapes
//     it for where it stands; no page has inline script, style or event
//     handlers, and every answer carries [CSP], which forbids them.
//   - A viewer sees only the modules [Options.CanRead] lets them read: the
//     others are left out of search results, lists, counts and the audit
//     trail, and their pages answer 404 with exactly the bytes of a module
//     that does not exist.
//   - GET and HEAD only; every page is a function of its URL (path and
//     query) and the viewer, so a URL can be shared. A bad parameter is a
//     400 saying which; a failing database a 500 saying only that.
//   - Pages are uncached (Cache-Control: no-store); the stylesheet and
//     script are cached by URLs that change with their content.
//   - JavaScript is optional: the script only adds copy buttons.
package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/vulndb"
)

// Prefix is the path under which the UI is served.
const Prefix = "/ui/"

// CSP is the Content-Security-Policy of every answer: only the UI's own
// stylesheet and script, no inline script or style, no frames, forms
// posting only here.
const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// DefaultTotalsTTL is how often, at most, the per-module totals behind
// the counts of /ui/ are read again (in the background): reading them
// costs a scan of the index.
const DefaultTotalsTTL = 10 * time.Second

// Options configures a [Handler]. Index is required; every other field is
// optional, and what it feeds is left out of the pages when it is nil.
type Options struct {
	Index *index.Index
	// Log receives the failures of the database; nil means slog.Default().
	Log *slog.Logger

	// CanRead reports whether the viewer of a request (its context) may
	// read a module path. Nil means everyone may read every module: no
	// access control. With access control, it is auth.Auth.CanRead.
	CanRead func(ctx context.Context, modulePath string) bool
	// ReadMod returns the stored go.mod of a version, for its
	// requirements and the module's retractions.
	ReadMod func(ctx context.Context, mv module.Version) ([]byte, error)
	// Decide returns the policy's decision on a version.
	Decide func(ctx context.Context, mv module.Version) policy.Decision
	// Vulns returns the known vulnerabilities of a version
	// (vulndb.DB.Vulns): empty if none, nil if unknown (no database
	// loaded yet).
	Vulns func(ctx context.Context, mv module.Version) []vulndb.Finding
	// Licenses returns the licenses found in a version's zip: empty if
	// it has no license file, nil if they are unknown (not detected yet).
	Licenses func(ctx context.Context, mv module.Version) []license.License
	// Ready reports the health of the store and the upstream, as /readyz
	// does: a few lines of text, and whether modvault can serve.
	Ready func(ctx context.Context) (report string, ok bool)

	// Settings shown on /ui/ for the go command.
	Setup Setup

	// TotalsTTL is how often, at most, the totals behind the counts are
	// read again; zero means DefaultTotalsTTL.
	TotalsTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Setup is what /ui/ tells a go command user to set.
type Setup struct {
	// URL is this server's URL as clients reach it
	// ("https://proxy.corp.example/"); empty means the URL of each
	// request (its Host, and https if it came over TLS).
	URL string
	// GOSUMDB is what clients set GOSUMDB to: the name of a checksum
	// database the go command knows, or "name+key", which it reaches
	// through this server's /sumdb/ (without a URL, which would bypass
	// it); empty leaves GOSUMDB out (the go command's default).
	GOSUMDB string
	// NoSumDB is the module path patterns not verified, as in GONOSUMDB.
	NoSumDB string
	// Auth says that access control is on: clients need credentials.
	Auth bool
}

// Handler serves the UI.
type Handler struct {
	opts   Options
	log    *slog.Logger
	pages  map[string]*template.Template
	assets map[string]asset

	totals *totals
}

// asset is an embedded static file.
type asset struct {
	body  []byte
	ctype string
}

//go:embed templates assets
var files embed.FS

// New returns a Handler with opts, and starts reading the totals behind
// the counts of /ui/ in the background. It panics if opts.Index is nil.
func New(opts Options) *Handler {
	if opts.Index == nil {
		panic("ui: no index")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.TotalsTTL <= 0 {
		opts.TotalsTTL = DefaultTotalsTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, log: opts.Log, pages: map[string]*template.Template{}, assets: map[string]asset{},
		totals: newTotals(opts.Index, opts.TotalsTTL, opts.Now, opts.Log)}
	for name, ctype := range map[string]string{"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"} {
		b, err := fs.ReadFile(files, "assets/"+name)
		if err != nil {
			panic(err)
		}
		h.assets[name] = asset{body: b, ctype: ctype}
	}
	funcs := template.FuncMap{
		"asset":   h.assetURL,
		"bytes":   formatBytes,
		"time":    formatTime,
		"modpath": moduleURL,
		"verpath": versionURL,
		"query":   queryURL,
	}
	for _, p := range []string{"home", "search", "module", "version", "events", "error"} {
		h.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+p+".html"))
	}
	h.totals.refresh()
	return h
}

// assetURL returns the URL of an asset, with a hash of its content so
// that a changed asset has a new URL.
func (h *Handler) assetURL(name string) string {
	sum := sha256.Sum256(h.assets[name].body)
	return Prefix + "assets/" + name + "?v=" + hex.EncodeToString(sum[:6])
}

// ServeHTTP serves the pages under Prefix; "/ui" redirects to Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.message(w, r, http.StatusMethodNotAllowed, "Method not allowed: use GET.")
		return
	}
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		h.notFound(w, r)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request: the query is malformed.")
		return
	}
	switch {
	case rest == "":
		h.serveHome(w, r, q)
	case rest == "search":
		h.serveSearch(w, r, q)
	case rest == "events":
		h.serveEvents(w, r, q)
	case rest == "login":
		h.serveLogin(w, r)
	case strings.HasPrefix(rest, "assets/"):
		h.serveAsset(w, r, strings.TrimPrefix(rest, "assets/"))
	case strings.Contains(rest, "@"):
		h.serveVersion(w, r, rest)
	default:
		h.serveModule(w, r, rest)
	}
}

// canRead reports whether the viewer of ctx may see module path mod.
func (h *Handler) canRead(ctx context.Context, mod string) bool {
	return h.opts.CanRead == nil || h.opts.CanRead(ctx, mod)
}

// serveAsset serves an embedded asset, cached for a day (its URL changes
// with its content).
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		h.notFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "public, max-age=86400")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(a.body)))
	if r.Method != http.MethodHead {
		w.Write(a.body)
	}
}

// serveLogin asks a browser for credentials (HTTP Basic authentication):
// a request that has none, or whose credentials failed, is answered 401
// with a challenge, which makes the browser ask its user; one made by a
// known user is sent on to /ui/. Without access control there is nothing
// to log in to.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Setup.Auth {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if principal(r) == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="modvault", charset="UTF-8"`)
		h.message(w, r, http.StatusUnauthorized, "Sign in with your modvault user name and password, or with the user name \"token\" and a token as the password.")
		return
	}
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// layout is what every page's layout shows, with the page's own data.
type layout struct {
	Title string
	Q     string // the search box's text
	Auth  bool   // show the sign-in link
	User  string // who is signed in
	Page  any
}

// render answers status with the page name showing data.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var buf bytes.Buffer
	l := layout{Title: title, Auth: h.opts.Setup.Auth, User: principal(r), Page: data}
	if s, ok := data.(*searchPage); ok {
		l.Q = s.Q
	}
	if err := h.pages[name].Execute(&buf, l); err != nil {
		h.log.Error("ui: rendering a page failed", "page", name, "err", err)
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString("Internal server error: rendering the page failed.\n")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// message answers status with a page saying msg.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", http.StatusText(status), struct {
		Status int
		Text   string
	}{status, msg})
}

// notFound answers 404 with the same bytes for every module or version
// that does not exist or that the viewer may not see.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusNotFound, "Not found: this server holds no such module or version.")
}

// badRequest answers 400 saying why.
func (h *Handler) badRequest(w http.ResponseWriter, r *http.Request, err error) {
	h.message(w, r, http.StatusBadRequest, "Bad request: "+err.Error()+".")
}

// fail answers a request whose reading of the index failed: a bad cursor
// is a 400, anything else is logged and answered 500 without detail. Nothing
// is answered to a client that has gone.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	if isInvalid(err) {
		h.badRequest(w, r, errorString("the cursor is not one of this listing"))
		return
	}
	h.log.Warn("ui: reading the index failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	h.message(w, r, http.StatusInternalServerError, "Internal server error: reading the index failed.")
}
