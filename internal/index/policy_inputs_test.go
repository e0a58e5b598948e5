package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

// TestPolicyInputs runs the cases of the policy's inputs (licenses and
// first-seen times) against SQLite and PostgreSQL.
func TestPolicyInputs(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b *backend, dsn string)
	}{
		{"LicensesStayWithTheZip", testLicensesStayWithTheZip},
		{"SeenKeepsTheEarliest", testSeenKeepsTheEarliest},
		{"SeenWritesNothingTwice", testSeenWritesNothingTwice},
		{"FilledVersionsAreSeen", testFilledVersionsAreSeen},
		{"MigrationKeepsData", testMigrationKeepsData},
	}
	runBackends(t, func(t *testing.T, b *backend) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.fn(t, b, b.newDSN(t)) })
		}
	})
}

func mvOf(v Version) module.Version { return module.Version{Path: v.Path, Version: v.Version} }

// wantLicenses checks what Licenses returns for mv.
func wantLicenses(t *testing.T, x *Index, mv module.Version, want []License, wantOK bool) {
	t.Helper()
	got, ok, err := x.Licenses(ctx(t), mv)
	if err != nil {
		t.Fatalf("Licenses(%v): %v", mv, err)
	}
	if ok != wantOK || !reflect.DeepEqual(got, want) {
		t.Errorf("Licenses(%v) = %#v, %v; want %#v, %v", mv, got, ok, want, wantOK)
	}
}

func testLicensesStayWithTheZip(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	now := time.Now()
	v := sample("example.com/lic", "v1.0.0", now)
	noZip := sample("example.com/lic", "v1.1.0", now)
	noZip.Zip, noZip.ZipH1 = nil, ""
	if err := x.RecordVersions(ctx(t), []Version{v, noZip}); err != nil {
		t.Fatal(err)
	}
	mv := mvOf(v)

	// Never detected: not ok.
	wantLicenses(t, x, mv, nil, false)
	wantLicenses(t, x, module.Version{Path: "example.com/none", Version: "v1.0.0"}, nil, false)
	if got, err := x.Licensed(ctx(t), []module.Version{mv, mvOf(noZip)}); err != nil || len(got) != 0 {
		t.Errorf("Licensed before detection = %v, %v; want none", got, err)
	}

	// Only a recorded zip has licenses.
	for _, no := range []module.Version{mvOf(noZip), {Path: "example.com/none", Version: "v1.0.0"}} {
		if err := x.SetLicenses(ctx(t), no, []License{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("SetLicenses(%v) without a zip in the index: %v, want fs.ErrNotExist", no, err)
		}
		wantLicenses(t, x, no, nil, false)
	}

	found := []License{
		{Path: "LICENSE", Types: []string{"AGPL-3.0"}, Coverage: 99.5},
		{Path: "third_party/x/COPYING", Types: []string{"Apache-2.0", "MIT"}, Coverage: 88},
	}
	if err := x.SetLicenses(ctx(t), mv, found); err != nil {
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, found, true)
	if got, err := x.Licensed(ctx(t), []module.Version{mvOf(noZip), mv}); err != nil || !reflect.DeepEqual(got, []module.Version{mv}) {
		t.Errorf("Licensed = %v, %v; want [%v]", got, err, mv)
	}

	// No license file: recorded, empty and not nil.
	if err := x.SetLicenses(ctx(t), mv, nil); err != nil {
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, []License{}, true)
	if err := x.SetLicenses(ctx(t), mv, found); err != nil {
		t.Fatal(err)
	}

	// Recording the same zip again, alone or with its version, keeps them.
	if err := x.RecordZip(ctx(t), mv, *v.Zip, v.ZipH1); err != nil {
		t.Fatal(err)
	}
	if err := x.RecordVersion(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	withoutZip := v
	withoutZip.Zip, withoutZip.ZipH1 = nil, ""
	if err := x.RecordVersion(ctx(t), withoutZip); err != nil {
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, found, true)

	// Another zip forgets them, through RecordZip or RecordVersions.
	other := File{Size: 1, SHA256: strings.Repeat("d", 64)}
	if err := x.RecordZip(ctx(t), mv, other, "h1:other="); err != nil {
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, nil, false)
	if err := x.SetLicenses(ctx(t), mv, found); err != nil {
		t.Fatal(err)
	}
	if err := x.RecordVersion(ctx(t), v); err != nil { // v's zip differs from other
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, nil, false)

	// They go with the version.
	if err := x.SetLicenses(ctx(t), mv, found); err != nil {
		t.Fatal(err)
	}
	if err := x.Forget(ctx(t), mv); err != nil {
		t.Fatal(err)
	}
	wantLicenses(t, x, mv, nil, false)
}

// wantFirstSeen checks FirstSeen of mv.
func wantFirstSeen(t *testing.T, x *Index, mv module.Version, want time.Time) {
	t.Helper()
	got, ok, err := x.FirstSeen(ctx(t), mv)
	if err != nil {
		t.Fatalf("FirstSeen(%v): %v", mv, err)
	}
	if want.IsZero() {
		if ok {
			t.Errorf("FirstSeen(%v) = %v, want none", mv, got)
		}
		return
	}
	if !ok || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("FirstSeen(%v) = %v, %v; want %v in UTC", mv, got, ok, want)
	}
}

func testSeenKeepsTheEarliest(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	const mod = "example.com/seen"
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	a := module.Version{Path: mod, Version: "v1.0.0"}
	c := module.Version{Path: mod, Version: "v1.1.0"}
	wantFirstSeen(t, x, a, time.Time{})

	// Invalid versions are skipped, duplicates merged.
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0", "v1.0", "latest", "v2.0.0", "v1.0.0"}, t0); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, a, t0)
	for _, v := range []string{"v1.0", "latest", "v2.0.0"} {
		wantFirstSeen(t, x, module.Version{Path: mod, Version: v}, time.Time{})
	}

	// Later: nothing changes; a new version gets the later time.
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0", "v1.1.0"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, a, t0)
	wantFirstSeen(t, x, c, t0.Add(time.Hour))

	// Earlier (a better source): it moves back, in this Index and in
	// another one (a replica, whose cache is empty).
	if err := x.Seen(ctx(t), mod, []string{"v1.1.0"}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, c, t0.Add(time.Minute))
	y := open(t, dsn, Options{})
	if err := y.Seen(ctx(t), mod, []string{"v1.0.0", "v1.1.0"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, y, a, t0)
	wantFirstSeen(t, y, c, t0.Add(time.Minute))
	if err := y.Seen(ctx(t), mod, []string{"v1.0.0"}, t0.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, a, t0.Add(-time.Second))

	// A zero time is now.
	before := time.Now()
	if err := x.Seen(ctx(t), mod, []string{"v1.2.0"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := x.FirstSeen(ctx(t), module.Version{Path: mod, Version: "v1.2.0"}); err != nil || !ok || got.Before(before) || got.After(time.Now()) {
		t.Errorf("FirstSeen after Seen at the zero time = %v, %v, %v; want now", got, ok, err)
	}

	// Many at once (more than one statement's worth).
	var many []string
	for i := range 2500 {
		many = append(many, fmt.Sprintf("v0.%d.0", i))
	}
	if err := x.Seen(ctx(t), mod, many, t0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := x.r.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM first_seen WHERE module = $1", mod).Scan(&n); err != nil || n != 2503 {
		t.Errorf("first_seen holds %d versions of %s, %v; want 2503", n, mod, err)
	}
}

// testSeenWritesNothingTwice: a version recorded as seen is not written
// again for a later time; the proof is a row deleted behind the Index's
// back, which a write would bring back. The cache is bounded.
func testSeenWritesNothingTwice(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{MaxSeenKeys: 10})
	const mod = "example.com/cached"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0"}, t0); err != nil {
		t.Fatal(err)
	}
	mv := module.Version{Path: mod, Version: "v1.0.0"}
	deleteSeen := func() {
		t.Helper()
		if _, err := x.w.ExecContext(ctx(t), "DELETE FROM first_seen WHERE module = $1", mod); err != nil {
			t.Fatal(err)
		}
	}
	deleteSeen()
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mv, time.Time{}) // not written
	// An earlier time is written.
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0"}, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mv, t0.Add(-time.Hour))

	// The cache holds at most MaxSeenKeys versions; the ones seen often
	// stay, the others are forgotten and written again (changing nothing).
	for i := range 100 {
		v := fmt.Sprintf("v2.%d.0", i)
		if err := x.Seen(ctx(t), mod+"/v2", []string{v}, t0); err != nil {
			t.Fatal(err)
		}
		if err := x.Seen(ctx(t), mod, []string{"v1.0.0"}, t0); err != nil { // kept in the cache
			t.Fatal(err)
		}
		if n := x.seen.len(); n > 10 {
			t.Fatalf("the cache holds %d versions, more than MaxSeenKeys (10)", n)
		}
	}
	deleteSeen()
	if err := x.Seen(ctx(t), mod, []string{"v1.0.0"}, t0); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mv, time.Time{}) // still cached: not written
	early := module.Version{Path: mod + "/v2", Version: "v2.0.0"}
	if _, err := x.w.ExecContext(ctx(t), "DELETE FROM first_seen WHERE module = $1 AND version = $2", early.Path, early.Version); err != nil {
		t.Fatal(err)
	}
	if err := x.Seen(ctx(t), early.Path, []string{early.Version}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, early, t0.Add(time.Hour)) // forgotten: written again
}

// testFilledVersionsAreSeen: recording a version records it as seen at
// its StoredAt (now for a fill), unless it was seen earlier; a reset keeps
// first-seen times.
func testFilledVersionsAreSeen(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

	fill := sample("example.com/filled", "v1.0.0", time.Time{}) // StoredAt zero: now
	before := time.Now()
	if err := x.RecordVersion(ctx(t), fill); err != nil {
		t.Fatal(err)
	}
	got, ok, err := x.FirstSeen(ctx(t), mvOf(fill))
	if err != nil || !ok || got.Before(before.Truncate(time.Microsecond)) || got.After(time.Now()) {
		t.Errorf("FirstSeen of a filled version = %v, %v, %v; want the time of the fill", got, ok, err)
	}
	if v, err := x.Version(ctx(t), mvOf(fill)); err != nil || !v.StoredAt.Equal(got) {
		t.Errorf("StoredAt = %v, %v; want FirstSeen's %v", v.StoredAt, err, got)
	}

	// Seen in a list before it was stored: the list's time stays.
	listed := sample("example.com/filled", "v1.1.0", t0.Add(time.Hour))
	if err := x.Seen(ctx(t), listed.Path, []string{listed.Version}, t0); err != nil {
		t.Fatal(err)
	}
	if err := x.RecordVersion(ctx(t), listed); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mvOf(listed), t0)

	// A reindex (StoredAt from the store) moves it back, never forward.
	reindexed := sample("example.com/filled", "v1.2.0", t0.Add(time.Hour))
	if err := x.RecordVersion(ctx(t), reindexed); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mvOf(reindexed), t0.Add(time.Hour))
	if err := x.Reset(ctx(t)); err != nil {
		t.Fatal(err)
	}
	reindexed.StoredAt = t0.Add(2 * time.Hour)
	if err := x.RecordVersions(ctx(t), []Version{reindexed, reindexed}); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mvOf(reindexed), t0.Add(time.Hour))
	wantFirstSeen(t, x, mvOf(listed), t0) // kept by Reset
	reindexed.StoredAt = t0.Add(30 * time.Minute)
	y := open(t, dsn, Options{}) // no cache
	if err := y.RecordVersion(ctx(t), reindexed); err != nil {
		t.Fatal(err)
	}
	wantFirstSeen(t, x, mvOf(reindexed), t0.Add(30*time.Minute))
}

// testMigrationKeepsData: a database at the first schema, with a version,
// is migrated: the version stays, first seen when it was stored, its
// licenses not detected.
func testMigrationKeepsData(t *testing.T, b *backend, dsn string) {
	c := ctx(t)
	old := openAtFirstSchema(t, b, dsn)
	stored := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	v := sample("example.com/old", "v1.0.0", stored)
	if _, err := old.ExecContext(c, "INSERT INTO modules (path, esc_key) VALUES ($1, $2)", v.Path, escKey(v.Path)); err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(c, "INSERT INTO versions ("+versionColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
		versionArgs(&v, stored.UnixNano())...); err != nil {
		t.Fatal(err)
	}
	old.Close()

	x := open(t, dsn, Options{})
	if applied, known, err := x.SchemaVersion(c); err != nil || applied != known {
		t.Fatalf("SchemaVersion = %d, %d, %v", applied, known, err)
	}
	got, err := x.Version(c, mvOf(v))
	if err != nil {
		t.Fatal(err)
	}
	want := v
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the migration, Version =\n%+v\nwant\n%+v", got, want)
	}
	wantFirstSeen(t, x, mvOf(v), stored)
	wantLicenses(t, x, mvOf(v), nil, false)
}

// openAtFirstSchema creates the database dsn at the first migration only,
// and returns a connection to it.
func openAtFirstSchema(t *testing.T, b *backend, dsn string) *sql.DB {
	t.Helper()
	c := ctx(t)
	x := &Index{}
	var err error
	if b.name == "postgres" {
		x.d = postgresDialect
		x.w, err = openPostgres(c, dsn, 1)
		x.r = x.w
	} else {
		x.d = sqliteDialect
		x.w, x.r, err = openSQLite(c, dsn, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if x.r != x.w {
		x.r.Close()
	}
	ms, err := loadMigrations(x.d)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := x.w.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(c, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if err := x.apply(c, conn, ms[0]); err != nil {
		t.Fatal(err)
	}
	return x.w
}

// BenchmarkSeen measures Seen of a list of 100 versions already recorded
// (the answer to every @v/list and @latest of a known module): from the
// Index's cache, and for comparison with the one statement that writes
// nothing (an upsert whose time is later than the recorded one).
//
//	go test -run XXX -bench Seen ./internal/index/
//	MODVAULT_BENCH_POSTGRES=1 go test -run XXX -bench Seen ./internal/index/
func BenchmarkSeen(b *testing.B) {
	for name, newDSN := range benchBackends(b) {
		b.Run(name, func(b *testing.B) {
			x := open(b, newDSN(b), Options{})
			const mod = "github.com/org/project"
			versions := make([]string, 100)
			rows := make([]seenRow, len(versions))
			t0 := time.Now()
			for i := range versions {
				versions[i] = fmt.Sprintf("v1.%d.0", i)
				rows[i] = seenRow{module.Version{Path: mod, Version: versions[i]}, unixNano(t0.Add(time.Hour))}
			}
			c := context.Background()
			if err := x.Seen(c, mod, versions, t0); err != nil {
				b.Fatal(err)
			}
			b.Run("cached", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := x.Seen(c, mod, versions, t0.Add(time.Hour)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("statement", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := x.writeSeen(c, x.w, rows); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
