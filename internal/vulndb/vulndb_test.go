package vulndb_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// newStore returns a file:// store in a temporary directory, and the
// directory.
func newStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), fileURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// dbServer serves a database directory over HTTP as a static file tree
// (as the Go database is served), counting requests by path.
type dbServer struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
	// fail, if set, answers 500 for the paths it returns true for.
	fail func(path string) bool
}

func serveDB(t *testing.T, dir string) *dbServer {
	t.Helper()
	s := &dbServer{n: map[string]int{}}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.n[r.URL.Path]++
		fail := s.fail
		s.mu.Unlock()
		if fail != nil && fail(r.URL.Path) {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// setFail sets fail.
func (s *dbServer) setFail(fail func(path string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// requests returns the paths requested since the last call, sorted.
func (s *dbServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps []string
	for p := range s.n {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	s.n = map[string]int{}
	return ps
}

func mustMirror(t *testing.T, src string, st *store.Store) bool {
	t.Helper()
	changed, err := vulndb.Mirror(context.Background(), src, st)
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func mustLoad(t *testing.T, st *store.Store, prev *vulndb.DB) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Load(context.Background(), st, prev)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestVulns(t *testing.T) {
	st, _ := newStore(t)
	mustMirror(t, fileURL(writeDB(t, t.TempDir(), testEntries...)), st)
	db := mustLoad(t, st, nil)

	for _, tc := range []struct {
		mod, version string
		want         []string // ID@fixed
	}{
		// A range with fixed versions: [0, 1.2.4) and [1.3.0, 1.3.2).
		{"example.com/vuln", "v0.0.1", []string{"GO-2099-0001@v1.2.4"}},
		{"example.com/vuln", "v1.2.3", []string{"GO-2099-0001@v1.2.4"}},
		{"example.com/vuln", "v1.2.4-pre", []string{"GO-2099-0001@v1.2.4"}},
		{"example.com/vuln", "v1.2.4", nil},
		{"example.com/vuln", "v1.2.9", nil},
		{"example.com/vuln", "v1.3.0", []string{"GO-2099-0001@v1.3.2"}},
		{"example.com/vuln", "v1.3.1", []string{"GO-2099-0001@v1.3.2"}},
		{"example.com/vuln", "v1.3.2", nil},
		{"example.com/vuln", "v2.0.0+incompatible", nil},
		{"example.com/vuln", "v0.0.0-20200101000000-abcdefabcdef", []string{"GO-2099-0001@v1.2.4"}},
		// last_affected: [1.0.0, 1.1.0], no fix.
		{"example.com/last", "v0.9.9", nil},
		{"example.com/last", "v1.0.0", []string{"GO-2099-0002@"}},
		{"example.com/last", "v1.1.0", []string{"GO-2099-0002@"}},
		{"example.com/last", "v1.1.1-0.20240101000000-abcdefabcdef", nil},
		{"example.com/last", "v1.1.1", nil},
		// A pseudo-version fix.
		{"example.com/pseudo", "v0.0.0-20230101000000-000000000000", []string{"GO-2099-0004@v0.0.0-20240102030405-abcdefabcdef"}},
		{"example.com/pseudo", "v0.0.0-20240102030405-abcdefabcdef", nil},
		{"example.com/pseudo", "v0.0.0-20250101000000-000000000000", nil},
		{"example.com/pseudo", "v0.1.0", nil},
		// The standard library and the toolchain, by semver or Go release.
		{"stdlib", "v1.21.4", []string{"GO-2099-0005@v1.21.5"}},
		{"stdlib", "go1.21.4", []string{"GO-2099-0005@v1.21.5"}},
		{"stdlib", "go1.21", []string{"GO-2099-0005@v1.21.5"}},
		{"stdlib", "go1.21rc2", []string{"GO-2099-0005@v1.21.5"}},
		{"stdlib", "go1.21.5", nil},
		{"toolchain", "go1.22rc1", []string{"GO-2099-0005@v1.22.0-rc.2"}},
		{"toolchain", "go1.22rc2", nil},
		{"toolchain", "go1.21.4", nil},
		// Unknown modules, invalid versions.
		{"example.com/other", "v1.0.0", nil},
		{"example.com/vuln", "1.2.3", nil},
		{"example.com/vuln", "latest", nil},
	} {
		var got []string
		for _, f := range db.Vulns(tc.mod, tc.version) {
			got = append(got, f.ID+"@"+f.Fixed)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Vulns(%s, %s) = %v, want %v", tc.mod, tc.version, got, tc.want)
		}
	}

	// The withdrawn entry never shows, and the finding says what a user
	// reads.
	f := db.Vulns("example.com/vuln", "v1.0.0")
	if len(f) != 1 {
		t.Fatalf("Vulns(example.com/vuln, v1.0.0) = %+v, want one finding", f)
	}
	want := vulndb.Finding{
		ID:      "GO-2099-0001",
		Aliases: []string{"CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"},
		Summary: "Bad does bad things in example.com/vuln",
		Fixed:   "v1.2.4",
		Link:    "https://example.com/vuln/GO-2099-0001",
	}
	if got := f[0]; got.ID != want.ID || !slices.Equal(got.Aliases, want.Aliases) || got.Summary != want.Summary || got.Fixed != want.Fixed || got.Link != want.Link {
		t.Errorf("finding = %+v, want %+v", got, want)
	}
	if f := db.Vulns("example.com/last", "v1.0.0"); len(f) != 1 || f[0].Link != "https://example.com/advisory/2" {
		t.Errorf("Vulns(example.com/last, v1.0.0) = %+v, want the ADVISORY reference as link", f)
	}
	if got, want := db.Modified(), time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Modified() = %v, want %v", got, want)
	}
	var nilDB *vulndb.DB
	if f := nilDB.Vulns("example.com/vuln", "v1.0.0"); f != nil {
		t.Errorf("nil DB: Vulns = %v, want nil", f)
	}
}

// TestRangeEvaluation checks the OSV evaluation on unsorted events,
// several ranges, and limit events.
func TestRangeEvaluation(t *testing.T) {
	const e = `{"id":"GO-2099-0100","modified":"2099-01-02T00:00:00Z","affected":[` +
		// Events out of order, as the schema allows.
		`{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"fixed":"2.0.1"},{"introduced":"2.0.0"},{"fixed":"1.0.1"},{"introduced":"0"}]}]},` +
		// Two ranges, and a range of another type that is ignored.
		`{"package":{"name":"example.com/b","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.1.0"}]},{"type":"SEMVER","events":[{"introduced":"3.0.0"}]},{"type":"GIT","repo":"https://example.com/b","events":[{"introduced":"0"}]}]},` +
		// A limit.
		`{"package":{"name":"example.com/c","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"1.5.0"}]}]},` +
		// No range: every version, as govulncheck reads it.
		`{"package":{"name":"example.com/d","ecosystem":"Go"}},` +
		// Another ecosystem: ignored.
		`{"package":{"name":"example.com/e","ecosystem":"npm"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}` +
		`]}`
	st, _ := newStore(t)
	mustMirror(t, fileURL(writeDB(t, t.TempDir(), e)), st)
	db := mustLoad(t, st, nil)
	for _, tc := range []struct {
		mod, version string
		affected     bool
		fixed        string
	}{
		{"example.com/a", "v1.0.0", true, "v1.0.1"},
		{"example.com/a", "v1.0.1", false, ""},
		{"example.com/a", "v2.0.0", true, "v2.0.1"},
		{"example.com/a", "v2.0.1", false, ""},
		{"example.com/b", "v0.9.0", false, ""},
		{"example.com/b", "v1.0.5", true, "v1.1.0"},
		{"example.com/b", "v2.0.0", false, ""},
		{"example.com/b", "v3.1.0", true, ""},
		{"example.com/c", "v1.4.9", true, ""},
		{"example.com/c", "v1.5.0", false, ""},
		{"example.com/d", "v9.9.9", true, ""},
		{"example.com/e", "v1.0.0", false, ""},
	} {
		f := db.Vulns(tc.mod, tc.version)
		if got := len(f) == 1; got != tc.affected || (got && f[0].Fixed != tc.fixed) {
			t.Errorf("Vulns(%s, %s) = %+v, want affected %v, fixed %q", tc.mod, tc.version, f, tc.affected, tc.fixed)
		}
	}
}

func TestMirrorHTTP(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	srv := serveDB(t, src)
	st, storeDir := newStore(t)
	if !mustMirror(t, srv.URL, st) {
		t.Fatal("first Mirror reported no change")
	}
	// Every file was asked for gzipped, as govulncheck asks, once.
	want := []string{"/index/db.json.gz", "/index/modules.json.gz", "/index/vulns.json.gz"}
	for _, id := range []string{"GO-2099-0001", "GO-2099-0002", "GO-2099-0003", "GO-2099-0004", "GO-2099-0005"} {
		want = append(want, "/ID/"+id+".json.gz")
	}
	slices.Sort(want)
	if got := srv.requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	// The mirror holds the same files, plain and gzipped.
	for _, name := range []string{"index/db.json", "index/modules.json", "index/vulns.json", "ID/GO-2099-0003.json"} {
		orig, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(storeDir, "vulndb", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(orig) {
			t.Errorf("mirrored %s = %s, want %s", name, got, orig)
		}
		gz, err := os.ReadFile(filepath.Join(storeDir, "vulndb", name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		if got := gunzip(t, gz); string(got) != string(orig) {
			t.Errorf("mirrored %s.gz gunzips to %s, want %s", name, got, orig)
		}
	}
	if f := mustLoad(t, st, nil).Vulns("example.com/vuln", "v1.2.3"); len(f) != 1 {
		t.Errorf("after mirroring over HTTP: Vulns = %v, want GO-2099-0001", f)
	}
}

// TestMirrorFile mirrors a local database that has only the plain files,
// the layout govulncheck reads from a file:// URL.
func TestMirrorFile(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".gz") {
			os.Remove(p)
		}
		return nil
	})
	st, storeDir := newStore(t)
	if !mustMirror(t, fileURL(src), st) {
		t.Fatal("first Mirror reported no change")
	}
	if _, err := os.Stat(filepath.Join(storeDir, "vulndb/ID/GO-2099-0004.json.gz")); err != nil {
		t.Errorf("the mirror lacks the gzipped form: %v", err)
	}
	if f := mustLoad(t, st, nil).Vulns("example.com/pseudo", "v0.0.0-20230101000000-000000000000"); len(f) != 1 {
		t.Errorf("after mirroring a file:// database: Vulns = %v, want GO-2099-0004", f)
	}
}

// storeTimes returns the modification time of every object in the store.
func storeTimes(t *testing.T, st *store.Store) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	err := st.Walk(context.Background(), vulndb.Prefix, func(e store.Entry) bool {
		m[e.Key] = e.ModTime
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMirrorUnchangedWritesNothing(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	srv := serveDB(t, src)
	st, _ := newStore(t)
	mustMirror(t, srv.URL, st)
	srv.requests()
	before := storeTimes(t, st)
	if len(before) != 2*(3+len(testEntries)) {
		t.Fatalf("mirror holds %d objects, want %d", len(before), 2*(3+len(testEntries)))
	}
	time.Sleep(10 * time.Millisecond) // so that a rewrite would show in the times
	if mustMirror(t, srv.URL, st) {
		t.Error("second Mirror of an unchanged database reported a change")
	}
	if got, want := srv.requests(), []string{"/index/db.json.gz"}; !slices.Equal(got, want) {
		t.Errorf("second Mirror requested %v, want only %v", got, want)
	}
	if after := storeTimes(t, st); !mapsEqual(before, after) {
		t.Errorf("second Mirror rewrote objects:\nbefore %v\nafter  %v", before, after)
	}
}

func mapsEqual(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}

// TestMirrorIncremental changes one entry upstream: the next Mirror
// fetches that entry and the indexes only, and Load with the previous DB
// picks up the change.
func TestMirrorIncremental(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	srv := serveDB(t, src)
	st, _ := newStore(t)
	mustMirror(t, srv.URL, st)
	db1 := mustLoad(t, st, nil)
	if f := db1.Vulns("example.com/last", "v1.2.0"); f != nil {
		t.Fatalf("before the update: Vulns(example.com/last, v1.2.0) = %v, want none", f)
	}
	srv.requests()
	before := storeTimes(t, st)

	// GO-2099-0002 now reaches v1.2.0, and a new entry appears.
	updated := strings.NewReplacer(`"last_affected":"1.1.0"`, `"last_affected":"1.2.0"`,
		`"modified":"2099-01-02T00:00:00Z"`, `"modified":"2099-02-01T00:00:00Z"`).Replace(entryLastAffected)
	added := strings.NewReplacer("GO-2099-0001", "GO-2099-0006", "example.com/vuln", "example.com/new",
		`"modified":"2099-01-02T00:00:00Z"`, `"modified":"2099-02-01T00:00:00Z"`).Replace(entryFixed)
	writeDB(t, src, entryFixed, updated, entryWithdrawn, entryPseudo, entryStdlib, added)
	if !mustMirror(t, srv.URL, st) {
		t.Fatal("Mirror of an updated database reported no change")
	}
	want := []string{"/ID/GO-2099-0002.json.gz", "/ID/GO-2099-0006.json.gz", "/index/db.json.gz", "/index/modules.json.gz", "/index/vulns.json.gz"}
	if got := srv.requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	after := storeTimes(t, st)
	for k, tm := range before {
		changes := strings.Contains(k, "/index/") || strings.Contains(k, "GO-2099-0002")
		if !after[k].Equal(tm) != changes {
			t.Errorf("%s rewritten: %v, want %v", k, !after[k].Equal(tm), changes)
		}
	}
	db2 := mustLoad(t, st, db1)
	if f := db2.Vulns("example.com/last", "v1.2.0"); len(f) != 1 || f[0].ID != "GO-2099-0002" {
		t.Errorf("after the update: Vulns(example.com/last, v1.2.0) = %v, want GO-2099-0002", f)
	}
	if f := db2.Vulns("example.com/new", "v1.0.0"); len(f) != 1 || f[0].ID != "GO-2099-0006" {
		t.Errorf("after the update: Vulns(example.com/new, v1.0.0) = %v, want GO-2099-0006", f)
	}
	if f := db1.Vulns("example.com/last", "v1.2.0"); f != nil {
		t.Errorf("the previous DB changed: %v", f)
	}
}

// TestMirrorFailureKeepsPreviousMirror: an update whose entry fails to
// download, or does not parse, leaves the previous mirror as it was, and
// the next Mirror completes it.
func TestMirrorFailureKeepsPreviousMirror(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	srv := serveDB(t, src)
	st, storeDir := newStore(t)
	mustMirror(t, srv.URL, st)
	oldDB, err := os.ReadFile(filepath.Join(storeDir, "vulndb/index/db.json"))
	if err != nil {
		t.Fatal(err)
	}

	updated := strings.NewReplacer(`"last_affected":"1.1.0"`, `"last_affected":"1.2.0"`,
		`"modified":"2099-01-02T00:00:00Z"`, `"modified":"2099-02-01T00:00:00Z"`).Replace(entryLastAffected)
	added := strings.NewReplacer("GO-2099-0001", "GO-2099-0006", `"modified":"2099-01-02T00:00:00Z"`, `"modified":"2099-02-01T00:00:00Z"`).Replace(entryFixed)
	writeDB(t, src, entryFixed, updated, entryWithdrawn, entryPseudo, entryStdlib, added)

	for _, tc := range []struct {
		name   string
		break_ func()
	}{
		{"download fails", func() {
			srv.setFail(func(p string) bool { return strings.Contains(p, "GO-2099-0006") })
		}},
		{"entry does not parse", func() {
			srv.setFail(nil)
			writeFile(t, src, "ID/GO-2099-0006.json", []byte(`{"id":"GO-2099-0006","affected":[{"package":{"name":"x","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"v1.0.0"}]}]}]}`))
		}},
		{"entry has another ID", func() {
			writeFile(t, src, "ID/GO-2099-0006.json", []byte(entryFixed))
		}},
	} {
		tc.break_()
		if _, err := vulndb.Mirror(context.Background(), srv.URL, st); err == nil {
			t.Fatalf("%s: Mirror succeeded", tc.name)
		}
		got, err := os.ReadFile(filepath.Join(storeDir, "vulndb/index/db.json"))
		if err != nil || string(got) != string(oldDB) {
			t.Fatalf("%s: index/db.json = %s, %v; want the previous %s", tc.name, got, err, oldDB)
		}
		db := mustLoad(t, st, nil)
		if f := db.Vulns("example.com/vuln", "v1.2.3"); len(f) != 1 {
			t.Errorf("%s: the previous mirror no longer loads right: %v", tc.name, f)
		}
	}

	writeFile(t, src, "ID/GO-2099-0006.json", []byte(added))
	srv.requests()
	if !mustMirror(t, srv.URL, st) {
		t.Fatal("repaired Mirror reported no change")
	}
	if f := mustLoad(t, st, nil).Vulns("example.com/last", "v1.2.0"); len(f) != 1 {
		t.Errorf("after the repaired Mirror: Vulns(example.com/last, v1.2.0) = %v, want GO-2099-0002", f)
	}
}

func TestMirrorRejectsBadSources(t *testing.T) {
	st, _ := newStore(t)
	for _, tc := range []struct {
		name string
		src  func() string
	}{
		{"no database", func() string { return fileURL(t.TempDir()) }},
		{"modules.json names an unlisted ID", func() string {
			dir := writeDB(t, t.TempDir(), entryFixed)
			writeFile(t, dir, "index/modules.json", []byte(`[{"path":"example.com/vuln","vulns":[{"id":"GO-2099-9999","modified":"2099-01-02T00:00:00Z"}]}]`))
			os.Remove(filepath.Join(dir, "index/modules.json.gz"))
			return fileURL(dir)
		}},
		{"path-traversing ID", func() string {
			dir := writeDB(t, t.TempDir(), entryFixed)
			writeFile(t, dir, "index/vulns.json", []byte(`[{"id":"../../x","modified":"2099-01-02T00:00:00Z"}]`))
			return fileURL(dir)
		}},
		{"unsupported scheme", func() string { return "ftp://example.com/db" }},
	} {
		if _, err := vulndb.Mirror(context.Background(), tc.src(), st); err == nil {
			t.Errorf("%s: Mirror succeeded", tc.name)
		}
	}
	if _, err := vulndb.Load(context.Background(), st, nil); err == nil {
		t.Error("Load succeeded after only failed mirrors")
	}
}

func TestUpdater(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	srv := serveDB(t, src)
	st, _ := newStore(t)
	u := &vulndb.Updater{Source: srv.URL, Store: st}
	if u.DB() != nil {
		t.Fatal("DB before the first Update is not nil")
	}
	if err := u.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	db := u.DB()
	if f := db.Vulns("example.com/vuln", "v1.2.3"); len(f) != 1 {
		t.Fatalf("Vulns = %v, want GO-2099-0001", f)
	}
	if err := u.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u.DB() != db {
		t.Error("Update with nothing changed replaced the DB")
	}

	// Offline, with the mirror already stored (an air gap, or a restart
	// while the source is down): the update fails, and the stored mirror
	// still loads.
	down := &vulndb.Updater{Source: "http://127.0.0.1:1/vulndb", Store: st}
	if err := down.Update(context.Background()); err == nil {
		t.Error("Update from an unreachable source succeeded")
	}
	if f := down.DB().Vulns("example.com/vuln", "v1.2.3"); len(f) != 1 {
		t.Errorf("offline: Vulns = %v, want GO-2099-0001 from the stored mirror", f)
	}
	local := &vulndb.Updater{Store: st}
	if err := local.Update(context.Background()); err != nil || local.DB() == nil {
		t.Errorf("Update with no source: %v, DB %v", err, local.DB())
	}

	// Run loads at once, and returns when its context is done.
	ctx, cancel := context.WithCancel(context.Background())
	run := &vulndb.Updater{Source: srv.URL, Store: st}
	done := make(chan struct{})
	go func() {
		run.Run(ctx, time.Hour)
		close(done)
	}()
	for deadline := time.Now().Add(time.Minute); run.DB() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not load the DB within a minute")
		}
	}
	cancel()
	<-done
}
