// Package checksumdb serves the checksum-database proxy endpoints,
// $proxy/sumdb/$name/{supported,latest,lookup/…,tile/…}, for the configured
// database names, and verifies module hashes against a database.
//
// Lookups and tiles are answered from the store first, and what the
// upstream proxies' own /sumdb/$name/ endpoints answer is kept there, under
// the same paths: the same keys the [Verifier] caches its reads under. So a
// go command with GOSUMDB on can verify every module modvault holds while
// the upstream is gone. For a database with a [Verifier], /latest is the
// verifier's head, which [Verifier.Follow] keeps current (see head.go).
package checksumdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

// Proxy is an http.Handler for paths under /sumdb/.
type Proxy struct {
	names     []string
	up        *upstream.Client
	store     *store.Store
	log       *slog.Logger
	verifiers map[string]*Verifier // by database name

	// NoLookup is a GONOSUMDB-style list of module path patterns
	// (module.MatchPrefixPatterns) whose lookups are answered 404 without
	// asking any upstream, so that a client configured without GONOSUMDB
	// cannot leak private module paths through modvault. Set it before
	// serving.
	NoLookup string
	// StoreFailed, if not nil, is called with every store operation of a
	// request that failed ("read", "write" or "list") and its error, for
	// metrics: such failures are otherwise answered from the upstream.
	// Missing objects are no failures. Set it before serving.
	StoreFailed func(op string, err error)
}

// New returns a Proxy for the checksum databases with the given names
// (for example the name in GOSUMDB), keeping lookups and tiles in st.
//
// For a database with one of the verifiers, only what the verifier
// authenticated enters the store (a lookup missing from the store is made
// through the verifier, which keeps it with its tiles); the store is the
// verifier's cache, which it trusts. For other databases, the upstream's
// answers are kept as they come: the go command verifies them.
func New(names []string, up *upstream.Client, st *store.Store, log *slog.Logger, verifiers ...*Verifier) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{names: names, up: up, store: st, log: log, verifiers: make(map[string]*Verifier)}
	for _, v := range verifiers {
		p.verifiers[v.Name()] = v
	}
	return p
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
		// database request; the store answers what it holds.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	if lookup, ok := strings.CutPrefix(rest, "lookup/"); ok && p.NoLookup != "" {
		escMod, _, _ := strings.Cut(lookup, "@")
		if mod, err := module.UnescapePath(escMod); err != nil || module.MatchPrefixPatterns(p.NoLookup, mod) {
			http.Error(w, "not found: private module paths are not looked up in a checksum database (GONOSUMDB/GOPRIVATE); set GONOSUMDB or GOPRIVATE for them in the go command", http.StatusNotFound)
			return
		}
	}
	var tile *tlog.Tile
	if strings.HasPrefix(rest, "tile/") {
		t, err := tlog.ParseTilePath(rest)
		if err != nil {
			http.Error(w, "bad request: malformed tile path", http.StatusBadRequest)
			return
		}
		tile = &t
	}
	if v := p.verifiers[name]; v != nil && rest == "latest" {
		p.serveLatest(w, r, v)
		return
	}
	ctx := r.Context()
	key := "sumdb/" + name + "/" + rest
	if rest != "latest" {
		body, err := p.store.ReadAll(ctx, key)
		if err == nil {
			p.write(w, r, rest, body)
			return
		}
		p.storeFailed(ctx, "read", err)
	}
	verifier := p.verifiers[name]
	if verifier != nil && strings.HasPrefix(rest, "lookup/") {
		if body, ok := verifier.lookup(ctx, strings.TrimPrefix(rest, "lookup/"), key); ok {
			p.write(w, r, rest, body)
			return
		}
	}
	body, err := p.up.GetBytes(ctx, key, maxRemote)
	if err == nil {
		if rest != "latest" && verifier == nil {
			// Lookups and tiles never change (a lookup's signed tree head
			// does, but any copy stays valid). The go command verifies
			// what it gets.
			if err := p.store.Create(context.WithoutCancel(ctx), key, bytes.NewReader(body)); err != nil && !errors.Is(err, fs.ErrExist) {
				p.storeFailed(context.WithoutCancel(ctx), "write", err)
				p.log.Warn("storing checksum database answer", "key", key, "err", err)
			}
		}
		p.write(w, r, rest, body)
		return
	}
	// The upstream failed: answer from the store where it can.
	switch {
	case rest == "latest":
		// The last tree head the Verifier proved consistent.
		body, serr := p.store.ReadAll(ctx, key)
		if serr == nil && len(body) > 0 {
			p.write(w, r, rest, body)
			return
		}
		p.storeFailed(ctx, "read", serr)
	case tile != nil && tile.W < 1<<tile.H:
		if body := p.partialTile(ctx, name, *tile); body != nil {
			p.write(w, r, rest, body)
			return
		}
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && (ue.Status == http.StatusNotFound || ue.Status == http.StatusGone || ue.Status == http.StatusBadRequest) {
		http.Error(w, ue.Text, ue.Status)
		return
	}
	if errors.As(err, &ue) && ue.URL == "" {
		http.Error(w, "not found: not in the store, and no upstream to fetch it from", http.StatusNotFound)
		return
	}
	p.log.Warn("checksum database upstream failed", "path", r.URL.Path, "err", err)
	msg := "bad gateway: checksum database upstream unreachable"
	if ue != nil {
		msg = fmt.Sprintf("bad gateway: checksum database upstream answered %d %s: %s", ue.Status, http.StatusText(ue.Status), ue.Text)
	}
	http.Error(w, msg, http.StatusBadGateway)
}

// partialTile cuts a partial tile (its first W hashes) from a stored full
// tile or a stored longer partial tile of the same position, which hold the
// same hashes first; nil if none is stored.
func (p *Proxy) partialTile(ctx context.Context, name string, t tlog.Tile) []byte {
	want := t.W * tlog.HashSize
	full := t
	full.W = 1 << t.H
	b, err := p.store.ReadAll(ctx, "sumdb/"+name+"/"+full.Path())
	if err == nil && len(b) >= want {
		return b[:want]
	}
	p.storeFailed(ctx, "read", err)
	prefix := "sumdb/" + name + "/" + full.Path() + ".p/"
	var best string
	bestW := 0
	err = p.store.List(ctx, prefix, func(e store.Entry) bool {
		if w, err := strconv.Atoi(strings.TrimPrefix(e.Key, prefix)); err == nil && w > t.W && (bestW == 0 || w < bestW) {
			best, bestW = e.Key, w
		}
		return true
	})
	p.storeFailed(ctx, "list", err)
	if best == "" {
		return nil
	}
	b, err = p.store.ReadAll(ctx, best)
	if err == nil && len(b) >= want {
		return b[:want]
	}
	p.storeFailed(ctx, "read", err)
	return nil
}

// storeFailed reports a failed store operation to StoreFailed: not a
// missing object, and not one cut off because the request ended.
func (p *Proxy) storeFailed(ctx context.Context, op string, err error) {
	if err != nil && p.StoreFailed != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
		p.StoreFailed(op, err)
	}
}

// write answers with a database response body.
func (p *Proxy) write(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if strings.HasPrefix(rest, "tile/") {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=60")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
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
