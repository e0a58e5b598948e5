// Package route is modvault's one route table: it classifies a request
// path once into a [Route] (endpoint, module request, cached-only, checksum
// database path), and that value travels. The server dispatches on it,
// access control decides on it, metrics label with its endpoint and traces
// name their spans after it. A new endpoint is one entry in [fixed] (or one
// case in [Parse]) and one [Endpoint] constant.
package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/protocol"
)

// Endpoint is the kind of a request, as named in metrics and traces.
type Endpoint uint8

// The endpoints.
const (
	Other   Endpoint = iota // anything else: malformed paths
	List                    // $module/@v/list
	Latest                  // $module/@latest
	Info                    // $module/@v/$version.info, canonical version
	Mod                     // $module/@v/$version.mod
	Zip                     // $module/@v/$version.zip
	Query                   // $module/@v/$query.info, any other version query
	SumDB                   // /sumdb/$name/...
	Health                  // /healthz
	Ready                   // /readyz
	Metrics                 // /metrics
	Catalog                 // /catalog and /index
	API                     // /api/v1/...
	VulnDB                  // /vulndb/...: the mirrored vulnerability database
	UI                      // /ui/...
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

var endpointNames = [numEndpoints]string{
	Other: "other", List: "list", Latest: "latest", Info: "info", Mod: "mod", Zip: "zip",
	Query: "query", SumDB: "sumdb", Health: "health", Ready: "ready", Metrics: "metrics", Catalog: "catalog",
	API: "api", VulnDB: "vulndb", UI: "ui",
}

// String returns the endpoint's name, as used in metrics and span names.
func (e Endpoint) String() string {
	if e < numEndpoints {
		return endpointNames[e]
	}
	return "other"
}

// Access says which access-control rules decide a request.
type Access uint8

// The kinds of access.
const (
	// Restricted requests name no module: only a "*" rule decides them.
	Restricted Access = iota
	// Open requests (health checks) are answered to anyone.
	Open
	// ModuleAccess requests name a module ([Route.Module]): the rules
	// for its path decide.
	ModuleAccess
	// MetricsAccess requests are decided by the @metrics rule.
	MetricsAccess
	// CatalogAccess requests list stored modules: the @catalog rule
	// decides who may make them, and each viewer sees only the modules
	// the rules let them read.
	CatalogAccess
)

// fixed maps the paths that name no module to their endpoints.
var fixed = map[string]Endpoint{
	"/healthz": Health,
	"/readyz":  Ready,
	"/metrics": Metrics,
	"/catalog": Catalog,
	"/index":   Catalog,
}

// access maps each endpoint that names no module to its access.
var access = [numEndpoints]Access{
	Health:  Open,
	Ready:   Open,
	Metrics: MetricsAccess,
	Catalog: CatalogAccess,
	// The API lists stored modules, as /catalog does (each viewer only
	// those they may read).
	API: CatalogAccess,
	// The vulnerability database is public data, copied from outside:
	// whoever may fetch any module (the "*" rule) may read it.
	VulnDB: Restricted,
	// The web UI too; it shows each viewer only the modules they may
	// read (access control tells it who the viewer is).
	UI: CatalogAccess,
}

// APIPrefix starts the paths of the JSON API over the metadata index.
const APIPrefix = "/api/v1/"

// VulnDBPrefix starts the paths of the mirrored vulnerability database
// (internal/vulndb's Handler), in the layout govulncheck reads.
const VulnDBPrefix = "/vulndb/"

// UIPrefix starts the paths of the web UI; "/ui" alone is one of them.
const UIPrefix = "/ui/"

// uiOpen start the paths of the web UI that hold no data and are
// answered to anyone: its stylesheet and script, and the page that asks a
// browser for credentials.
var uiOpen = []string{UIPrefix + "assets/", UIPrefix + "login"}

// CachedOnlyPrefix marks a request that must be answered from the store
// alone, never causing an upstream fetch.
const CachedOnlyPrefix = "/cached-only/"

// Route is a classified request path.
type Route struct {
	Endpoint Endpoint
	// Path is the decoded URL path with CachedOnlyPrefix cut, as the
	// endpoint sees it: "/github.com/!azure/sdk/@v/v1.0.0.zip".
	Path string
	// CachedOnly is set for paths under CachedOnlyPrefix. (The
	// Disable-Module-Fetch header, which asks the same, is the server's.)
	CachedOnly bool
	// Request is the parsed module proxy request of List, Latest, Info,
	// Mod, Zip and Query routes.
	Request protocol.Request
	// DB is the parsed checksum database path of SumDB routes.
	DB DBPath
	// Err says why a path is malformed: set only for Other routes, and
	// for SumDB routes whose path after the database name is malformed.
	// It wraps fault.ErrInvalid.
	Err error
}

// DBPath is a parsed checksum database path: /sumdb/$Name/$Rest.
type DBPath struct {
	Name string // the database name, "" if the path has none
	// Rest is the database's own path: "supported", "latest",
	// "lookup/$module@$version" or "tile/...".
	Rest string
	// Module is the module path of a lookup ("" for other paths, and for
	// a lookup whose module path is malformed).
	Module string
	// Tile is the tile of a tile path.
	Tile tlog.Tile
	// IsTile is set for tile paths.
	IsTile bool
}

// Parse classifies a decoded URL path (as in [net/url.URL.Path]).
func Parse(path string) Route {
	r := Route{Path: path}
	if rest, ok := strings.CutPrefix(path, CachedOnlyPrefix); ok {
		r.Path, r.CachedOnly = "/"+rest, true
	}
	if e, ok := fixed[r.Path]; ok {
		r.Endpoint = e
		return r
	}
	if strings.HasPrefix(r.Path, APIPrefix) {
		r.Endpoint = API
		return r
	}
	if strings.HasPrefix(r.Path, VulnDBPrefix) {
		r.Endpoint = VulnDB
		return r
	}
	if r.Path == "/ui" || strings.HasPrefix(r.Path, UIPrefix) {
		r.Endpoint = UI
		return r
	}
	if rest, ok := strings.CutPrefix(r.Path, "/sumdb/"); ok {
		r.Endpoint = SumDB
		r.DB, r.Err = parseDB(rest)
		return r
	}
	req, err := protocol.Parse(r.Path)
	if err != nil {
		r.Err = fmt.Errorf("%w: %w", fault.ErrInvalid, err)
		return r
	}
	r.Request = req
	switch req.Kind {
	case protocol.List:
		r.Endpoint = List
	case protocol.Latest:
		r.Endpoint = Latest
	case protocol.Info:
		r.Endpoint = Info
		if !req.Canonical() {
			r.Endpoint = Query
		}
	case protocol.Mod:
		r.Endpoint = Mod
	case protocol.Zip:
		r.Endpoint = Zip
	}
	return r
}

// Module returns the module path the route names, for access control: the
// module of a module proxy request or of a checksum database lookup; "" for
// every other route.
func (r Route) Module() string {
	if r.Endpoint == SumDB {
		return r.DB.Module
	}
	if r.Err != nil {
		return ""
	}
	return r.Request.Module
}

// Access returns which rules decide the route.
func (r Route) Access() Access {
	if r.Module() != "" {
		return ModuleAccess
	}
	if r.Endpoint == UI && !r.CachedOnly && slices.ContainsFunc(uiOpen, func(p string) bool { return strings.HasPrefix(r.Path, p) }) {
		return Open
	}
	return access[r.Endpoint]
}

var errDBPath = errors.New("malformed checksum database path: want $name/supported, $name/latest, $name/lookup/$module@$version or $name/tile/...")

// parseDB parses the path after "/sumdb/". It rejects path traversal
// (empty, "." and ".." elements, backslashes and NULs), so a parsed path is
// safe to use as part of a storage key.
func parseDB(p string) (DBPath, error) {
	name, rest, ok := strings.Cut(p, "/")
	db := DBPath{Name: name, Rest: rest}
	if !ok || name == "" {
		return DBPath{}, fmt.Errorf("%w: %w", fault.ErrInvalid, errDBPath)
	}
	if rest != "supported" && rest != "latest" && !strings.HasPrefix(rest, "lookup/") && !strings.HasPrefix(rest, "tile/") {
		return db, fmt.Errorf("%w: %w", fault.ErrInvalid, errDBPath)
	}
	for elem := range strings.SplitSeq(rest, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.ContainsAny(elem, "\\\x00") {
			return db, fmt.Errorf("%w: %w", fault.ErrInvalid, errDBPath)
		}
	}
	if lookup, ok := strings.CutPrefix(rest, "lookup/"); ok {
		esc, _, _ := strings.Cut(lookup, "@")
		if mod, err := module.UnescapePath(esc); err == nil {
			db.Module = mod
		}
	}
	if strings.HasPrefix(rest, "tile/") {
		t, err := tlog.ParseTilePath(rest)
		if err != nil {
			return db, fmt.Errorf("%w: malformed tile path: %v", fault.ErrInvalid, err)
		}
		db.Tile, db.IsTile = t, true
	}
	return db, nil
}

type routeKey struct{}

// Handler parses each request's path once, before next runs, so that every
// handler down the chain (access control, tracing, the server) reads the
// same Route with [Of] without parsing it again. Without it, Of parses.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := Parse(r.URL.Path)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &rt)))
	})
}

// Of returns the route of r: the one [Handler] parsed, or Parse(r.URL.Path)
// if r did not pass through a Handler.
func Of(r *http.Request) Route {
	if rt, ok := r.Context().Value(routeKey{}).(*Route); ok {
		return *rt
	}
	return Parse(r.URL.Path)
}
