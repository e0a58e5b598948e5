// Package checksumdb serves the checksum-database proxy endpoints,
// $proxy/sumdb/$name/{supported,latest,lookup/…,tile/…}, for the configured
// database names by passing them through to the upstream proxies' own
// /sumdb/$name/ endpoints.
package checksumdb

import (
	"errors"
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
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/sumdb/")
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
		http.Error(w, "bad gateway: checksum database upstream failed", http.StatusBadGateway)
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

// validRest accepts the database endpoints and rejects path traversal.
func validRest(rest string) bool {
	if rest != "supported" && rest != "latest" && !strings.HasPrefix(rest, "lookup/") && !strings.HasPrefix(rest, "tile/") {
		return false
	}
	for elem := range strings.SplitSeq(rest, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.Contains(strings.ToLower(elem), "%2e%2e") || strings.Contains(strings.ToLower(elem), "%2f") {
			return false
		}
	}
	return true
}
