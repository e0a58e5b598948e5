package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
)

// MaxLimit is the largest page any listing returns; a larger limit means
// MaxLimit, and a limit of zero or less means DefaultLimit.
const (
	MaxLimit     = 10000
	DefaultLimit = 100
)

func pageSize(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return min(limit, MaxLimit)
}

// readColumns are the columns scanVersion reads.
const readColumns = `module, version, stored_at,
	source_kind, source_upstream, origin_vcs, origin_url, origin_ref, origin_hash,
	info_size, info_sha256, mod_size, mod_sha256, mod_h1,
	zip_size, zip_sha256, zip_h1,
	sumdb_name, sumdb_record, sumdb_tree_size, private,
	downloads, hits, last_download`

// scanVersion reads a row of readColumns.
func scanVersion(rows interface{ Scan(...any) error }) (Version, error) {
	var (
		v                   Version
		storedAt            int64
		zipSize             sql.NullInt64
		zipSHA, zipH1       sql.NullString
		db                  sql.NullString
		rec, tree, lastDown sql.NullInt64
	)
	err := rows.Scan(&v.Path, &v.Version, &storedAt,
		&v.Source.Kind, &v.Source.Upstream, &v.Source.VCS, &v.Source.URL, &v.Source.Ref, &v.Source.Hash,
		&v.Info.Size, &v.Info.SHA256, &v.Mod.Size, &v.Mod.SHA256, &v.ModH1,
		&zipSize, &zipSHA, &zipH1,
		&db, &rec, &tree, &v.Private,
		&v.Downloads, &v.Hits, &lastDown)
	if err != nil {
		return Version{}, err
	}
	v.StoredAt = fromUnixNano(storedAt)
	if zipSize.Valid {
		v.Zip = &File{Size: zipSize.Int64, SHA256: zipSHA.String}
		v.ZipH1 = zipH1.String
	}
	if db.Valid {
		v.Proof = &Proof{DB: db.String, Record: rec.Int64, TreeSize: tree.Int64}
	}
	if lastDown.Valid {
		v.LastDownload = fromUnixNano(lastDown.Int64)
	}
	return v, nil
}

// Version returns what the index records about a version, or an error
// matching fs.ErrNotExist (and fault.ErrNotFound) if it holds none.
func (x *Index) Version(ctx context.Context, mv module.Version) (Version, error) {
	row := x.r.QueryRowContext(ctx, "SELECT "+readColumns+" FROM versions WHERE esc_key = $1 AND vsort = $2",
		escKey(mv.Path), versionKey(mv.Version))
	v, err := scanVersion(row)
	if err == sql.ErrNoRows {
		err = errNoVersion
	}
	if err != nil {
		return Version{}, fmt.Errorf("index: %s: %w", mv, err)
	}
	return v, nil
}

// Versions returns the versions of module path that the index holds, in
// semantic version order (versions of equal precedence by their text); an
// empty list if it holds none.
func (x *Index) Versions(ctx context.Context, path string) ([]Version, error) {
	vs := []Version{}
	err := x.query(ctx, "SELECT "+readColumns+" FROM versions WHERE esc_key = $1 ORDER BY vsort", []any{escKey(path)},
		func(rows *sql.Rows) error {
			v, err := scanVersion(rows)
			vs = append(vs, v)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("index: versions of %s: %w", path, err)
	}
	return vs, nil
}

// IndexEntry is one version in the order of the module index (/index).
type IndexEntry struct {
	Path      string    // the module path (not case-encoded)
	Version   string    // the canonical version
	Timestamp time.Time // when it was stored (Version.StoredAt), in UTC
}

// Since returns up to limit versions in index order, starting at the
// position (since, after): ordered by Timestamp, then Path, then Version
// (in semantic version order), and only those that come after (since,
// after.Path, after.Version) in that order. With a zero after, that is
// every version with Timestamp >= since. These are the order and the
// cursor of internal/catalog's ReadIndex (GET /index): a client pages
// exactly by passing the last entry of a page as after, and its Timestamp
// as since.
func (x *Index) Since(ctx context.Context, since time.Time, after module.Version, limit int) ([]IndexEntry, error) {
	var afterKey string
	if after.Version != "" {
		afterKey = versionKey(after.Version)
	}
	entries := []IndexEntry{}
	err := x.query(ctx, `SELECT module, vsort, stored_at FROM versions
		WHERE (stored_at, module, vsort) > ($1, $2, $3)
		ORDER BY stored_at, module, vsort LIMIT $4`,
		[]any{unixNano(since), after.Path, afterKey, pageSize(limit)},
		func(rows *sql.Rows) error {
			var e IndexEntry
			var vsort string
			var t int64
			if err := rows.Scan(&e.Path, &vsort, &t); err != nil {
				return err
			}
			e.Version, e.Timestamp = versionOfKey(vsort), fromUnixNano(t)
			entries = append(entries, e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("index: versions since %v: %w", since, err)
	}
	return entries, nil
}

// Module is a module and its versions, as /catalog lists them.
type Module struct {
	Path     string   // the module path (not case-encoded)
	Versions []string // canonical versions, in semantic version order
}

// CatalogPage is one page of the catalog.
type CatalogPage struct {
	Modules []Module
	// Next is the cursor of the next page, or "" if this is the last one.
	Next string
}

// Catalog returns up to limit modules that come after cursor, with all
// their versions. The first page has cursor "". These are the order and
// the cursor of internal/catalog's ReadCatalog (GET /catalog): modules in
// the store's key order, that is in the order of their case-encoded paths
// followed by "/@v/", and a cursor is the case-encoded path of the last
// module of a page (a page starts after it whether or not that module is
// still held). A cursor that is no case-encoded path is an error matching
// fault.ErrInvalid.
func (x *Index) Catalog(ctx context.Context, cursor string, limit int) (CatalogPage, error) {
	after, err := cursorKey(cursor)
	if err != nil {
		return CatalogPage{}, err
	}
	limit = pageSize(limit)
	page := CatalogPage{Modules: []Module{}}
	// The modules of the page and the first of the next one; then the
	// versions of the page's, in one range scan of the versions' key.
	var keys []string
	err = x.query(ctx, "SELECT esc_key FROM modules WHERE esc_key > $1 ORDER BY esc_key LIMIT $2",
		[]any{after, limit + 1},
		func(rows *sql.Rows) error {
			var k string
			err := rows.Scan(&k)
			keys = append(keys, k)
			return err
		})
	if err != nil {
		return CatalogPage{}, fmt.Errorf("index: catalog: %w", err)
	}
	if len(keys) == 0 {
		return page, nil
	}
	if len(keys) > limit {
		keys = keys[:limit]
		page.Next = strings.TrimSuffix(keys[limit-1], "/@v/")
	}
	last := "" // the key of the last module in page
	// Only the key's columns: an index-only scan of the primary key.
	err = x.query(ctx, "SELECT esc_key, vsort FROM versions WHERE esc_key > $1 AND esc_key <= $2 ORDER BY esc_key, vsort",
		[]any{after, keys[len(keys)-1]},
		func(rows *sql.Rows) error {
			var key, vsort string
			if err := rows.Scan(&key, &vsort); err != nil {
				return err
			}
			if key != last {
				path, err := module.UnescapePath(strings.TrimSuffix(key, "/@v/"))
				if err != nil {
					return fmt.Errorf("module key %q: %w", key, err)
				}
				page.Modules = append(page.Modules, Module{Path: path})
				last = key
			}
			m := &page.Modules[len(page.Modules)-1]
			m.Versions = append(m.Versions, versionOfKey(vsort))
			return nil
		})
	if err != nil {
		return CatalogPage{}, fmt.Errorf("index: catalog: %w", err)
	}
	return page, nil
}

// cursorKey returns the esc_key after which the page of cursor, a
// case-encoded module path or "", starts.
func cursorKey(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	if _, err := module.UnescapePath(cursor); err != nil {
		return "", fmt.Errorf("index: %w: bad cursor: %w", fault.ErrInvalid, err)
	}
	return cursor + "/@v/", nil
}

// ModuleSummary is a module found by [Index.SearchModules].
type ModuleSummary struct {
	Path     string // the module path (not case-encoded)
	Versions int    // how many versions of it the index holds
	Highest  string // the highest of them in semantic version order
}

// ModulesPage is one page of [Index.SearchModules].
type ModulesPage struct {
	Modules []ModuleSummary
	// Next is the cursor of the next page, or "" if this is the last one.
	Next string
}

// SearchModules returns up to limit modules whose path contains q
// (ignoring ASCII case; "" matches every module) and that come after
// cursor, in the order and with the cursors of [Index.Catalog].
//
// A page walks the modules in order until limit of them match, which is
// quick for a q that many paths contain. For one that few paths contain,
// a trigram index finds them instead (PostgreSQL's planner chooses it by
// itself; on SQLite, searchByTrigrams decides), so that the walk never
// covers more than about a twentieth of the modules.
func (x *Index) SearchModules(ctx context.Context, q, cursor string, limit int) (ModulesPage, error) {
	after, err := cursorKey(cursor)
	if err != nil {
		return ModulesPage{}, err
	}
	limit = pageSize(limit)
	match, arg := "m.path "+x.d.ilike+` $2 ESCAPE '\'`, any("%"+escapeLike(q)+"%")
	if x.d.trigrams {
		phrase, few, err := x.searchByTrigrams(ctx, q, 20*(limit+1))
		if err != nil {
			return ModulesPage{}, fmt.Errorf("index: searching modules for %q: %w", q, err)
		}
		if few {
			match, arg = "m.id IN (SELECT rowid FROM modules_fts WHERE modules_fts MATCH $2)", phrase
		}
	}
	page := ModulesPage{Modules: []ModuleSummary{}}
	var keys []string
	err = x.query(ctx, `SELECT m.path, m.esc_key,
			(SELECT COUNT(*) FROM versions v WHERE v.esc_key = m.esc_key),
			(SELECT v.vsort FROM versions v WHERE v.esc_key = m.esc_key ORDER BY v.vsort DESC LIMIT 1)
		FROM modules m WHERE m.esc_key > $1 AND `+match+`
		ORDER BY m.esc_key LIMIT $3`,
		[]any{after, arg, limit + 1},
		func(rows *sql.Rows) error {
			var s ModuleSummary
			var key string
			var highest sql.NullString
			if err := rows.Scan(&s.Path, &key, &s.Versions, &highest); err != nil {
				return err
			}
			s.Highest = versionOfKey(highest.String)
			page.Modules = append(page.Modules, s)
			keys = append(keys, key)
			return nil
		})
	if err != nil {
		return ModulesPage{}, fmt.Errorf("index: searching modules for %q: %w", q, err)
	}
	if len(page.Modules) > limit {
		page.Modules = page.Modules[:limit]
		page.Next = strings.TrimSuffix(keys[limit-1], "/@v/")
	}
	return page, nil
}

// searchByTrigrams reports whether the trigram index should find the
// modules whose path contains q: whether fewer than max paths contain it
// (so that sorting them all costs less than walking the modules until a
// page's worth match), and q as an FTS5 phrase, which the trigram
// tokenizer matches as a substring, ignoring case. q must be at least
// three characters long for the index to help.
func (x *Index) searchByTrigrams(ctx context.Context, q string, max int) (phrase string, few bool, err error) {
	if utf8.RuneCountInString(q) < 3 {
		return "", false, nil
	}
	phrase = `"` + strings.ReplaceAll(q, `"`, `""`) + `"`
	var n int
	err = x.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT rowid FROM modules_fts WHERE modules_fts MATCH $1 LIMIT $2)",
		phrase, max).Scan(&n)
	return phrase, n < max, err
}

// escapeLike escapes the wildcards of LIKE (and the escape character \).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
