package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// runBackends runs fn in a subtest per database: an SQLite file, and a
// real PostgreSQL server (started once, in its subtest), each a new empty
// database per call of newDSN.
func runBackends(t *testing.T, fn func(t *testing.T, newDSN func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "index.sqlite") })
	})
	t.Run("postgres", func(t *testing.T) {
		pg := testserver.Postgres(t)
		fn(t, func(t *testing.T) string { return pg.NewDatabase(t) })
	})
}

// open opens the index dsn, or fails t, and closes it at the end.
func open(t testing.TB, dsn string) *index.Index {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := index.Open(ctx, dsn, index.Options{Replica: "r1"})
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture records three modules (one of them private and direct, one with
// an uppercase path) and some events, and returns the handler over them.
func fixture(t *testing.T, dsn string) (http.Handler, *index.Index) {
	t.Helper()
	x := open(t, dsn)
	ctx := context.Background()
	hash := func(s string) string { return fmt.Sprintf("%064x", len(s)) }
	vs := []index.Version{
		{Path: "github.com/Azure/sdk", Version: "v1.0.0", StoredAt: t0,
			Source: index.Source{Kind: index.SourceUpstream, Upstream: "https://user:secret@proxy.example.test/"},
			Info:   index.File{Size: 60, SHA256: hash("i1")}, Mod: index.File{Size: 30, SHA256: hash("m1")},
			Zip:   &index.File{Size: 1234, SHA256: hash("z1")},
			ModH1: "h1:modA1=", ZipH1: "h1:zipA1=",
			Proof: &index.Proof{DB: "sum.example.test", Record: 42, TreeSize: 1000}},
		{Path: "github.com/Azure/sdk", Version: "v1.2.0", StoredAt: t0.Add(2 * time.Second),
			Source: index.Source{Kind: index.SourceUpstream, Upstream: "https://proxy.example.test/"},
			Info:   index.File{Size: 61, SHA256: hash("i2")}, Mod: index.File{Size: 31, SHA256: hash("m2")},
			ModH1: "h1:modA2="},
		{Path: "example.com/plain", Version: "v0.1.0", StoredAt: t0.Add(time.Second),
			Source: index.Source{Kind: index.SourceUpstream, Upstream: "https://proxy.example.test/"},
			Info:   index.File{Size: 62, SHA256: hash("i3")}, Mod: index.File{Size: 32, SHA256: hash("m3")},
			ModH1: "h1:modP="},
		{Path: "corp.example.com/Private/lib", Version: "v0.0.0-20240501120000-abcdefabcdef", StoredAt: t0.Add(time.Second),
			Source: index.Source{Kind: index.SourceDirect, VCS: "git", URL: "https://git.corp.example.com/lib", Ref: "refs/heads/main", Hash: "abcdefabcdef0123"},
			Info:   index.File{Size: 63, SHA256: hash("i4")}, Mod: index.File{Size: 33, SHA256: hash("m4")},
			Zip: &index.File{Size: 99, SHA256: hash("z4")}, ModH1: "h1:modC=", ZipH1: "h1:zipC=", Private: true},
	}
	if err := x.RecordVersions(ctx, vs); err != nil {
		t.Fatal(err)
	}
	for i, e := range []index.Event{
		{User: "alice", ClientAddr: "10.0.0.1", Module: "github.com/Azure/sdk", Version: "v1.0.0", Kind: index.KindZip, Result: index.ResultFilled, Bytes: 1234},
		{User: "bob", ClientAddr: "10.0.0.2", Module: "github.com/Azure/sdk", Version: "v1.0.0", Kind: index.KindZip, Result: index.ResultHit, Bytes: 1234},
		{User: "", ClientAddr: "10.0.0.3", Module: "corp.example.com/Private/lib", Kind: index.KindList, Result: index.ResultDenied, Reason: "no rule grants it"},
	} {
		e.Time = t0.Add(time.Duration(10+i) * time.Minute)
		x.Record(e)
	}
	if err := x.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return api.New(api.Options{Index: x}), x
}

// get serves GET target through h.
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

// getJSON serves GET target, checks the answer is a 200 JSON no-store
// answer, and decodes it into v.
func getJSON(t *testing.T, h http.Handler, target string, v any) {
	t.Helper()
	w := get(h, target)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("GET %s: Content-Type %q, Cache-Control %q", target, ct, cc)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v in %s", target, err, w.Body)
	}
}

// jsonError serves GET target and returns the status and the error text.
func jsonError(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	w := get(h, target)
	var e struct{ Error string }
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: %d with Content-Type %q: %s", target, w.Code, ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("GET %s: %d, not a JSON error: %s", target, w.Code, w.Body)
	}
	return w.Code, e.Error
}

func TestAPI(t *testing.T) {
	runBackends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		h, _ := fixture(t, newDSN(t))
		t.Run("Modules", func(t *testing.T) { testModules(t, h) })
		t.Run("Module", func(t *testing.T) { testModule(t, h) })
		t.Run("Version", func(t *testing.T) { testVersion(t, h) })
		t.Run("Events", func(t *testing.T) { testEvents(t, h) })
		t.Run("Catalog", func(t *testing.T) { testCatalog(t, h) })
		t.Run("Index", func(t *testing.T) { testIndex(t, h) })
		t.Run("BadRequests", func(t *testing.T) { testBadRequests(t, h) })
		t.Run("Methods", func(t *testing.T) { testMethods(t, h) })
	})
}

func testModules(t *testing.T, h http.Handler) {
	var all api.ModulesPage
	getJSON(t, h, "/api/v1/modules", &all)
	want := []api.ModuleSummary{ // in the order of the case-encoded paths
		{Path: "corp.example.com/Private/lib", Versions: 1, Highest: "v0.0.0-20240501120000-abcdefabcdef"},
		{Path: "example.com/plain", Versions: 1, Highest: "v0.1.0"},
		{Path: "github.com/Azure/sdk", Versions: 2, Highest: "v1.2.0"},
	}
	if fmt.Sprint(all.Modules) != fmt.Sprint(want) || all.Next != "" {
		t.Errorf("all modules: %+v, want %+v and no next", all, want)
	}

	// Paging one module at a time reaches each once, then ends.
	var got []api.ModuleSummary
	cursor := ""
	for range 10 {
		var p api.ModulesPage
		getJSON(t, h, "/api/v1/modules?limit=1&cursor="+url.QueryEscape(cursor), &p)
		got = append(got, p.Modules...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged one at a time: %+v, want %+v", got, want)
	}

	// Search ignores case.
	var azure api.ModulesPage
	getJSON(t, h, "/api/v1/modules?q=azure", &azure)
	if len(azure.Modules) != 1 || azure.Modules[0].Path != "github.com/Azure/sdk" {
		t.Errorf("q=azure: %+v", azure)
	}
	var none api.ModulesPage
	getJSON(t, h, "/api/v1/modules?q=nothing-has-this", &none)
	if none.Modules == nil || len(none.Modules) != 0 || none.Next != "" {
		t.Errorf("q=nothing-has-this: %+v, want an empty list", none)
	}
}

func testModule(t *testing.T, h http.Handler) {
	var m api.ModuleVersions
	getJSON(t, h, "/api/v1/modules/github.com/Azure/sdk", &m)
	if m.Path != "github.com/Azure/sdk" || len(m.Versions) != 2 {
		t.Fatalf("module: %+v", m)
	}
	v0, v1 := m.Versions[0], m.Versions[1]
	if v0.Version != "v1.0.0" || !v0.StoredAt.Equal(t0) || v0.InfoSize != 60 || v0.ModSize != 30 ||
		v0.ZipSize == nil || *v0.ZipSize != 1234 || v0.ModH1 != "h1:modA1=" || v0.ZipH1 != "h1:zipA1=" ||
		v0.Downloads != 2 || !v0.LastDownload.Equal(t0.Add(11*time.Minute)) || v0.Private {
		t.Errorf("v1.0.0: %+v", v0)
	}
	if v1.Version != "v1.2.0" || v1.ZipSize != nil || v1.ZipH1 != "" || v1.Downloads != 0 || !v1.LastDownload.IsZero() {
		t.Errorf("v1.2.0 (no zip, no download): %+v", v1)
	}
	if w := get(h, "/api/v1/modules/github.com/Azure/sdk"); strings.Contains(w.Body.String(), "last_download\":\"0001") {
		t.Errorf("a never-downloaded version has a zero last_download: %s", w.Body)
	}

	var p api.ModuleVersions
	getJSON(t, h, "/api/v1/modules/corp.example.com/Private/lib", &p)
	if len(p.Versions) != 1 || !p.Versions[0].Private {
		t.Errorf("private module: %+v", p)
	}

	// Paths are plain: the case-encoded path names no module.
	for _, target := range []string{"/api/v1/modules/github.com/azure/sdk", "/api/v1/modules/example.com/unknown"} {
		if code, msg := jsonError(t, h, target); code != http.StatusNotFound || !strings.Contains(msg, "not in the index") {
			t.Errorf("GET %s: %d %q, want 404 not in the index", target, code, msg)
		}
	}
}

func testVersion(t *testing.T, h http.Handler) {
	var v api.Version
	getJSON(t, h, "/api/v1/versions/github.com/Azure/sdk@v1.0.0", &v)
	want := api.Version{
		Path: "github.com/Azure/sdk", Version: "v1.0.0", StoredAt: t0,
		Source: api.Source{Kind: "upstream", Upstream: "https://proxy.example.test/"},
		Info:   api.File{Size: 60, SHA256: fmt.Sprintf("%064x", 2)}, Mod: api.File{Size: 30, SHA256: fmt.Sprintf("%064x", 2)},
		Zip:   &api.File{Size: 1234, SHA256: fmt.Sprintf("%064x", 2)},
		ModH1: "h1:modA1=", ZipH1: "h1:zipA1=",
		Verified:  "checksum database sum.example.test, record 42, tree size 1000",
		Proof:     &api.Proof{DB: "sum.example.test", Record: 42, TreeSize: 1000},
		Downloads: 2, LastDownload: t0.Add(11 * time.Minute),
	}
	if g, w := jsonOf(t, v), jsonOf(t, want); g != w {
		t.Errorf("version:\n got %s\nwant %s", g, w)
	}

	var p api.Version
	getJSON(t, h, "/api/v1/versions/corp.example.com/Private/lib@v0.0.0-20240501120000-abcdefabcdef", &p)
	if p.Verified != "not verified: private" || p.Proof != nil || !p.Private ||
		p.Source != (api.Source{Kind: "direct", VCS: "git", URL: "https://git.corp.example.com/lib", Ref: "refs/heads/main", Hash: "abcdefabcdef0123"}) {
		t.Errorf("private direct version: %+v", p)
	}

	for _, target := range []string{
		"/api/v1/versions/github.com/Azure/sdk@v1.9.9",
		"/api/v1/versions/github.com/azure/sdk@v1.0.0",
	} {
		if code, _ := jsonError(t, h, target); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, code)
		}
	}
}

// jsonOf returns v as JSON.
func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testEvents(t *testing.T, h http.Handler) {
	var all api.EventsPage
	getJSON(t, h, "/api/v1/events", &all)
	if len(all.Events) != 3 || all.Next != "" {
		t.Fatalf("events: %+v", all)
	}
	e := all.Events[0] // newest first
	if e.Result != "denied" || e.Reason != "no rule grants it" || e.User != "" || e.ClientAddr != "10.0.0.3" ||
		e.Replica != "r1" || e.Kind != "list" || !e.Time.Equal(t0.Add(12*time.Minute)) || e.ID == 0 {
		t.Errorf("newest event: %+v", e)
	}

	// Paging one at a time, newest first, each once.
	var users []string
	cursor := ""
	for range 10 {
		var p api.EventsPage
		getJSON(t, h, "/api/v1/events?limit=1&cursor="+url.QueryEscape(cursor), &p)
		for _, e := range p.Events {
			users = append(users, e.User)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(users) != "[ bob alice]" {
		t.Errorf("paged users: %q, want [\"\" bob alice]", users)
	}

	filters := map[string]string{
		"user=alice":                  "[alice]",
		"result=hit":                  "[bob]",
		"module=github.com/Azure/sdk": "[bob alice]",
		"module=github.com/azure/sdk": "[]",
		"since=" + t0.Add(11*time.Minute).Format(time.RFC3339):                                                    "[ bob]",
		"until=" + t0.Add(11*time.Minute).Format(time.RFC3339):                                                    "[alice]",
		"since=2024-05-01T14:10:30%2B02:00&until=" + url.QueryEscape(t0.Add(12*time.Minute).Format(time.RFC3339)): "[bob]",
	}
	for query, want := range filters {
		var p api.EventsPage
		getJSON(t, h, "/api/v1/events?"+query, &p)
		var got []string
		for _, e := range p.Events {
			got = append(got, e.User)
		}
		if s := fmt.Sprint(got); s != want {
			t.Errorf("events?%s: users %q, want %s", query, s, want)
		}
	}
}

func testCatalog(t *testing.T, h http.Handler) {
	var all catalog.Page
	w := get(h, "/catalog")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("/catalog: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil {
		t.Fatal(err)
	}
	want := "[{corp.example.com/Private/lib [v0.0.0-20240501120000-abcdefabcdef]} {example.com/plain [v0.1.0]} {github.com/Azure/sdk [v1.0.0 v1.2.0]}]"
	if fmt.Sprint(all.Modules) != want || all.Next != "" {
		t.Errorf("/catalog: %+v, want %s", all, want)
	}
	// A cursor is a case-encoded path, as with internal/catalog.
	var p catalog.Page
	w = get(h, "/catalog?limit=2")
	json.Unmarshal(w.Body.Bytes(), &p)
	if p.Next != "example.com/plain" || len(p.Modules) != 2 {
		t.Fatalf("/catalog?limit=2: %s", w.Body)
	}
	w = get(h, "/catalog?limit=2&cursor=corp.example.com/!private/lib")
	json.Unmarshal(w.Body.Bytes(), &p)
	if fmt.Sprint(p.Modules) != "[{example.com/plain [v0.1.0]} {github.com/Azure/sdk [v1.0.0 v1.2.0]}]" || p.Next != "" {
		t.Errorf("/catalog after the private module: %s", w.Body)
	}
}

func testIndex(t *testing.T, h http.Handler) {
	entries := func(target string) []catalog.IndexEntry {
		t.Helper()
		w := get(h, target)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson" || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v %s", target, w.Code, w.Header(), w.Body)
		}
		var es []catalog.IndexEntry
		sc := bufio.NewScanner(w.Body)
		for sc.Scan() {
			var e catalog.IndexEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: %v in %q", target, err, sc.Text())
			}
			es = append(es, e)
		}
		return es
	}
	str := func(es []catalog.IndexEntry) string {
		var b strings.Builder
		for _, e := range es {
			fmt.Fprintf(&b, "%s@%s %s;", e.Path, e.Version, e.Timestamp.Format(time.RFC3339Nano))
		}
		return b.String()
	}
	want := "github.com/Azure/sdk@v1.0.0 2024-05-01T12:00:00Z;" +
		"corp.example.com/Private/lib@v0.0.0-20240501120000-abcdefabcdef 2024-05-01T12:00:01Z;" +
		"example.com/plain@v0.1.0 2024-05-01T12:00:01Z;" +
		"github.com/Azure/sdk@v1.2.0 2024-05-01T12:00:02Z;"
	if got := str(entries("/index")); got != want {
		t.Errorf("/index:\n got %s\nwant %s", got, want)
	}
	// Paging with since and after, two at a time.
	var got []catalog.IndexEntry
	target := "/index?limit=2"
	for range 10 {
		page := entries(target)
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		target = "/index?limit=2&since=" + url.QueryEscape(last.Timestamp.Format(time.RFC3339Nano)) +
			"&after=" + url.QueryEscape(last.Path+"@"+last.Version)
	}
	if str(got) != want {
		t.Errorf("/index paged:\n got %s\nwant %s", str(got), want)
	}
	if got := str(entries("/index?since=2024-05-01T12:00:01Z")); got != want[strings.Index(want, "corp"):] {
		t.Errorf("/index?since= (inclusive): %s", got)
	}
}

func testBadRequests(t *testing.T, h http.Handler) {
	// The JSON API: 400 with a reason that names the parameter.
	for target, name := range map[string]string{
		"/api/v1/modules?limit=-1":                      "limit",
		"/api/v1/modules?limit=0":                       "limit",
		"/api/v1/modules?limit=1001":                    "limit",
		"/api/v1/modules?limit=99999999999999999999999": "limit",
		"/api/v1/modules?limit=ten":                     "limit",
		"/api/v1/modules?cursor=github.com/Azure/sdk":   "cursor", // not case-encoded
		"/api/v1/modules?q=a&%zz":                       "query",
		"/api/v1/modules/github.com/Azure/sdk@v1.0.0":   "module path",
		"/api/v1/modules/":                              "module path",
		"/api/v1/modules/example.com/a//b":              "module path",
		"/api/v1/versions/github.com/Azure/sdk":         "<module>@<version>",
		"/api/v1/versions/github.com/Azure/sdk@v1.0":    "version",
		"/api/v1/versions/github.com/Azure/sdk@latest":  "version",
		"/api/v1/versions/github.com/Azure/sdk@v2.0.0":  "version", // not a version of a v0/v1 path
		"/api/v1/versions/-bad/path@v1.0.0":             "module path",
		"/api/v1/events?since=yesterday":                "since",
		"/api/v1/events?since=2024-05-01":               "since",
		"/api/v1/events?until=2024-05-01T25:00:00Z":     "until",
		"/api/v1/events?module=Not%20a%20path":          "module",
		"/api/v1/events?result=Hit":                     "result",
		"/api/v1/events?cursor=abc":                     "cursor",
		"/api/v1/events?cursor=1.x":                     "cursor",
		"/api/v1/events?limit=100000":                   "limit",
	} {
		code, msg := jsonError(t, h, target)
		if code != http.StatusBadRequest || !strings.Contains(msg, name) {
			t.Errorf("GET %s: %d %q, want 400 naming %s", target, code, msg, name)
		}
	}
	if code, _ := jsonError(t, h, "/api/v1/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /api/v1/nothing: %d, want 404", code)
	}

	// /index and /catalog: exactly the answers of internal/catalog's
	// handler (which parses the parameters before it reads the store).
	walk := catalog.New(nil, nil)
	for _, target := range []string{
		"/catalog?limit=-1", "/catalog?limit=x", "/catalog?cursor=Upper/Case", "/catalog?%zz",
		"/index?limit=0", "/index?since=2024-13-01T00:00:00Z", "/index?after=example.com/a", "/index?after=example.com/a@v1.0",
	} {
		got, want := get(h, target), get(walk, target)
		if got.Code != http.StatusBadRequest || got.Code != want.Code || got.Body.String() != want.Body.String() ||
			got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("GET %s: %d %q %q, want %d %q %q as internal/catalog answers", target,
				got.Code, got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
}

func testMethods(t *testing.T, h http.Handler) {
	for _, target := range []string{"/index", "/catalog", "/api/v1/modules", "/api/v1/events"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target, strings.NewReader("x")))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d Allow %q", target, w.Code, w.Header().Get("Allow"))
		}
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, target, nil))
		if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s: %d, %d bytes, Content-Length %q", target, w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
		}
	}
}

// TestDatabaseDown checks that a failing database is a 500 that says no
// more than that: not the database's name or its error.
func TestDatabaseDown(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "secret-name.sqlite")
	x, err := index.Open(context.Background(), dsn, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Index: x, Log: slog.New(slog.DiscardHandler)}) // the errors it logs name the file
	x.Close()
	for _, target := range []string{"/api/v1/modules", "/api/v1/modules/example.com/m", "/api/v1/versions/example.com/m@v1.0.0", "/api/v1/events", "/index", "/catalog"} {
		w := get(h, target)
		body, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusInternalServerError || strings.Contains(string(body), "secret-name") || strings.Contains(string(body), "sql") {
			t.Errorf("GET %s with the database closed: %d %s", target, w.Code, body)
		}
	}
}
