package index

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// TestConformance runs every case against SQLite and PostgreSQL, each with
// a new database.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b *backend, dsn string)
	}{
		{"MigrationsOnce", testMigrationsOnce},
		{"OpensRacing", testOpensRacing},
		{"VersionsRoundTrip", testVersionsRoundTrip},
		{"ReconcileAndReset", testReconcileAndReset},
		{"SameAnswersAsTheStore", testSameAnswersAsTheStore},
		{"SinceOrderAndPaging", testSinceOrderAndPaging},
		{"SearchModules", testSearchModules},
		{"EventsBatching", testEventsBatching},
		{"EventsFilterAndPaging", testEventsFilterAndPaging},
		{"BufferOverflowCounted", testBufferOverflowCounted},
		{"DownloadsAndHits", testDownloadsAndHits},
		{"Prune", testPrune},
		{"ModuleTotals", testModuleTotals},
		{"VersionDownloads", testVersionDownloads},
	}
	runBackends(t, func(t *testing.T, b *backend) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.fn(t, b, b.newDSN(t)) })
		}
	})
}

func testMigrationsOnce(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	applied, known, err := x.SchemaVersion(ctx(t))
	if err != nil || applied != known || known < 1 {
		t.Fatalf("SchemaVersion = %d, %d, %v; want the known version applied", applied, known, err)
	}
	if err := x.RecordVersion(ctx(t), sample("example.com/a", "v1.0.0", time.Now())); err != nil {
		t.Fatal(err)
	}
	x.Close()

	// Opening again applies nothing and keeps the data.
	x = open(t, dsn, Options{})
	var rows int
	if err := x.r.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	ms, _ := loadMigrations(x.d)
	if rows != len(ms) {
		t.Errorf("schema_migrations has %d rows after two opens, want %d", rows, len(ms))
	}
	if ok, err := x.Has(ctx(t), module.Version{Path: "example.com/a", Version: "v1.0.0"}); !ok || err != nil {
		t.Errorf("after reopening, Has = %v, %v", ok, err)
	}

	// A database migrated by a newer modvault is refused.
	if _, err := x.w.ExecContext(ctx(t), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x2, err := Open(ctx(t), dsn, Options{})
	if err == nil {
		x2.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a database with a newer schema: %v, want an error saying it is newer", err)
	}
}

func testOpensRacing(t *testing.T, b *backend, dsn string) {
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	xs := make([]*Index, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			xs[i], errs[i] = Open(ctx(t), dsn, Options{})
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d of %d racing: %v", i, n, errs[i])
			continue
		}
		defer xs[i].Close()
	}
	if t.Failed() {
		return
	}
	var rows int
	if err := xs[0].r.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if ms, _ := loadMigrations(xs[0].d); rows != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
	// All of them write and read the same database.
	for i, x := range xs {
		if err := x.RecordVersion(ctx(t), sample("example.com/race", fmt.Sprintf("v1.0.%d", i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if vs, err := xs[n-1].Versions(ctx(t), "example.com/race"); err != nil || len(vs) != n {
		t.Errorf("Versions = %d versions, %v; want %d", len(vs), err, n)
	}
}

func testVersionsRoundTrip(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	stored := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
	up := sample("example.com/Up", "v1.2.3", stored)
	up.Source.Upstream = "https://user:secret@127.0.0.1:9/proxy"
	direct := Version{
		Path: "example.test/private.git", Version: "v0.0.0-20260101000000-abcdefabcdef", StoredAt: stored.Add(time.Second),
		Source:  Source{Kind: SourceDirect, VCS: "git", URL: "https://example.test/private.git", Ref: "refs/heads/main", Hash: "abcdefabcdef0123456789abcdefabcdef012345"},
		Info:    File{Size: 100, SHA256: strings.Repeat("a", 64)},
		Mod:     File{Size: 20, SHA256: strings.Repeat("b", 64)},
		ModH1:   "h1:privatemod=",
		Private: true,
	}
	if err := x.RecordVersions(ctx(t), []Version{up, direct}); err != nil {
		t.Fatal(err)
	}

	want := up
	want.StoredAt = stored.UTC()
	want.Source.Upstream = "https://127.0.0.1:9/proxy" // user information removed
	checkVersion := func(want Version) {
		t.Helper()
		got, err := x.Version(ctx(t), module.Version{Path: want.Path, Version: want.Version})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Version(%s@%s) =\n%+v\nwant\n%+v", want.Path, want.Version, got, want)
		}
	}
	checkVersion(want)
	wantDirect := direct
	wantDirect.StoredAt = direct.StoredAt.UTC()
	checkVersion(wantDirect)

	// The zip comes later; recording it again replaces it; recording the
	// version again without a zip keeps it.
	mv := module.Version{Path: direct.Path, Version: direct.Version}
	zip := File{Size: 999, SHA256: strings.Repeat("c", 64)}
	for range 2 {
		if err := x.RecordZip(ctx(t), mv, zip, "h1:privatezip="); err != nil {
			t.Fatal(err)
		}
	}
	wantDirect.Zip, wantDirect.ZipH1 = &zip, "h1:privatezip="
	checkVersion(wantDirect)
	direct.Info.Size = 101
	if err := x.RecordVersion(ctx(t), direct); err != nil {
		t.Fatal(err)
	}
	wantDirect.Info.Size = 101
	checkVersion(wantDirect)

	// What the index does not hold.
	missing := module.Version{Path: "example.com/Up", Version: "v1.2.4"}
	if _, err := x.Version(ctx(t), missing); !errors.Is(err, fs.ErrNotExist) || fault.Of(err) != fault.NotFound {
		t.Errorf("Version of a version not held: %v, want fs.ErrNotExist and fault.NotFound", err)
	}
	if err := x.RecordZip(ctx(t), missing, zip, "h1:x="); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RecordZip of a version not held: %v, want fs.ErrNotExist", err)
	}
	if vs, err := x.Versions(ctx(t), "example.com/none"); err != nil || vs == nil || len(vs) != 0 {
		t.Errorf("Versions of a module not held = %v, %v; want an empty list", vs, err)
	}

	// Invalid versions are refused.
	for _, v := range []Version{
		sample("example.com/a", "v1.0", stored),      // not canonical
		sample("example.com/a/v2", "v1.0.0", stored), // not of the module
		sample("Example..com", "v1.0.0", stored),     // no module path
		{Path: "example.com/a", Version: "v1.0.0"},   // no source
	} {
		if err := x.RecordVersion(ctx(t), v); fault.Of(err) != fault.Invalid {
			t.Errorf("RecordVersion(%s@%s, source %q) = %v, want an Invalid error", v.Path, v.Version, v.Source.Kind, err)
		}
	}

	// Versions come in semver order, whatever the order of recording.
	order := []string{"v1.0.0-rc.1", "v1.0.0", "v1.9.0", "v1.10.0", "v2.0.0+incompatible", "v0.0.0-20190101000000-abcdefabcdef"}
	var vs []Version
	for _, v := range order {
		vs = append(vs, sample("example.com/order", v, stored))
	}
	if err := x.RecordVersions(ctx(t), vs); err != nil {
		t.Fatal(err)
	}
	got, err := x.Versions(ctx(t), "example.com/order")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got {
		names = append(names, v.Version)
	}
	wantOrder := slices.SortedFunc(slices.Values(order), compareVersions)
	if !slices.Equal(names, wantOrder) {
		t.Errorf("Versions = %v, want %v", names, wantOrder)
	}
}

func testReconcileAndReset(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	now := time.Now()
	withZip := sample("example.com/a", "v1.0.0", now)
	noZip := sample("example.com/a", "v1.1.0", now)
	noZip.Zip, noZip.ZipH1 = nil, ""
	other := sample("example.com/b", "v0.1.0", now)
	if err := x.RecordVersions(ctx(t), []Version{withZip, noZip, other, withZip}); err != nil { // twice in one call
		t.Fatal(err)
	}
	mv := func(v Version) module.Version { return module.Version{Path: v.Path, Version: v.Version} }
	absent := module.Version{Path: "example.com/a", Version: "v1.2.0"}
	absentModule := module.Version{Path: "example.com/c", Version: "v1.0.0"}
	missing, noZips, err := x.Missing(ctx(t), []module.Version{absent, mv(withZip), mv(noZip), absentModule, mv(other)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []module.Version{absent, absentModule}; !slices.Equal(missing, want) {
		t.Errorf("Missing: missing = %v, want %v", missing, want)
	}
	if want := []module.Version{mv(noZip)}; !slices.Equal(noZips, want) {
		t.Errorf("Missing: without zip = %v, want %v", noZips, want)
	}
	// Many at once (more than one query's worth).
	var many []module.Version
	for i := range 2500 {
		many = append(many, module.Version{Path: "example.com/a", Version: fmt.Sprintf("v1.0.%d", i)})
	}
	if missing, _, err := x.Missing(ctx(t), many); err != nil || len(missing) != len(many)-1 {
		t.Errorf("Missing of 2500 versions, one held: %d missing, %v; want %d", len(missing), err, len(many)-1)
	}

	// Sweep after re-recording some: the others go, and so do modules
	// left without versions.
	time.Sleep(2 * time.Millisecond)
	mark := time.Now()
	if err := x.RecordVersion(ctx(t), withZip); err != nil {
		t.Fatal(err)
	}
	if n, err := x.Sweep(ctx(t), mark); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2 versions removed", n, err)
	}
	page, err := x.Catalog(ctx(t), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Module{{Path: "example.com/a", Versions: []string{"v1.0.0"}}}; !reflect.DeepEqual(page.Modules, want) {
		t.Errorf("catalog after Sweep = %v, want %v", page.Modules, want)
	}

	// Forget removes a version, and its module with its last one.
	if err := x.RecordVersions(ctx(t), []Version{noZip, other}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []Version{withZip, noZip} {
		if err := x.Forget(ctx(t), mv(v)); err != nil {
			t.Fatal(err)
		}
		if ok, err := x.Has(ctx(t), mv(v)); ok || err != nil {
			t.Errorf("Has(%v) after Forget = %v, %v", mv(v), ok, err)
		}
	}
	for _, q := range []string{"", "example.com/"} { // a walk, and the trigram index
		if page, err := x.SearchModules(ctx(t), q, "", 0); err != nil || len(page.Modules) != 1 || page.Modules[0].Path != "example.com/b" {
			t.Errorf("search %q after forgetting every version of example.com/a: %v, %v; want only example.com/b", q, page.Modules, err)
		}
	}

	// Reset empties the versions, and keeps the events.
	x.Record(Event{Module: "example.com/a", Version: "v1.0.0", Kind: KindZip, Result: ResultHit})
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := x.RecordVersions(ctx(t), []Version{withZip, other}); err != nil {
		t.Fatal(err)
	}
	if err := x.Reset(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if entries, err := x.Since(ctx(t), time.Time{}, module.Version{}, 0); err != nil || len(entries) != 0 {
		t.Errorf("Since after Reset = %v, %v; want nothing", entries, err)
	}
	if page, err := x.Catalog(ctx(t), "", 0); err != nil || len(page.Modules) != 0 {
		t.Errorf("Catalog after Reset = %v, %v; want nothing", page, err)
	}
	if page, err := x.SearchModules(ctx(t), "example.com", "", 0); err != nil || len(page.Modules) != 0 {
		t.Errorf("search after Reset = %v, %v; want nothing", page, err)
	}
	if ev, err := x.Events(ctx(t), Filter{}, "", 0); err != nil || len(ev.Events) != 1 {
		t.Errorf("Events after Reset: %d, %v; want the 1 recorded before", len(ev.Events), err)
	}
}

// testSameAnswersAsTheStore records what a store holds, as a reindex
// does, and checks that the index's catalog and index pages are those
// internal/catalog computes from the store, page by page.
func testSameAnswersAsTheStore(t *testing.T, b *backend, dsn string) {
	st, err := store.Open(ctx(t), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	paths := []string{"example.com/a", "example.com/a-b", "example.com/a/v2", "example.com/A", "example.com/ab",
		"example.com/a.b", "example.com/a_b", "example.com/~a", "golang.org/x/mod", "github.com/Azure/azure-sdk", "gopkg.in/yaml.v3"}
	versions := []string{"v1.0.0", "v1.0.0-rc.1", "v1.10.0", "v1.9.0"}
	for i, p := range paths {
		for _, v := range versions[:1+i%len(versions)] {
			if strings.HasSuffix(p, "/v2") || strings.HasSuffix(p, ".v3") {
				v = "v" + p[len(p)-1:] + v[2:]
			}
			f, err := protocol.NewFile(module.Version{Path: p, Version: v}, protocol.Info)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx(t), f.Key, bytes.NewReader([]byte(`{"Version":"`+v+`"}`))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The walk of a reindex.
	x := open(t, dsn, Options{})
	var vs []Version
	err = st.Walk(ctx(t), "", func(e store.Entry) bool {
		r, err := protocol.Parse(e.Key)
		if err != nil {
			t.Fatalf("parsing %s: %v", e.Key, err)
		}
		vs = append(vs, sample(r.Module, r.Version, e.ModTime))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.RecordVersions(ctx(t), vs); err != nil {
		t.Fatal(err)
	}

	for _, limit := range []int{1, 3, 100} {
		cursor := ""
		for {
			want, err := catalog.ReadCatalog(ctx(t), st, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.Catalog(ctx(t), cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Catalog(%q, %d) =\n%v\ninternal/catalog:\n%v", cursor, limit, got, want)
			}
			if cursor = got.Next; cursor == "" {
				break
			}
		}
	}
	for _, limit := range []int{1, 4, 1000} {
		var since time.Time
		var after module.Version
		for n := 0; ; n++ {
			want, err := catalog.ReadIndex(ctx(t), st, since, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.Since(ctx(t), since, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Since(%v, %v, %d) =\n%v\ninternal/catalog:\n%v", since, after, limit, got, want)
			}
			if len(got) == 0 {
				if n*limit < len(vs) {
					t.Errorf("paging by %d ended after %d pages, for %d versions", limit, n, len(vs))
				}
				break
			}
			last := got[len(got)-1]
			since, after = last.Timestamp, module.Version{Path: last.Path, Version: last.Version}
		}
	}
	if _, err := x.Catalog(ctx(t), "example.com/A", 1); fault.Of(err) != fault.Invalid {
		t.Errorf("Catalog with a cursor that is no case-encoded path: %v, want an Invalid error", err)
	}
}

// testSinceOrderAndPaging checks /index's order where many versions share
// a time, and that pages stay exact while versions are added behind them.
func testSinceOrderAndPaging(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var vs []Version
	var want []IndexEntry
	for i := range 30 {
		at := t0.Add(time.Duration(i%3) * time.Nanosecond) // three times, ten versions each
		p := fmt.Sprintf("example.com/m%d", i%4)
		v := fmt.Sprintf("v1.%d.0", i)
		vs = append(vs, sample(p, v, at))
		want = append(want, IndexEntry{Path: p, Version: v, Timestamp: at})
	}
	if err := x.RecordVersions(ctx(t), vs); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b IndexEntry) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), strings.Compare(a.Path, b.Path), compareVersions(a.Version, b.Version))
	})
	all, err := x.Since(ctx(t), time.Time{}, module.Version{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("Since(zero) =\n%v\nwant\n%v", all, want)
	}
	// since is inclusive.
	got, err := x.Since(ctx(t), t0.Add(time.Nanosecond), module.Version{}, 0)
	if err != nil || !reflect.DeepEqual(got, want[10:]) {
		t.Errorf("Since(t0+1ns) = %v, %v; want the last 20", got, err)
	}
	// Paging by 7, adding a version at the very start after the first
	// page: it is behind the cursor, and every other comes exactly once.
	var paged []IndexEntry
	var since time.Time
	var after module.Version
	for {
		page, err := x.Since(ctx(t), since, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(paged) == 0 {
			if err := x.RecordVersion(ctx(t), sample("example.com/early", "v1.0.0", t0.Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		paged = append(paged, page...)
		last := page[len(page)-1]
		since, after = last.Timestamp, module.Version{Path: last.Path, Version: last.Version}
	}
	if !reflect.DeepEqual(paged, want) {
		t.Errorf("paged by 7 =\n%v\nwant\n%v", paged, want)
	}
}

func testSearchModules(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	now := time.Now()
	var vs []Version
	for i, p := range []string{"github.com/Azure/azure-sdk-for-go", "github.com/aws/aws-sdk-go-v2", "golang.org/x/mod", "golang.org/x/sync",
		"example.com/under_score", "example.com/underXscore", "example.com/a~b"} {
		for j := range i + 1 {
			vs = append(vs, sample(p, fmt.Sprintf("v1.%d.0", j), now))
		}
	}
	vs = append(vs, sample("golang.org/x/mod", "v1.10.0-rc.1", now))
	if err := x.RecordVersions(ctx(t), vs); err != nil {
		t.Fatal(err)
	}
	search := func(q, cursor string, limit int) ModulesPage {
		t.Helper()
		page, err := x.SearchModules(ctx(t), q, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	page := search("AZURE", "", 0)
	if want := []ModuleSummary{{Path: "github.com/Azure/azure-sdk-for-go", Versions: 1, Highest: "v1.0.0"}}; !reflect.DeepEqual(page.Modules, want) || page.Next != "" {
		t.Errorf("search AZURE = %+v, want %+v and no next page", page, want)
	}
	page = search("golang.org/x/", "", 0)
	if want := []ModuleSummary{{"golang.org/x/mod", 4, "v1.10.0-rc.1"}, {"golang.org/x/sync", 4, "v1.3.0"}}; !reflect.DeepEqual(page.Modules, want) {
		t.Errorf("search golang.org/x/ = %+v, want %+v", page.Modules, want)
	}
	// LIKE's wildcards are plain characters.
	for q, want := range map[string][]ModuleSummary{
		"under_":  {{"example.com/under_score", 5, "v1.4.0"}},
		"%":       {},
		`a`:      {},
		"a~b":     {{"example.com/a~b", 7, "v1.6.0"}},
		"x/mod/x": {},
	} {
		if page := search(q, "", 0); !reflect.DeepEqual(page.Modules, want) {
			t.Errorf("search %q = %+v, want %+v", q, page.Modules, want)
		}
	}
	// Paging by 2 through every module, in catalog order.
	cat, err := x.Catalog(ctx(t), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, m := range cat.Modules {
		want = append(want, m.Path)
	}
	for cursor := ""; ; {
		page := search("", cursor, 2)
		for _, m := range page.Modules {
			got = append(got, m.Path)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("search \"\" paged by 2 = %v, want %v", got, want)
	}
}
