// Package catalog tells what a modvault store holds, for tools that mirror
// or audit what came in:
//
//   - [ReadCatalog] (GET /catalog): the stored modules with their versions,
//     a page of modules at a time.
//   - [ReadIndex] (GET /index): the stored versions in the order they were
//     stored, in the format of the public module index.
//
// A version is stored once its .info is (package vault writes it last), so
// only versions with a stored .info count: a .mod or .zip alone is the
// leftover of a fill that never committed. The checksum-database tree
// (sumdb/) and quarantined objects (quarantine/) are not module versions.
// Pseudo-versions and +incompatible versions are included: this is an
// inventory of the store, unlike @v/list.
//
// There is no separate index to keep in step with the store: every call
// walks the store's listing, streaming, and keeps only what its page needs
// (memory grows with the page, not with the store). A /catalog page stops
// walking once it has its modules, so its cost grows with how far into the
// store it starts; an /index page always walks the whole store, since the
// listing is in key order and the index is in time order.
package catalog

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// Page sizes of /catalog (modules) and /index (versions).
const (
	DefaultCatalogLimit = 100
	MaxCatalogLimit     = 1000
	DefaultIndexLimit   = 2000
	MaxIndexLimit       = 2000
)

// Module is a stored module and its stored versions.
type Module struct {
	Path     string   // the module path (not case-encoded)
	Versions []string // canonical versions, in semantic version order
}

// Page is one page of the catalog.
type Page struct {
	Modules []Module
	// Next is the cursor of the next page, or "" if this is the last one.
	Next string
}

// ReadCatalog returns up to limit stored modules that come after cursor,
// with all their stored versions. The first page has cursor "". A limit
// of zero or less means [DefaultCatalogLimit]; more than [MaxCatalogLimit]
// means MaxCatalogLimit.
//
// Modules come in the store's key order, that is in the order of their
// case-encoded paths followed by "/@v/" (which is alphabetical except where
// a path continues another one: example.com/a-b comes before example.com/a,
// which comes before example.com/a/v2). A cursor is the case-encoded path of
// the last module of a page: a page starts after it whether or not that
// module is still stored, so paging is never thrown off by modules that
// are added or removed meanwhile, and reaches every module stored
// throughout exactly once.
func ReadCatalog(ctx context.Context, st *store.Store, cursor string, limit int) (Page, error) {
	return readCatalog(ctx, st, cursor, limit, nil)
}

// readCatalog is [ReadCatalog] without the modules keep refuses (nil
// keeps all): they are skipped in the walk, so the page is still full and
// Next is the last module it holds.
func readCatalog(ctx context.Context, st *store.Store, cursor string, limit int, keep func(path string) bool) (Page, error) {
	if limit <= 0 {
		limit = DefaultCatalogLimit
	}
	limit = min(limit, MaxCatalogLimit)
	if cursor != "" {
		if _, err := module.UnescapePath(cursor); err != nil {
			return Page{}, fmt.Errorf("catalog: bad cursor: %w", err)
		}
	}
	// Every key of a module starts with its escaped path and "/@v/", and
	// no other key does ("@" is in no module path), so a module's keys are
	// consecutive in the walk and modules come in the order of these
	// prefixes.
	after := cursor + "/@v/"
	page := Page{Modules: []Module{}}
	last := ""    // escaped path of the last module in the page
	refused := "" // escaped path of the last module keep refused
	err := st.Walk(ctx, "", func(e store.Entry) bool {
		// Keys up to the cursor's module are skipped before they are
		// parsed.
		if cursor != "" && e.Key <= after {
			return true
		}
		v, ok := parseInfoKey(e.Key)
		if !ok || (cursor != "" && v.escPath+"/@v/" <= after) {
			return true
		}
		if v.escPath != last {
			if v.escPath == refused || (keep != nil && !keep(v.path)) {
				refused = v.escPath // a module's keys are consecutive
				return true
			}
			if len(page.Modules) == limit {
				page.Next = last // one more module is stored
				return false
			}
			page.Modules = append(page.Modules, Module{Path: v.path})
			last = v.escPath
		}
		m := &page.Modules[len(page.Modules)-1]
		m.Versions = append(m.Versions, v.version)
		return true
	})
	if err != nil {
		return Page{}, fmt.Errorf("catalog: %w", err)
	}
	for _, m := range page.Modules {
		slices.SortFunc(m.Versions, compareVersions)
	}
	return page, nil
}

// IndexEntry is one stored version in the index.
type IndexEntry struct {
	Path    string // the module path (not case-encoded)
	Version string // the canonical version
	// Timestamp is when modvault stored the version: the modification
	// time of its .info object as the store reports it, in UTC. Its
	// precision is the store's: nanoseconds for a directory on most file
	// systems, seconds for S3 and Azure Blob Storage.
	Timestamp time.Time
}

// ReadIndex returns up to limit stored versions in index order, starting
// at the position (since, after): ordered by Timestamp, then by Path, then
// by Version (in semantic version order), and only those that come after
// (since, after.Path, after.Version) in that order. With a zero after, that
// is every version with Timestamp >= since: since is inclusive, as in the
// public module index. A limit of zero or less means [DefaultIndexLimit];
// more than [MaxIndexLimit] means MaxIndexLimit.
//
// A client that pages by passing the last Timestamp of a page as the next
// since gets the versions stored at that very time again (duplicates to
// drop), and cannot get past more than limit versions that share one
// Timestamp (likely only with a store of one-second precision). Passing
// the last entry as after too gives the next page exactly.
//
// A version shows in the store's listing a moment after its Timestamp
// (which is when its .info was written, before the write committed), so a
// version can appear behind the end of a page already read, by up to the
// time one small write takes. A client that polls for new versions should
// ask again from a little before the last Timestamp it saw and drop the
// duplicates.
func ReadIndex(ctx context.Context, st *store.Store, since time.Time, after module.Version, limit int) ([]IndexEntry, error) {
	return readIndex(ctx, st, since, after, limit, nil)
}

// readIndex is [ReadIndex] without the versions of modules keep refuses
// (nil keeps all): they are skipped in the walk, so the page is still
// full.
func readIndex(ctx context.Context, st *store.Store, since time.Time, after module.Version, limit int, keep func(path string) bool) ([]IndexEntry, error) {
	if limit <= 0 {
		limit = DefaultIndexLimit
	}
	limit = min(limit, MaxIndexLimit)
	bound := IndexEntry{Path: after.Path, Version: after.Version, Timestamp: since}
	// h keeps the limit first entries after bound seen so far; its root is
	// the last of them.
	h := make(entryHeap, 0, min(limit, 256))
	err := st.Walk(ctx, "", func(e store.Entry) bool {
		// Cheap checks of the time first: most keys of a large store
		// are outside the page.
		if e.ModTime.Before(since) || (len(h) == limit && e.ModTime.After(h[0].Timestamp)) {
			return true
		}
		v, ok := parseInfoKey(e.Key)
		if !ok {
			return true
		}
		ie := IndexEntry{Path: v.path, Version: v.version, Timestamp: e.ModTime.UTC()}
		switch {
		case compareEntries(ie, bound) <= 0:
		case keep != nil && !keep(ie.Path):
		case len(h) < limit:
			heap.Push(&h, ie)
		case compareEntries(ie, h[0]) < 0:
			h[0] = ie
			heap.Fix(&h, 0)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	entries := []IndexEntry(h)
	slices.SortFunc(entries, compareEntries)
	return entries, nil
}

// compareEntries orders index entries by Timestamp, Path and Version.
func compareEntries(a, b IndexEntry) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	return compareVersions(a.Version, b.Version)
}

// compareVersions orders versions by semantic version precedence, and
// versions of equal precedence (which differ in build metadata, such as
// "+incompatible") by their text, so that the order is total.
func compareVersions(a, b string) int {
	return cmp.Or(semver.Compare(a, b), strings.Compare(a, b))
}

// entryHeap is a max-heap of index entries (container/heap).
type entryHeap []IndexEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return compareEntries(h[i], h[j]) > 0 }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(IndexEntry)) }
func (h *entryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// storedVersion is a version whose .info is stored.
type storedVersion struct {
	escPath string // the case-encoded module path, as in the key
	path    string
	version string
}

// parseInfoKey reports whether key is the .info of a canonical version of
// a valid module (the mark of a stored version), and which.
func parseInfoKey(key string) (storedVersion, bool) {
	if !strings.HasSuffix(key, ".info") || strings.HasPrefix(key, "sumdb/") || strings.HasPrefix(key, "quarantine/") {
		return storedVersion{}, false
	}
	r, err := protocol.Parse(key)
	if err != nil || r.Kind != protocol.Info || !r.Canonical() || protocol.CheckVersion(r.Module, r.Version) != nil {
		return storedVersion{}, false
	}
	// Parse found "/@v/" at this very place.
	esc := key[:strings.LastIndex(key, "/@v/")]
	return storedVersion{escPath: esc, path: r.Module, version: r.Version}, true
}
