package vulndb

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/modvault/modvault/internal/store"
)

// Finding is one vulnerability that affects a module version.
type Finding struct {
	ID      string   // the database's ID, such as GO-2024-1234
	Aliases []string // the same vulnerability's IDs elsewhere (CVE-..., GHSA-...)
	Summary string   // one line; may be empty
	// Fixed is the first version that fixes it after the version asked
	// about, with the "v" ("v1.2.4"), or "" when none is known (no fix yet,
	// or a range that ends in last_affected).
	Fixed string
	// Link is where to read more: the database's own page for the entry,
	// or else its first advisory or other reference; may be empty.
	Link string
}

// DB is a loaded vulnerability database. It is immutable and safe for
// concurrent use.
type DB struct {
	modified time.Time
	entries  map[string]*loaded   // by ID, withdrawn ones too (for reuse by the next Load)
	byModule map[string][]modVuln // by module path, not withdrawn, sorted by ID
}

// loaded is an entry as kept in memory.
type loaded struct {
	id        string
	modified  time.Time
	withdrawn bool
	aliases   []string
	summary   string
	link      string
	affected  map[string][]affects // by module path
}

// modVuln is one entry's affected ranges for one module.
type modVuln struct {
	e *loaded
	a []affects
}

// Modified returns the time the database was last modified, as its
// index/db.json says. Callers that cache decisions recompute them when it
// changes.
func (db *DB) Modified() time.Time { return db.modified }

// Len returns the number of entries, withdrawn ones included.
func (db *DB) Len() int { return len(db.entries) }

// Vulns returns the vulnerabilities that affect mod at version, sorted by
// ID, or nil if none does or version is not a valid semantic version.
// The findings' Aliases are shared with the DB: do not modify them.
// Withdrawn entries are ignored. mod is a module path or one of
// [StdlibModule] and [ToolchainModule], for which version may also be a
// Go release name (go1.21.3). A nil DB has no vulnerabilities.
func (db *DB) Vulns(mod, version string) []Finding {
	if db == nil {
		return nil
	}
	vulns := db.byModule[mod]
	if len(vulns) == 0 {
		return nil
	}
	v, ok := canonicalVersion(mod, version)
	if !ok {
		return nil
	}
	var found []Finding
	for _, mv := range vulns {
		for i := range mv.a {
			if ok, fix := mv.a[i].match(v); ok {
				found = append(found, Finding{
					ID:      mv.e.id,
					Aliases: mv.e.aliases,
					Summary: mv.e.summary,
					Fixed:   fix,
					Link:    mv.e.link,
				})
				break
			}
		}
	}
	return found
}

// Load reads the mirror from st into memory. prev, if not nil, is a DB
// loaded earlier: its entries whose modification time index/vulns.json
// still gives are reused instead of read again, so a reload after a small
// update reads a few objects. Load reads index/db.json first, so the DB's
// Modified is never newer than its entries. An empty mirror is an error
// matching fs.ErrNotExist.
func Load(ctx context.Context, st *store.Store, prev *DB) (*DB, error) {
	b, err := st.ReadAll(ctx, Prefix+dbEndpoint+".json")
	if err != nil {
		return nil, fmt.Errorf("vulndb: loading: %w", err)
	}
	var meta dbMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("vulndb: loading %s: %w", dbEndpoint, err)
	}
	b, err = st.ReadAll(ctx, Prefix+vulnsEndpoint+".json")
	if err != nil {
		return nil, fmt.Errorf("vulndb: loading: %w", err)
	}
	var index []vulnMeta
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, fmt.Errorf("vulndb: loading %s: %w", vulnsEndpoint, err)
	}
	db := &DB{modified: meta.Modified, entries: make(map[string]*loaded, len(index))}
	var toRead []vulnMeta
	for _, vm := range index {
		if !validID(vm.ID) {
			return nil, fmt.Errorf("vulndb: loading: invalid ID %q in %s", vm.ID, vulnsEndpoint)
		}
		if prev != nil {
			if e := prev.entries[vm.ID]; e != nil && e.modified.Equal(vm.Modified) {
				db.entries[vm.ID] = e
				continue
			}
		}
		toRead = append(toRead, vm)
	}
	read := make([]*loaded, len(toRead))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, vm := range toRead {
		g.Go(func() error {
			b, err := st.ReadAll(gctx, Prefix+idDir+vm.ID+".json")
			if err != nil {
				return fmt.Errorf("vulndb: loading: %w", err)
			}
			e, err := parseEntry(b, vm.ID)
			if err != nil {
				return fmt.Errorf("vulndb: loading: %w", err)
			}
			read[i] = compileEntry(e, vm.Modified)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, e := range read {
		db.entries[e.id] = e
	}
	db.index()
	return db, nil
}

// compileEntry keeps what Vulns needs of e. modified is the time the index
// gives, which decides reuse by the next Load.
func compileEntry(e *entry, modified time.Time) *loaded {
	l := &loaded{
		id:        e.ID,
		modified:  modified,
		withdrawn: e.Withdrawn != nil,
		aliases:   e.Aliases,
		summary:   e.Summary,
		link:      link(e),
		affected:  make(map[string][]affects),
	}
	for _, a := range e.Affected {
		if a.Package.Ecosystem != "Go" {
			continue
		}
		l.affected[a.Package.Name] = append(l.affected[a.Package.Name], compileAffected(a))
	}
	return l
}

// link returns the entry's page: database_specific.url where the Go
// database puts it, or the first ADVISORY reference, or the first one.
func link(e *entry) string {
	if e.DatabaseSpecific != nil && e.DatabaseSpecific.URL != "" {
		return e.DatabaseSpecific.URL
	}
	for _, r := range e.References {
		if r.Type == "ADVISORY" {
			return r.URL
		}
	}
	if len(e.References) > 0 {
		return e.References[0].URL
	}
	return ""
}

// index builds byModule from entries.
func (db *DB) index() {
	db.byModule = make(map[string][]modVuln)
	for _, e := range db.entries {
		if e.withdrawn {
			continue
		}
		for mod, a := range e.affected {
			db.byModule[mod] = append(db.byModule[mod], modVuln{e: e, a: a})
		}
	}
	for _, vs := range db.byModule {
		slices.SortFunc(vs, func(a, b modVuln) int { return cmp.Compare(a.e.id, b.e.id) })
	}
}
