// Package checksumdb serves the checksum-database proxy endpoints,
// $proxy/sumdb/$name/{supported,latest,lookup/…,tile/…}, for the configured
// database names by passing them through to the upstream proxies' own
// /sumdb/$name/ endpoints.
package checksumdb

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/modvault/modvault/internal/upstream"
)

// Proxy is an http.Handler for paths under /sumdb/.
type Proxy struct {
	names []string
	up    *upstream.Client
	log   *slog.Logger
}

// New returns a Proxy for the checksum databases with the given names
// (for example the name in GOSUMDB).
func New(names []string, up *upstream.Client, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	return &Proxy{names: names, up: up, log: log}
}

// Names returns the names of the databases served.
func (p *Proxy) Names() []string { return p.names }

// ServeHTTP serves /sumdb/$name/$rest.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The decoded path is checked and passed on, so an escaped "." or "/"
	// ("%2e%2e", "..%2f") is seen for what it is.
	rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/")
	name, rest, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || !slices.Contains(p.names, name) {
		http.Error(w, "not found: unknown checksum database", http.StatusNotFound)
		return
	}
	if !validRest(rest) {
		http.Error(w, "bad request: malformed checksum database path", http.StatusBadRequest)
		return
	}
	if rest == "supported" {
		// 200 makes the go command use this proxy for every checksum
		// database request, so answer it only when there is an upstream
		// to pass them to; a 404 sends the go command elsewhere.
		if !p.hasUpstream() {
			http.Error(w, "not found: no upstream to serve the checksum database from", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	resp, err := p.up.Get(r.Context(), "sumdb/"+name+"/"+rest)
	if err != nil {
		var ue *upstream.Error
		if errors.As(err, &ue) && (ue.Status == http.StatusNotFound || ue.Status == http.StatusGone || ue.Status == http.StatusBadRequest) {
			http.Error(w, ue.Text, ue.Status)
			return
		}
		p.log.Warn("checksum database upstream failed", "path", r.URL.Path, "err", err)
		msg := "bad gateway: checksum database upstream unreachable"
		if ue != nil {
			msg = fmt.Sprintf("bad gateway: checksum database upstream answered %d %s: %s", ue.Status, http.StatusText(ue.Status), ue.Text)
		}
		http.Error(w, msg, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		p.log.Warn("checksum database copy failed", "path", r.URL.Path, "err", err)
	}
}

// hasUpstream reports whether requests can be passed to an upstream proxy.
func (p *Proxy) hasUpstream() bool {
	proxies := p.up.Proxies()
	return len(proxies) > 0 && !proxies[0].Off
}

// validRest accepts the database endpoints (rest is a decoded path) and
// rejects path traversal: empty, "." and ".." elements, backslashes and NULs.
func validRest(rest string) bool {
	if rest != "supported" && rest != "latest" && !strings.HasPrefix(rest, "lookup/") && !strings.HasPrefix(rest, "tile/") {
		return false
	}
	for elem := range strings.SplitSeq(rest, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.ContainsAny(elem, "\\\x00") {
			return false
		}
	}
	return true
}
