package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/route"
)

// The viewers of the access-control tests: alice may read the private
// modules, bob is a user no rule names, "" is anonymous.
const password = "s3cret-pass"

var viewers = []string{"", "bob", "alice"}

// guarded returns x's API behind real access control, as modvault serves
// it: anyone may read public modules and the catalog, only alice modules
// matching private.
func guarded(t *testing.T, x *index.Index, private string) http.Handler {
	t.Helper()
	var users strings.Builder
	for _, u := range []string{"alice", "bob"} {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "%s:%s\n", u, hash)
	}
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	guard, err := auth.New(auth.Config{Users: file, Rules: []auth.Rule{
		{Pattern: "*", Allow: []string{auth.Anyone}},
		{Pattern: auth.CatalogPattern, Allow: []string{auth.Anyone}},
		{Pattern: private, Allow: []string{"alice"}},
	}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return route.Handler(guard.Handler(api.New(api.Options{Index: x, CanRead: guard.CanRead})))
}

// getAs serves GET target through h as user ("" for anonymous).
func getAs(h http.Handler, target, user string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if user != "" {
		r.SetBasicAuth(user, password)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decodeAs serves GET target as user, fails t unless it is a 200, and
// decodes the JSON answer into v.
func decodeAs(t *testing.T, h http.Handler, target, user string, v any) {
	t.Helper()
	w := getAs(h, target, user)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s as %q: %d %s", target, user, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s as %q: %v in %s", target, user, err, w.Body)
	}
}

// walkPages follows the cursors of a listing from its first page (target,
// which has a query) to its last, as user, and returns the module path of
// every item and the size of every page; seen is given each page's cursor.
func walkPages[P any](t *testing.T, h http.Handler, target, user string, seen func(listing, cursor string), items func(P) ([]string, string)) (got []string, sizes []int) {
	t.Helper()
	for cursor, n := "", 0; n == 0 || cursor != ""; n++ {
		var p P
		decodeAs(t, h, target+"&cursor="+url.QueryEscape(cursor), user, &p)
		var paths []string
		paths, cursor = items(p)
		got, sizes = append(got, paths...), append(sizes, len(paths))
		seen(target, cursor)
	}
	return got, sizes
}

// modulePaths returns the module path of each item.
func modulePaths[T any](items []T, path func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = path(it)
	}
	return out
}

// TestPrivateModulesHidden checks that the API shows a private module's
// path, versions and events only to a user the rules let read it: to
// anyone else every listing leaves it out, and its pages answer exactly
// as those of a module the index does not hold.
func TestPrivateModulesHidden(t *testing.T) {
	_, x := fixture(t, filepath.Join(t.TempDir(), "index.sqlite"))
	h := guarded(t, x, "corp.example.com")
	empty := guarded(t, open(t, filepath.Join(t.TempDir(), "empty.sqlite")), "corp.example.com")
	const (
		priv    = "corp.example.com/Private/lib"
		privVer = "v0.0.0-20240501120000-abcdefabcdef"
	)
	listings := []string{"/api/v1/modules", "/api/v1/modules?q=private", "/api/v1/modules?limit=1",
		"/api/v1/events", "/api/v1/events?limit=1", "/api/v1/events?result=denied",
		"/catalog", "/catalog?limit=1", "/index", "/index?limit=1"}
	pages := []string{"/api/v1/modules/" + priv, "/api/v1/versions/" + priv + "@" + privVer,
		"/api/v1/events?module=" + priv}
	for _, user := range viewers {
		allowed := user == "alice"
		for _, target := range append(listings, pages...) {
			w := getAs(h, target, user)
			// A case-encoded path ("!private") is the path too.
			shown := strings.Contains(w.Body.String(), "corp.example.com") || strings.Contains(w.Body.String(), "!private")
			if w.Code != http.StatusOK && !strings.HasPrefix(target, "/api/v1/modules/") && !strings.HasPrefix(target, "/api/v1/versions/") {
				t.Errorf("GET %s as %q: %d %s", target, user, w.Code, w.Body)
			}
			// A page's 404 may repeat the path asked for; the check
			// below compares it with an unknown module's.
			if !allowed && shown && w.Code != http.StatusNotFound {
				t.Errorf("GET %s as %q names the private module: %d %s", target, user, w.Code, w.Body)
			}
			if allowed && !shown && !strings.Contains(target, "limit=1") {
				t.Errorf("GET %s as alice does not show the private module: %d %s", target, w.Code, w.Body)
			}
		}

		var ms api.ModulesPage
		decodeAs(t, h, "/api/v1/modules", user, &ms)
		if want := map[bool]int{true: 3, false: 2}[allowed]; len(ms.Modules) != want || ms.Next != "" {
			t.Errorf("modules as %q: %+v, want %d and no next", user, ms, want)
		}
		var es api.EventsPage
		decodeAs(t, h, "/api/v1/events", user, &es)
		if want := map[bool]int{true: 3, false: 2}[allowed]; len(es.Events) != want {
			t.Errorf("events as %q: %+v, want %d", user, es, want)
		}

		// A hidden module's pages are byte for byte those of an unknown one.
		for _, target := range pages {
			got, unknown := getAs(h, target, user), getAs(empty, target, user)
			if allowed {
				if got.Code != http.StatusOK {
					t.Errorf("GET %s as alice: %d %s", target, got.Code, got.Body)
				}
				continue
			}
			if got.Code != unknown.Code || got.Body.String() != unknown.Body.String() ||
				fmt.Sprint(got.Header()) != fmt.Sprint(unknown.Header()) {
				t.Errorf("GET %s as %q: %d %v %q; an unknown module: %d %v %q", target, user,
					got.Code, got.Header(), got.Body, unknown.Code, unknown.Header(), unknown.Body)
			}
		}
	}
}

// TestPagingSkipsHiddenModules checks that paging through every listing,
// two items a page, with hidden modules before, between (in runs longer
// than a page) and after the visible ones, gives full pages but the last,
// reaches each visible item once in order, and never has a cursor naming
// a hidden module.
func TestPagingSkipsHiddenModules(t *testing.T) {
	x := open(t, filepath.Join(t.TempDir(), "index.sqlite"))
	ctx := context.Background()
	hidden := func(i int) bool { return i < 2 || (i >= 4 && i < 9) || i%3 == 0 || i >= 17 }
	var vs []index.Version
	var visible []string
	for i := range 20 {
		host := "pub.example"
		if hidden(i) {
			host = "corp.example"
		}
		// Paths sort by i, whichever host they are on.
		path := fmt.Sprintf("m%02d.%s/lib", i, host)
		if !hidden(i) {
			visible = append(visible, path)
		}
		vs = append(vs, index.Version{Path: path, Version: "v1.0.0", StoredAt: t0.Add(time.Duration(i) * time.Second),
			Source: index.Source{Kind: index.SourceUpstream, Upstream: "https://proxy.example.test/"},
			Info:   index.File{Size: 1, SHA256: fmt.Sprintf("%064x", i)}, Mod: index.File{Size: 1, SHA256: fmt.Sprintf("%064x", i)},
			ModH1: "h1:x="})
		// Events come newest first: record them in reverse, so that
		// they list in the order of the modules.
		x.Record(index.Event{Time: t0.Add(time.Duration(100-i) * time.Minute), Module: path, Version: "v1.0.0",
			Kind: index.KindZip, Result: index.ResultHit})
	}
	if err := x.RecordVersions(ctx, vs); err != nil {
		t.Fatal(err)
	}
	if err := x.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h := guarded(t, x, "*.corp.example")
	if len(visible) != 6 {
		t.Fatalf("%d visible modules, want 6", len(visible))
	}

	for _, user := range viewers {
		want := visible
		if user == "alice" {
			want = nil
			for _, v := range vs {
				want = append(want, v.Path)
			}
		}
		check := func(listing string, got []string, sizes []int) {
			t.Helper()
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s as %q: %q, want %q", listing, user, got, want)
			}
			for i, n := range sizes {
				if n != 2 && (i < len(sizes)-1 || n != 1) { // len(want) is even
					t.Errorf("%s as %q: pages of %v, want full pages of 2", listing, user, sizes)
					break
				}
			}
		}
		noHidden := func(listing, cursor string) {
			t.Helper()
			if user != "alice" && strings.Contains(cursor, "corp") {
				t.Errorf("%s as %q: cursor %q names a hidden module", listing, user, cursor)
			}
		}

		got, sizes := walkPages(t, h, "/api/v1/modules?limit=2&q=lib", user, noHidden,
			func(p api.ModulesPage) ([]string, string) {
				return modulePaths(p.Modules, func(m api.ModuleSummary) string { return m.Path }), p.Next
			})
		check("/api/v1/modules", got, sizes)

		got, sizes = walkPages(t, h, "/catalog?limit=2", user, noHidden,
			func(p catalog.Page) ([]string, string) {
				return modulePaths(p.Modules, func(m catalog.Module) string { return m.Path }), p.Next
			})
		check("/catalog", got, sizes)

		got, sizes = walkPages(t, h, "/api/v1/events?limit=2", user, func(string, string) {},
			func(p api.EventsPage) ([]string, string) {
				return modulePaths(p.Events, func(e api.Event) string { return e.Module }), p.Next
			})
		check("/api/v1/events", got, sizes)

		// /index pages from the last entry of a page; a short page is
		// the last.
		got, sizes = nil, nil
		for q := "limit=2"; q != ""; {
			w := getAs(h, "/index?"+q, user)
			if w.Code != http.StatusOK {
				t.Fatalf("/index?%s as %q: %d %s", q, user, w.Code, w.Body)
			}
			var last catalog.IndexEntry
			n := 0
			for sc := bufio.NewScanner(w.Body); sc.Scan(); n++ {
				if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
					t.Fatal(err)
				}
				got = append(got, last.Path)
			}
			sizes, q = append(sizes, n), ""
			if n == 2 {
				q = "limit=2&since=" + url.QueryEscape(last.Timestamp.Format(time.RFC3339)) + "&after=" + url.QueryEscape(last.Path+"@"+last.Version)
			}
		}
		if len(sizes) > 0 && sizes[len(sizes)-1] == 0 { // the page after a full last one
			sizes = sizes[:len(sizes)-1]
		}
		check("/index", got, sizes)
	}
}
