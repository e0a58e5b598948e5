package catalog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// testStore is a store under test; dir is the directory of a file:// store.
type testStore struct {
	name string
	st   *store.Store
	dir  string
}

// stores returns an empty file:// store and an empty mem:// store.
func stores(t *testing.T) []testStore {
	t.Helper()
	dir := t.TempDir()
	return []testStore{
		{name: "file", st: openStore(t, (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()), dir: dir},
		{name: "mem", st: openStore(t, "mem://")},
	}
}

func openStore(t *testing.T, rawURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustCreate(t *testing.T, st *store.Store, key string, data string) {
	t.Helper()
	if err := st.Create(context.Background(), key, strings.NewReader(data)); err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
}

func key(t *testing.T, mod, version string, kind protocol.Kind) string {
	t.Helper()
	k, err := protocol.Key(mod, version, kind)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// storeVersion stores a committed version as the vault does: .mod, then
// .info, and a zip.
func storeVersion(t *testing.T, st *store.Store, v module.Version) {
	t.Helper()
	mustCreate(t, st, key(t, v.Path, v.Version, protocol.Mod), "module "+v.Path+"\n")
	mustCreate(t, st, key(t, v.Path, v.Version, protocol.Zip), "PK not really a zip")
	mustCreate(t, st, key(t, v.Path, v.Version, protocol.Info), `{"Version":"`+v.Version+`"}`)
}

// committed is what fill stores as committed versions, in the order it
// stores them.
func committed() []module.Version {
	return []module.Version{
		{Path: "example.com/a", Version: "v1.0.0"},
		{Path: "example.com/a", Version: "v1.10.0"},
		{Path: "example.com/a", Version: "v1.2.0"},
		{Path: "example.com/a", Version: "v0.0.0-20240101000000-abcdefabcdef"},
		{Path: "example.com/a", Version: "v1.3.0-rc.1"},
		{Path: "example.com/a-b", Version: "v0.1.0"},
		{Path: "example.com/a/v2", Version: "v2.0.0"},
		{Path: "example.com/a/1x", Version: "v1.0.0"},
		{Path: "github.com/Azure/azure-sdk-for-go", Version: "v68.0.0+incompatible"},
		{Path: "github.com/Azure/azure-sdk-for-go", Version: "v1.0.0"},
		{Path: "github.com/BurntSushi/toml", Version: "v1.4.0"},
		{Path: "example.com/partial", Version: "v1.0.0"},
	}
}

// wantCatalog is the catalog of what fill stores: modules in key order,
// versions in semantic version order.
func wantCatalog() []catalog.Module {
	return []catalog.Module{
		{Path: "example.com/a-b", Versions: []string{"v0.1.0"}},
		{Path: "example.com/a/1x", Versions: []string{"v1.0.0"}},
		{Path: "example.com/a", Versions: []string{"v0.0.0-20240101000000-abcdefabcdef", "v1.0.0", "v1.2.0", "v1.3.0-rc.1", "v1.10.0"}},
		{Path: "example.com/a/v2", Versions: []string{"v2.0.0"}},
		{Path: "example.com/partial", Versions: []string{"v1.0.0"}},
		{Path: "github.com/Azure/azure-sdk-for-go", Versions: []string{"v1.0.0", "v68.0.0+incompatible"}},
		{Path: "github.com/BurntSushi/toml", Versions: []string{"v1.4.0"}},
	}
}

// fill stores the committed versions, pausing pause between them, and
// objects that are no stored versions: uncommitted files, checksum
// database data, quarantined versions, invalid versions and other keys.
func fill(t *testing.T, st *store.Store, pause time.Duration) {
	t.Helper()
	for i, v := range committed() {
		if i > 0 {
			time.Sleep(pause)
		}
		storeVersion(t, st, v)
	}
	for _, k := range []string{
		// Uncommitted: a .mod (and a .zip) without its .info.
		"example.com/partial/@v/v1.1.0.mod",
		"example.com/uncommitted/@v/v1.0.0.mod",
		"example.com/uncommitted/@v/v1.0.0.zip",
		// Checksum database data and quarantined objects.
		"sumdb/sum.example/latest",
		"sumdb/sum.example/lookup/example.com/a@v1.0.0",
		"sumdb/sum.example/tile/8/0/000",
		"quarantine/20250101T000000Z/example.com/q/@v/v1.0.0.info",
		"quarantine/20250101T000000Z/example.com/q/@v/v1.0.0.mod",
		// Not canonical versions of valid modules.
		"example.com/bad/@v/v1.0.info",
		"example.com/bad/@v/main.info",
		"example.com/bad/@v/v1.0.0+incompatible.info",
		"example.com/bad/v2/@v/v1.0.0.info",
		// Not module paths.
		"Example.com/upper/@v/v1.0.0.info",
		"nodot/@v/v1.0.0.info",
		"README.info",
	} {
		mustCreate(t, st, k, "{}")
	}
}

// get serves one request with h.
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func getCatalog(t *testing.T, h http.Handler, cursor string, limit int) catalog.Page {
	t.Helper()
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	rec := get(h, "/catalog?"+q.Encode())
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /catalog?%s: %d %s", q.Encode(), rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var page catalog.Page
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&page); err != nil {
		t.Fatalf("GET /catalog?%s: %v", q.Encode(), err)
	}
	return page
}

func TestCatalog(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			fill(t, ts.st, 0)
			h := catalog.New(ts.st, slog.New(slog.DiscardHandler))
			page := getCatalog(t, h, "", 0)
			if !slices.EqualFunc(page.Modules, wantCatalog(), equalModule) {
				t.Errorf("catalog:\n got %v\nwant %v", page.Modules, wantCatalog())
			}
			if page.Next != "" {
				t.Errorf("Next = %q on the only page, want empty", page.Next)
			}
		})
	}
}

func equalModule(a, b catalog.Module) bool {
	return a.Path == b.Path && slices.Equal(a.Versions, b.Versions)
}

func TestCatalogPaging(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			fill(t, ts.st, 0)
			h := catalog.New(ts.st, slog.New(slog.DiscardHandler))
			want := wantCatalog()
			for limit := 1; limit <= len(want)+1; limit++ {
				var got []catalog.Module
				cursor := ""
				for pages := 1; ; pages++ {
					page := getCatalog(t, h, cursor, limit)
					got = append(got, page.Modules...)
					if page.Next == "" {
						break
					}
					if len(page.Modules) != limit {
						t.Fatalf("limit %d: a page before the last has %d modules", limit, len(page.Modules))
					}
					last := page.Modules[len(page.Modules)-1].Path
					if esc, _ := module.EscapePath(last); page.Next != esc {
						t.Errorf("limit %d: Next = %q, want the case-encoded path of the last module %q", limit, page.Next, last)
					}
					if pages > len(want) {
						t.Fatalf("limit %d: more than %d pages", limit, len(want))
					}
					cursor = page.Next
				}
				if !slices.EqualFunc(got, want, equalModule) {
					t.Errorf("limit %d: pages hold\n %v\nwant\n %v", limit, got, want)
				}
			}
		})
	}
}

// TestCatalogPagingWhileStoring checks that paging reaches every module
// once when modules are stored and removed between pages.
func TestCatalogPagingWhileStoring(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			fill(t, ts.st, 0)
			h := catalog.New(ts.st, slog.New(slog.DiscardHandler))
			page := getCatalog(t, h, "", 3)
			got := page.Modules
			// Before the cursor (not seen), after it (seen), and the
			// cursor's own module removed.
			storeVersion(t, ts.st, module.Version{Path: "example.com/0", Version: "v1.0.0"})
			storeVersion(t, ts.st, module.Version{Path: "zz.example/m", Version: "v1.0.0"})
			if err := ts.st.Delete(context.Background(), key(t, "example.com/a", "v1.0.0", protocol.Info)); err != nil {
				t.Fatal(err)
			}
			for page.Next != "" {
				page = getCatalog(t, h, page.Next, 3)
				got = append(got, page.Modules...)
			}
			var paths []string
			for _, m := range got {
				paths = append(paths, m.Path)
			}
			var want []string
			for _, m := range wantCatalog() {
				want = append(want, m.Path)
			}
			want = append(want, "zz.example/m")
			if !slices.Equal(paths, want) {
				t.Errorf("modules over the pages:\n got %v\nwant %v", paths, want)
			}
		})
	}
}

// indexLine is an /index line as sent.
type indexLine struct {
	Path, Version, Timestamp string
}

// getIndex returns the lines of an /index answer, checking their form.
func getIndex(t *testing.T, h http.Handler, query string) []indexLine {
	t.Helper()
	rec := get(h, "/index?"+query)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /index?%s: %d %s", query, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
	}
	var lines []indexLine
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		var l indexLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("GET /index?%s: line %q: %v", query, sc.Text(), err)
		}
		ts, err := time.Parse(time.RFC3339Nano, l.Timestamp)
		if err != nil || !strings.HasSuffix(l.Timestamp, "Z") || ts.Format(time.RFC3339Nano) != l.Timestamp {
			t.Errorf("Timestamp %q is not RFC 3339 in UTC with nanoseconds (%v)", l.Timestamp, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func (l indexLine) String() string { return l.Path + "@" + l.Version + " " + l.Timestamp }

// TestIndexOrder checks that the index lists the committed versions in the
// order they were stored, with the times the store reports.
func TestIndexOrder(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			// Far more than the file system's timestamp granularity.
			fill(t, ts.st, 10*time.Millisecond)
			h := catalog.New(ts.st, slog.New(slog.DiscardHandler))
			lines := getIndex(t, h, "")
			want := committed()
			if len(lines) != len(want) {
				t.Fatalf("index has %d lines, want %d:\n%v", len(lines), len(want), lines)
			}
			for i, l := range lines {
				if l.Path != want[i].Path || l.Version != want[i].Version {
					t.Errorf("line %d is %s, want %s (the order of storing)", i, l, want[i])
				}
				obj, err := ts.st.Open(context.Background(), key(t, l.Path, l.Version, protocol.Info))
				if err != nil {
					t.Fatal(err)
				}
				obj.Close()
				if stored := obj.ModTime().UTC().Format(time.RFC3339Nano); l.Timestamp != stored {
					t.Errorf("%s: Timestamp %s, but the store's .info has ModTime %s", l, l.Timestamp, stored)
				}
				if i > 0 && l.Timestamp <= lines[i-1].Timestamp {
					t.Errorf("line %d: Timestamp %s is not after %s", i, l.Timestamp, lines[i-1].Timestamp)
				}
			}
		})
	}
}

// TestIndexSince checks since, after and limit on a file store whose .info
// times are set, with three versions stored at the same time.
func TestIndexSince(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	stored := []struct {
		v module.Version
		t time.Time
	}{
		// In index order.
		{module.Version{Path: "example.com/z", Version: "v1.0.0"}, t0},
		{module.Version{Path: "example.com/a", Version: "v1.2.0"}, t0.Add(time.Second)},
		{module.Version{Path: "example.com/a", Version: "v1.10.0"}, t0.Add(time.Second)},
		// Walked before example.com/a (key order), listed after it.
		{module.Version{Path: "example.com/a-b", Version: "v1.0.0"}, t0.Add(time.Second)},
		{module.Version{Path: "example.com/b", Version: "v1.0.0"}, t0.Add(time.Second)},
		{module.Version{Path: "github.com/Azure/x", Version: "v0.0.0-20240101000000-abcdefabcdef"}, t0.Add(2 * time.Second)},
		{module.Version{Path: "example.com/c", Version: "v3.0.0+incompatible"}, t0.Add(3 * time.Second)},
	}
	for _, s := range slices.Backward(stored) {
		storeVersion(t, st, s.v)
		p := filepath.Join(dir, filepath.FromSlash(key(t, s.v.Path, s.v.Version, protocol.Info)))
		if err := os.Chtimes(p, s.t, s.t); err != nil {
			t.Fatal(err)
		}
	}
	want := func(from, to int) []string {
		var w []string
		for _, s := range stored[from:to] {
			w = append(w, s.v.String()+" "+s.t.Format(time.RFC3339Nano))
		}
		return w
	}
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	tsText := func(i int) string { return stored[i].t.Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		query    string
		from, to int
	}{
		{"", 0, 7},
		{"since=" + tsText(1), 1, 7}, // inclusive
		{"since=" + url.QueryEscape(t0.Add(time.Second).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)), 1, 7},
		{"since=" + t0.Add(1500*time.Millisecond).Format(time.RFC3339Nano), 5, 7},
		{"since=" + t0.Truncate(time.Second).Format(time.RFC3339), 0, 7},
		{"since=" + t0.Add(time.Hour).Format(time.RFC3339), 0, 0},
		{"limit=2", 0, 2},
		{"since=" + tsText(1) + "&limit=2", 1, 3},
		{"since=" + tsText(1) + "&limit=3", 1, 4},
		{"since=" + tsText(1) + "&after=example.com/a@v1.2.0&limit=2", 2, 4},
		{"since=" + tsText(4) + "&after=example.com/b@v1.0.0", 5, 7},
		{"limit=5000", 0, 7},
	} {
		var got []string
		for _, l := range getIndex(t, h, tc.query) {
			got = append(got, l.String())
		}
		if w := want(tc.from, tc.to); !slices.Equal(got, w) {
			t.Errorf("/index?%s:\n got %q\nwant %q", tc.query, got, w)
		}
	}

	// Paging by since alone: duplicates at the boundary, and no way past
	// more than limit versions of one time.
	page := getIndex(t, h, "limit=2")
	next := getIndex(t, h, "limit=2&since="+page[1].Timestamp)
	if next[0] != page[1] {
		t.Errorf("paging by since: the next page starts with %s, want the last of the previous page %s again", next[0], page[1])
	}
	if again := getIndex(t, h, "limit=2&since="+next[1].Timestamp); !slices.Equal(again, next) {
		t.Errorf("paging by since with 4 versions of one time and limit 2: got %v, want the same page %v", again, next)
	}
	// With more room, and the duplicates dropped, it gets everything.
	var got []string
	for q := "limit=5"; ; {
		page := getIndex(t, h, q)
		for _, l := range page {
			if !slices.Contains(got, l.String()) {
				got = append(got, l.String())
			}
		}
		if len(page) < 5 {
			break
		}
		q = "limit=5&since=" + page[len(page)-1].Timestamp
	}
	if w := want(0, 7); !slices.Equal(got, w) {
		t.Errorf("paging by since, limit 5:\n got %q\nwant %q", got, w)
	}

	// Paging by since and after: every version exactly once.
	got = nil
	for q := "limit=2"; ; {
		page := getIndex(t, h, q)
		for _, l := range page {
			got = append(got, l.String())
		}
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		q = "limit=2&since=" + last.Timestamp + "&after=" + url.QueryEscape(last.Path+"@"+last.Version)
	}
	if w := want(0, 7); !slices.Equal(got, w) {
		t.Errorf("paging by since and after, limit 2:\n got %q\nwant %q", got, w)
	}
}

// TestReadIndexLimits checks ReadIndex and ReadCatalog with limits: a
// limit smaller than the store gives the oldest versions, one above the
// maximum is the maximum.
func TestReadIndexLimits(t *testing.T) {
	st := openStore(t, "mem://")
	fill(t, st, time.Millisecond)
	ctx := context.Background()
	all, err := catalog.ReadIndex(ctx, st, time.Time{}, module.Version{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(committed()) {
		t.Fatalf("ReadIndex with the default limit: %d entries, want %d", len(all), len(committed()))
	}
	for n := 1; n <= len(all); n++ {
		got, err := catalog.ReadIndex(ctx, st, time.Time{}, module.Version{}, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, all[:n]) {
			t.Errorf("limit %d: got %v, want %v", n, got, all[:n])
		}
	}
	p, err := catalog.ReadCatalog(ctx, st, "", catalog.MaxCatalogLimit+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Modules) != len(wantCatalog()) {
		t.Errorf("ReadCatalog with a limit above the maximum: %d modules, want %d", len(p.Modules), len(wantCatalog()))
	}
	if _, err := catalog.ReadCatalog(ctx, st, "Example.com/x", 1); err == nil {
		t.Error("ReadCatalog with an invalid cursor succeeded")
	}
}

func TestBadRequests(t *testing.T) {
	st := openStore(t, "mem://")
	fill(t, st, 0)
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	for _, target := range []string{
		"/index?since=yesterday",
		"/index?since=2025-01-01",
		"/index?since=2025-01-01T00:00:00",
		"/index?limit=0",
		"/index?limit=-1",
		"/index?limit=ten",
		"/index?after=example.com/a",
		"/index?after=example.com/a@v1.0",
		"/index?after=example.com/a@v1.0.0%2Bincompatible",
		"/index?after=nodot@v1.0.0",
		"/index?since=%zz",
		"/catalog?limit=0",
		"/catalog?limit=1.5",
		"/catalog?cursor=Example.com/x",
		"/catalog?cursor=example.com/../x",
		"/catalog?cursor=%zz",
	} {
		rec := get(h, target)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", target, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q, want text/plain", target, ct)
		}
		if body := rec.Body.String(); !strings.HasPrefix(body, "bad request: ") || strings.Count(body, "\n") != 1 {
			t.Errorf("GET %s: body %q, want one line starting \"bad request: \"", target, body)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		for _, p := range []string{"/index", "/catalog"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, p, nil))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405, GET, HEAD", method, p, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
	for _, p := range []string{"/", "/index/", "/catalog/x", "/example.com/a/@v/list"} {
		if rec := get(h, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
}

func TestHeaders(t *testing.T) {
	st := openStore(t, "mem://")
	fill(t, st, 0)
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	for _, tc := range []struct{ path, ctype string }{
		{"/index", "application/x-ndjson"},
		{"/catalog", "application/json"},
	} {
		full := get(h, tc.path)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, tc.path, nil))
		for _, r := range []*httptest.ResponseRecorder{full, rec} {
			if r.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.path, r.Code, r.Body)
			}
			hd := r.Header()
			if hd.Get("Content-Type") != tc.ctype || hd.Get("Cache-Control") != "no-store" || hd.Get("Content-Length") != strconv.Itoa(full.Body.Len()) {
				t.Errorf("%s: headers %v, want Content-Type %s, Cache-Control no-store, Content-Length %d", tc.path, hd, tc.ctype, full.Body.Len())
			}
		}
		if rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: body of %d bytes", tc.path, rec.Body.Len())
		}
	}
}

// TestEmptyStore checks the answers of a store with no versions.
func TestEmptyStore(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			h := catalog.New(ts.st, slog.New(slog.DiscardHandler))
			if rec := get(h, "/catalog"); rec.Code != http.StatusOK || rec.Body.String() != `{"Modules":[],"Next":""}`+"\n" {
				t.Errorf("/catalog: %d %q", rec.Code, rec.Body)
			}
			if rec := get(h, "/index"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
				t.Errorf("/index: %d %q", rec.Code, rec.Body)
			}
		})
	}
}

// TestStoreError checks that a failing store answers 500 with a short
// message and is logged.
func TestStoreError(t *testing.T) {
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, 0)
	st.Close() // every listing fails now
	var logs syncBuffer
	h := catalog.New(st, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, p := range []string{"/index", "/catalog"} {
		rec := get(h, p)
		if rec.Code != http.StatusInternalServerError || rec.Body.String() != "internal error: reading the store failed\n" {
			t.Errorf("GET %s on a closed store: %d %q, want 500", p, rec.Code, rec.Body)
		}
	}
	if n := strings.Count(logs.String(), "catalog request failed"); n != 2 {
		t.Errorf("logged %d failures, want 2:\n%s", n, logs.String())
	}
}

// TestClientGone checks that nothing is answered or logged for a request
// whose client has gone.
func TestClientGone(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
	fill(t, st, 0)
	var logs syncBuffer
	h := catalog.New(st, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range []string{"/index", "/catalog"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil).WithContext(ctx))
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Errorf("GET %s with a gone client: answered %d %q", p, rec.Code, rec.Body)
		}
	}
	if logs.String() != "" {
		t.Errorf("logged for gone clients:\n%s", logs.String())
	}
}

// TestConcurrent runs more requests at once than walks are allowed.
func TestConcurrent(t *testing.T) {
	st := openStore(t, "mem://")
	fill(t, st, 0)
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	want := map[string]string{"/index": get(h, "/index").Body.String(), "/catalog?limit=2": get(h, "/catalog?limit=2").Body.String()}
	var wg sync.WaitGroup
	for i := range 32 {
		p := "/index"
		if i%2 == 1 {
			p = "/catalog?limit=2"
		}
		wg.Go(func() {
			if rec := get(h, p); rec.Code != http.StatusOK || rec.Body.String() != want[p] {
				t.Errorf("GET %s: %d, body differs from a lone request's", p, rec.Code)
			}
		})
	}
	wg.Wait()
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCanRead checks that a Handler with CanRead leaves out the modules it
// refuses, hidden before, between (in a run longer than a page) and after
// the others: paging two at a time gives full pages but the last, reaches
// every other module once, and no cursor names a hidden one. CanRead gets
// the request's context.
func TestCanRead(t *testing.T) {
	st := openStore(t, "mem://")
	var want []string
	for i := range 12 {
		p := fmt.Sprintf("example.com/m%02d/hidden", i)
		if i == 2 || i == 3 || i == 7 || i == 9 {
			p = fmt.Sprintf("example.com/m%02d/shown", i)
			want = append(want, p)
		}
		storeVersion(t, st, module.Version{Path: p, Version: "v1.0.0"})
	}
	type viewerKey struct{}
	h := catalog.New(st, slog.New(slog.DiscardHandler))
	h.CanRead = func(ctx context.Context, path string) bool {
		if ctx.Value(viewerKey{}) != "viewer" {
			t.Errorf("CanRead(%s) without the request's context", path)
		}
		return strings.HasSuffix(path, "/shown")
	}
	withViewer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, "viewer")))
	})

	var got []string
	var sizes []int
	for cursor, n := "", 0; n == 0 || cursor != ""; n++ {
		p := getCatalog(t, withViewer, cursor, 2)
		for _, m := range p.Modules {
			got = append(got, m.Path)
		}
		sizes, cursor = append(sizes, len(p.Modules)), p.Next
		if strings.Contains(cursor, "hidden") {
			t.Errorf("/catalog cursor %q names a hidden module", cursor)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(sizes) != "[2 2]" {
		t.Errorf("/catalog pages of %v: %q, want [2 2]: %q", sizes, got, want)
	}

	got = nil
	for _, l := range getIndex(t, withViewer, "limit=3") {
		got = append(got, l.Path)
	}
	if len(got) != 3 || strings.Contains(fmt.Sprint(got), "hidden") {
		t.Errorf("/index?limit=3: %q, want 3 shown modules", got)
	}
}
