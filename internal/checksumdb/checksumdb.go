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

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/httperr"
	"github.com/modvault/modvault/internal/route"
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

// ServeHTTP serves /sumdb/$name/$rest, the path classified by route.Parse.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.Serve(w, r, route.Parse(r.URL.Path))
}

// Serve answers a request of a SumDB route: from the store, else through
// the verifier or the upstream. A failure is answered by httperr.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, rt route.Route) {
	if err := p.serve(w, r, rt); err != nil {
		httperr.WriteError(w, err)
	}
}

// serve answers a request, or returns the error to answer it with.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, rt route.Route) error {
	db := rt.DB
	// The path was decoded before it was parsed, so an escaped "." or "/"
	// ("%2e%2e", "..%2f") was seen for what it is.
	if !slices.Contains(p.names, db.Name) {
		return fmt.Errorf("%w: unknown checksum database", fault.ErrNotFound)
	}
	if rt.Err != nil {
		return rt.Err
	}
	rest := db.Rest
	if rest == "supported" {
		// 200 makes the go command use this proxy for every checksum
		// database request; the store answers what it holds.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	lookup := strings.HasPrefix(rest, "lookup/")
	if lookup && p.NoLookup != "" && (db.Module == "" || module.MatchPrefixPatterns(p.NoLookup, db.Module)) {
		return fmt.Errorf("%w: private module paths are not looked up in a checksum database (GONOSUMDB/GOPRIVATE); set GONOSUMDB or GOPRIVATE for them in the go command", fault.ErrNotFound)
	}
	if v := p.verifiers[db.Name]; v != nil && rest == "latest" {
		return p.serveLatest(w, r, v)
	}
	ctx := r.Context()
	key := "sumdb/" + db.Name + "/" + rest
	if v := p.verifiers[db.Name]; v != nil && rest != "latest" {
		// Authenticated, and still being written to the store.
		if body, ok := v.pending(key); ok {
			p.write(w, r, rest, body)
			return nil
		}
	}
	if rest != "latest" {
		body, err := p.store.ReadAll(ctx, key)
		if err == nil {
			p.write(w, r, rest, body)
			return nil
		}
		p.storeFailed(ctx, "read", err)
	}
	verifier := p.verifiers[db.Name]
	if verifier != nil && lookup {
		if body, ok := verifier.lookup(ctx, strings.TrimPrefix(rest, "lookup/"), key); ok {
			p.write(w, r, rest, body)
			return nil
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
		return nil
	}
	// The upstream failed: answer from the store where it can.
	switch {
	case rest == "latest":
		// The last tree head the Verifier proved consistent.
		body, serr := p.store.ReadAll(ctx, key)
		if serr == nil && len(body) > 0 {
			p.write(w, r, rest, body)
			return nil
		}
		p.storeFailed(ctx, "read", serr)
	case db.IsTile && db.Tile.W < 1<<db.Tile.H:
		if body := p.partialTile(ctx, db.Name, db.Tile); body != nil {
			p.write(w, r, rest, body)
			return nil
		}
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.URL == "" {
		return fmt.Errorf("%w: not in the store, and no upstream to fetch it from", fault.ErrNotFound)
	}
	if !fault.Of(err).Missing() {
		p.log.Warn("checksum database upstream failed", "path", r.URL.Path, "err", err)
	}
	return fmt.Errorf("checksum database: %w", err)
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
