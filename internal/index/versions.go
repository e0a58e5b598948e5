package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
)

// Where a version came from: [Source].Kind.
const (
	SourceUpstream = "upstream" // an upstream proxy of the GOPROXY list
	SourceDirect   = "direct"   // the module's version control system, through the go command
)

// Version is what the index records about one stored version.
type Version struct {
	Path    string // the module path (not case-encoded)
	Version string // the canonical version
	// StoredAt is when the version was stored: the modification time of
	// its .info in the store, as /index reports it.
	StoredAt time.Time
	Source   Source
	Info     File  // the .info file
	Mod      File  // the .mod file
	Zip      *File // the .zip file; nil if it is not stored (yet)
	// ModH1 and ZipH1 are the h1: hashes of the .mod and the zip, exactly
	// as go.sum writes them ("h1:…="); ZipH1 is "" while no zip is stored.
	ModH1, ZipH1 string
	// Proof is the checksum-database record that proved the hashes; nil if
	// they were not verified (see Private).
	Proof *Proof
	// Private is set for a version of a private module (GOPRIVATE,
	// GONOSUMDB): it was not verified against a public checksum database.
	Private bool

	// Read only: the index counts these from events and hits.

	// Downloads is the number of times the zip was served.
	Downloads int64
	// Hits is the number of times the .info or .mod was served.
	Hits int64
	// LastDownload is when one of the version's files was last served;
	// zero if never.
	LastDownload time.Time
}

// Source says where a version came from.
type Source struct {
	Kind string // SourceUpstream or SourceDirect
	// Upstream is the URL of the upstream proxy it came from (Kind
	// SourceUpstream). User information in it is removed before it is
	// stored.
	Upstream string
	// VCS, URL, Ref and Hash are the Origin of the version's .info (Kind
	// SourceDirect): the version control system, the repository's URL,
	// the tag or branch, and the commit hash.
	VCS, URL, Ref, Hash string
}

// File is the size and SHA-256 of one stored file.
type File struct {
	Size   int64
	SHA256 string // lowercase hex
}

// Proof is the checksum-database record that proved a version's hashes.
type Proof struct {
	DB       string // the checksum database's name, as in GOSUMDB
	Record   int64  // the record's number in the database's log
	TreeSize int64  // the size of the signed tree it was verified in
}

// errNoVersion is returned for a version the index does not hold.
var errNoVersion = fault.New(fault.NotFound, "version not in the index")

// versionColumns are the columns RecordVersions writes, in the order of
// versionArgs.
const versionColumns = `esc_key, module, version, vsort, stored_at, recorded_at,
	source_kind, source_upstream, origin_vcs, origin_url, origin_ref, origin_hash,
	info_size, info_sha256, mod_size, mod_sha256, mod_h1,
	zip_size, zip_sha256, zip_h1,
	sumdb_name, sumdb_record, sumdb_tree_size, private`

const numVersionColumns = 24

// versionArgs returns the values of versionColumns for v.
func versionArgs(v *Version, recordedAt int64) []any {
	var zipSize, zipSHA, zipH1 any
	if v.Zip != nil {
		zipSize, zipSHA, zipH1 = v.Zip.Size, v.Zip.SHA256, v.ZipH1
	}
	var db, rec, tree any
	if v.Proof != nil {
		db, rec, tree = v.Proof.DB, v.Proof.Record, v.Proof.TreeSize
	}
	return []any{escKey(v.Path), v.Path, v.Version, versionKey(v.Version), storedAt(v, recordedAt), recordedAt,
		v.Source.Kind, redactURL(v.Source.Upstream), v.Source.VCS, v.Source.URL, v.Source.Ref, v.Source.Hash,
		v.Info.Size, v.Info.SHA256, v.Mod.Size, v.Mod.SHA256, v.ModH1,
		zipSize, zipSHA, zipH1,
		db, rec, tree, v.Private}
}

// RecordVersion records v, as [Index.RecordVersions] does.
func (x *Index) RecordVersion(ctx context.Context, v Version) error {
	return x.RecordVersions(ctx, []Version{v})
}

// RecordVersions records stored versions, in one transaction per chunk of
// up to 1000: a version not in the index is added; one in it has its row
// replaced, except for its zip when v.Zip is nil (the zip recorded
// earlier, if any, stays), its download counts, which only events and
// hits change, and its detected licenses, which stay unless v.Zip is a
// different zip. A zero StoredAt means now. Each version must be valid (a
// module path and a canonical version of it) and name its source.
//
// Each version is also recorded as seen at its StoredAt ([Index.Seen]),
// in the same transaction, so that a stored version always has a
// first-seen time: the fill's time, or for a reindex the time its .info
// was stored, unless an earlier one is recorded.
//
// Call it after the version's .info is stored; reindexing calls it for
// every version a walk of the store finds, in large slices.
func (x *Index) RecordVersions(ctx context.Context, vs []Version) error {
	for i := range vs {
		if err := checkVersion(&vs[i]); err != nil {
			return err
		}
	}
	now := time.Now().UnixNano()
	for chunk := range chunks(vs, min(1000, x.d.maxParams/numVersionColumns)) {
		chunk = dedupe(chunk)
		seen := make([]seenRow, len(chunk))
		for i := range chunk {
			seen[i] = seenRow{module.Version{Path: chunk[i].Path, Version: chunk[i].Version}, storedAt(&chunk[i], now)}
		}
		if err := x.recordChunk(ctx, chunk, seen, now); err != nil {
			return fmt.Errorf("index: recording versions: %w", err)
		}
		x.seen.add(seen)
	}
	return nil
}

// storedAt returns v.StoredAt in Unix nanoseconds, or now if it is zero.
func storedAt(v *Version, now int64) int64 {
	if v.StoredAt.IsZero() {
		return now
	}
	return unixNano(v.StoredAt)
}

// recordChunk upserts vs, which name distinct versions, and their modules,
// and records them as seen (seen).
func (x *Index) recordChunk(ctx context.Context, vs []Version, seen []seenRow, now int64) error {
	return x.inTx(ctx, func(tx *sql.Tx) error {
		var q strings.Builder
		args := make([]any, 0, 2*len(vs))
		q.WriteString("INSERT INTO modules (path, esc_key) VALUES ")
		paths := make(map[string]bool)
		for _, v := range vs {
			if paths[v.Path] {
				continue
			}
			paths[v.Path] = true
			x.d.valuesRow(&q, len(args), plain(2)...)
			args = append(args, v.Path, escKey(v.Path))
		}
		q.WriteString(" ON CONFLICT (path) DO NOTHING")
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}

		q.Reset()
		args = make([]any, 0, numVersionColumns*len(vs))
		q.WriteString("INSERT INTO versions (" + versionColumns + ") VALUES ")
		for i := range vs {
			x.d.valuesRow(&q, len(args), plain(numVersionColumns)...)
			args = append(args, versionArgs(&vs[i], now)...)
		}
		q.WriteString(` ON CONFLICT (esc_key, vsort) DO UPDATE SET
			stored_at = excluded.stored_at, recorded_at = excluded.recorded_at,
			source_kind = excluded.source_kind, source_upstream = excluded.source_upstream,
			origin_vcs = excluded.origin_vcs, origin_url = excluded.origin_url,
			origin_ref = excluded.origin_ref, origin_hash = excluded.origin_hash,
			info_size = excluded.info_size, info_sha256 = excluded.info_sha256,
			mod_size = excluded.mod_size, mod_sha256 = excluded.mod_sha256, mod_h1 = excluded.mod_h1,
			zip_size = COALESCE(excluded.zip_size, versions.zip_size),
			zip_sha256 = COALESCE(excluded.zip_sha256, versions.zip_sha256),
			zip_h1 = COALESCE(excluded.zip_h1, versions.zip_h1),
			sumdb_name = excluded.sumdb_name, sumdb_record = excluded.sumdb_record,
			sumdb_tree_size = excluded.sumdb_tree_size, private = excluded.private,
			licenses = CASE WHEN excluded.zip_sha256 IS NULL OR excluded.zip_sha256 = versions.zip_sha256 THEN versions.licenses END`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		return x.writeSeen(ctx, tx, seen)
	})
}

// RecordZip records the zip of a version the index holds, with its h1:
// hash as go.sum writes it; recording it again replaces it (and forgets
// the licenses detected, if the zip differs). Call it after the zip is
// stored. It fails with an error matching fs.ErrNotExist if the
// index does not hold the version: record the version first.
func (x *Index) RecordZip(ctx context.Context, mv module.Version, zip File, h1 string) error {
	// Licenses detected in another zip are not this one's.
	res, err := x.w.ExecContext(ctx, `UPDATE versions SET zip_size = $1, zip_sha256 = $2, zip_h1 = $3,
		licenses = CASE WHEN zip_sha256 = $2 THEN licenses END WHERE esc_key = $4 AND vsort = $5`,
		zip.Size, zip.SHA256, h1, escKey(mv.Path), versionKey(mv.Version))
	if err != nil {
		return fmt.Errorf("index: recording the zip of %s: %w", mv, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("index: recording the zip of %s: %w", mv, errNoVersion)
	}
	return nil
}

// Forget removes a version from the index (its module too, if it was the
// last one): call it when the version is removed from the store. Its
// first-seen time stays. Forgetting a version the index does not hold
// does nothing.
func (x *Index) Forget(ctx context.Context, mv module.Version) error {
	err := x.inTx(ctx, func(tx *sql.Tx) error {
		key := escKey(mv.Path)
		if _, err := tx.ExecContext(ctx, "DELETE FROM versions WHERE esc_key = $1 AND vsort = $2", key, versionKey(mv.Version)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM modules WHERE esc_key = $1 AND NOT EXISTS (SELECT 1 FROM versions WHERE esc_key = $1)", key)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: forgetting %s: %w", mv, err)
	}
	return nil
}

// Reset removes every version and module from the index, before a
// reindex rebuilds it. Events, hit counters and first-seen times stay:
// they cannot be rebuilt from the store. Download counts go with the versions; to keep
// them, reindex without Reset and [Index.Sweep] afterwards.
func (x *Index) Reset(ctx context.Context) error {
	err := x.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range x.d.reset {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: reset: %w", err)
	}
	return nil
}

// Sweep removes the versions that were last recorded before t (and the
// modules left without versions), and returns how many versions it
// removed. A reindex that records every stored version, starting at t,
// then sweeps, leaves the index holding exactly what the store held, with
// the download counts of the versions that stayed.
func (x *Index) Sweep(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := x.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM versions WHERE recorded_at < $1", unixNano(t))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM modules WHERE NOT EXISTS (SELECT 1 FROM versions WHERE esc_key = modules.esc_key)")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("index: sweep: %w", err)
	}
	return n, nil
}

// Optimize refreshes the statistics the database plans queries with
// (ANALYZE). Call it after a reindex or another load of many versions:
// until then PostgreSQL may plan a listing as if the tables were empty
// (its autovacuum analyzes them too, within minutes), and SQLite has no
// statistics at all.
func (x *Index) Optimize(ctx context.Context) error {
	if _, err := x.w.ExecContext(ctx, x.d.optimize); err != nil {
		return fmt.Errorf("index: refreshing the statistics: %w", err)
	}
	return nil
}

// Missing reports which of vs the index does not hold (missing), and which
// it holds without a zip (noZip), each in the order of vs, for reconciling
// the index with a walk of the store. It costs one query per 1000
// versions.
func (x *Index) Missing(ctx context.Context, vs []module.Version) (missing, noZip []module.Version, err error) {
	err = x.lookup(ctx, vs, func(mv module.Version, st versionState) {
		switch {
		case !st.held:
			missing = append(missing, mv)
		case !st.zip:
			noZip = append(noZip, mv)
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("index: looking up versions: %w", err)
	}
	return missing, noZip, nil
}

// versionState is what lookup finds about a version.
type versionState struct {
	held     bool // the index holds the version
	zip      bool // … with a zip
	licenses bool // … and its licenses detected
}

// lookup calls fn with the state of each of vs, in order, with one query
// per 1000 versions.
func (x *Index) lookup(ctx context.Context, vs []module.Version, fn func(module.Version, versionState)) error {
	for chunk := range chunks(vs, 1000) {
		var q strings.Builder
		args := make([]any, 0, 2*len(chunk))
		q.WriteString("SELECT module, vsort, zip_size IS NOT NULL, licenses IS NOT NULL FROM versions WHERE (esc_key, vsort) IN (VALUES ")
		for _, mv := range chunk {
			x.d.valuesRow(&q, len(args), plain(2)...)
			args = append(args, escKey(mv.Path), versionKey(mv.Version))
		}
		q.WriteByte(')')
		held := make(map[module.Version]versionState, len(chunk))
		err := x.query(ctx, q.String(), args, func(rows *sql.Rows) error {
			var path, vsort string
			st := versionState{held: true}
			if err := rows.Scan(&path, &vsort, &st.zip, &st.licenses); err != nil {
				return err
			}
			held[module.Version{Path: path, Version: versionOfKey(vsort)}] = st
			return nil
		})
		if err != nil {
			return err
		}
		for _, mv := range chunk {
			fn(mv, held[mv])
		}
	}
	return nil
}

// Has reports whether the index holds the version.
func (x *Index) Has(ctx context.Context, mv module.Version) (bool, error) {
	missing, _, err := x.Missing(ctx, []module.Version{mv})
	return err == nil && len(missing) == 0, err
}

// checkVersion checks what RecordVersions requires of v.
func checkVersion(v *Version) error {
	if err := module.Check(v.Path, v.Version); err != nil {
		return fmt.Errorf("index: %w: %w", fault.ErrInvalid, err)
	}
	if module.CanonicalVersion(v.Version) != v.Version {
		return fmt.Errorf("index: %w: %s@%s: version is not canonical", fault.ErrInvalid, v.Path, v.Version)
	}
	if v.Source.Kind != SourceUpstream && v.Source.Kind != SourceDirect {
		return fmt.Errorf("index: %w: %s@%s: source kind %q is neither %q nor %q", fault.ErrInvalid, v.Path, v.Version, v.Source.Kind, SourceUpstream, SourceDirect)
	}
	return nil
}

// escKey returns the key of module path in modules.esc_key and
// versions.esc_key: the case-encoded path followed by "/@v/", as the
// store's keys start. An invalid path (which the index never holds) gets a
// key that no valid one has, so that looking it up finds nothing.
func escKey(path string) string {
	esc, err := module.EscapePath(path)
	if err != nil {
		return ":" + path // ':' is in no module path
	}
	return esc + "/@v/"
}

// dedupe returns vs with only the last of versions that appear more than
// once (PostgreSQL refuses an upsert that touches a row twice).
func dedupe(vs []Version) []Version {
	seen := make(map[module.Version]int, len(vs))
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		mv := module.Version{Path: v.Path, Version: v.Version}
		if i, ok := seen[mv]; ok {
			out[i] = v
			continue
		}
		seen[mv] = len(out)
		out = append(out, v)
	}
	return out
}

// redactURL returns u with the user information of its authority, if
// any, removed. It does not parse u, so that a URL that does not parse
// loses its secrets too.
func redactURL(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	start := len(u) - len(rest)
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return u
	}
	return u[:start] + rest[at+1:]
}
