package ui_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/ui"
	"github.com/modvault/modvault/internal/vulndb"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

const (
	alicePassword = "alice-correct-horse"
	pubMod        = "example.com/pub"
	markupMod     = "example.com/markup"
	secretMod     = "corp.example/team/secret"
	// markup is an .info Origin URL full of markup.
	markup = `https://git.example/"><script>alert(1)</script><img src=x onerror=alert(2)>`
)

// now is the tests' current time.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// fixture is a UI over an index with a few modules, behind access control
// that lets anyone read everything but corp.example/team, which only
// alice reads.
type fixture struct {
	URL string
	x   *index.Index
}

// version returns a stored version of path, from an upstream, verified.
func version(path, v string, stored time.Time) index.Version {
	h := func(s string) string { return fmt.Sprintf("%064x", len(s)+len(path)+len(v)) }
	return index.Version{
		Path: path, Version: v, StoredAt: stored,
		Source: index.Source{Kind: index.SourceUpstream, Upstream: "http://127.0.0.1:9/upstream"},
		Info:   index.File{Size: 60, SHA256: h("info")},
		Mod:    index.File{Size: 30, SHA256: h("mod")},
		Zip:    &index.File{Size: 2048, SHA256: h("zip")},
		ModH1:  "h1:MOD" + v + "=", ZipH1: "h1:ZIP" + v + "=",
		Proof: &index.Proof{DB: "sum.example.test", Record: 42, TreeSize: 1000},
	}
}

// goMods are the go.mod files ReadMod returns.
var goMods = map[module.Version]string{
	{Path: pubMod, Version: "v1.2.0"}: "module example.com/pub\n\ngo 1.22\n\nrequire (\n\texample.com/dep v1.0.0\n\tcorp.example/team/secret v1.0.0 // indirect\n)\n\nretract v1.1.0 // broke the <b>API</b>\n",
	{Path: pubMod, Version: "v1.1.0"}: "module example.com/pub\n\ngo 1.22\n",
}

// newFixture returns a fixture; opts adds to the UI's options.
func newFixture(t *testing.T, opts ui.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	x, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.sqlite"), index.Options{Replica: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	day := 24 * time.Hour
	direct := version(markupMod, "v1.0.0", now.Add(-3*day))
	direct.Source = index.Source{Kind: index.SourceDirect, VCS: "git", URL: markup, Ref: "refs/tags/<b>v1.0.0</b>", Hash: "0123456789abcdef0123456789abcdef01234567"}
	secret := version(secretMod, "v1.0.0", now.Add(-2*day))
	secret.Private, secret.Proof = true, nil
	secret.Source = index.Source{Kind: index.SourceDirect, VCS: "git", URL: "https://git.corp.example/team/secret", Ref: "refs/tags/v1.0.0", Hash: "89abcdef0123456789abcdef0123456789abcdef"}
	vs := []index.Version{
		version(pubMod, "v1.0.0", now.Add(-10*day)),
		version(pubMod, "v1.1.0", now.Add(-9*day)),
		version(pubMod, "v1.2.0", now.Add(-8*day)),
		version(pubMod, "v1.3.0-rc.1", now.Add(-7*day)),
		direct, secret,
	}
	if err := x.RecordVersions(ctx, vs); err != nil {
		t.Fatal(err)
	}
	zip := func(user, mod, v, result string, at time.Time) index.Event {
		return index.Event{Time: at, User: user, ClientAddr: "192.0.2.7", Module: mod, Version: v, Kind: index.KindZip, Result: result, Bytes: 2048}
	}
	for _, e := range []index.Event{
		zip("alice", pubMod, "v1.2.0", index.ResultFilled, now.Add(-2*day)),
		zip("bob", pubMod, "v1.2.0", index.ResultHit, now.Add(-day)),
		zip("", pubMod, "v1.2.0", index.ResultHit, now.Add(-time.Hour)),
		zip("alice", secretMod, "v1.0.0", index.ResultFilled, now.Add(-30*time.Minute)),
		{Time: now.Add(-20 * time.Minute), ClientAddr: "192.0.2.8", Module: secretMod, Version: "v1.0.0", Kind: index.KindZip,
			Result: index.ResultDenied, Reason: "rule corp.example/team does not allow anonymous"},
		{Time: now.Add(-10 * time.Minute), User: "carol", ClientAddr: "192.0.2.9", Module: pubMod, Version: "v1.0.0", Kind: index.KindZip,
			Result: index.ResultDenied, Reason: "modvault policy: denied: GO-2026-0001 <script>"},
	} {
		x.Record(e)
	}
	if err := x.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	guard, err := auth.New(auth.Config{Users: users, Rules: []auth.Rule{
		{Pattern: "*", Allow: []string{auth.Anyone}},
		{Pattern: auth.CatalogPattern, Allow: []string{auth.Anyone}},
		{Pattern: "corp.example/team", Allow: []string{"alice"}},
	}}, log)
	if err != nil {
		t.Fatal(err)
	}
	opts.Index, opts.Log, opts.CanRead, opts.Now = x, log, guard.CanRead, func() time.Time { return now }
	opts.Setup.Auth, opts.Setup.NoSumDB = true, "corp.example"
	if opts.ReadMod == nil {
		opts.ReadMod = func(_ context.Context, mv module.Version) ([]byte, error) {
			if s, ok := goMods[mv]; ok {
				return []byte(s), nil
			}
			return []byte("module " + mv.Path + "\n"), nil
		}
	}
	srv := httptest.NewServer(route.Handler(guard.Handler(ui.New(opts))))
	t.Cleanup(srv.Close)
	return &fixture{URL: srv.URL, x: x}
}

// answer is an HTTP answer.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// get requests path as user ("" for anonymous) and returns the answer.
func (f *fixture) get(t *testing.T, path, user string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user == "alice" {
		req.SetBasicAuth("alice", alicePassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// page requests path and fails t unless it answers 200.
func (f *fixture) page(t *testing.T, path, user string) string {
	t.Helper()
	a := f.get(t, path, user)
	if a.Status != http.StatusOK {
		t.Fatalf("GET %s as %q: %d %s", path, user, a.Status, a.Body)
	}
	return a.Body
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("%s contains %q", what, n)
		}
	}
}

func TestMarkupIsShownAsText(t *testing.T) {
	f := newFixture(t, ui.Options{})
	body := f.page(t, "/ui/"+markupMod+"@v1.0.0", "")
	mustContain(t, "the version page", body,
		`https://git.example/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;`,
		`refs/tags/&lt;b&gt;v1.0.0&lt;/b&gt;`)
	mustNotContain(t, "the version page", body, "<script>alert", "<img src=x", "<b>v1.0.0")

	// A module path full of markup is refused, and repeated as text.
	a := f.get(t, "/ui/"+url.PathEscape(`<script>alert(3)</script>`), "")
	if a.Status != http.StatusBadRequest {
		t.Errorf("a module path of markup: %d, want 400", a.Status)
	}
	mustContain(t, "the answer to a path of markup", a.Body, "&lt;script&gt;alert(3)&lt;/script&gt;")
	mustNotContain(t, "the answer to a path of markup", a.Body, "<script>alert(3)")

	for _, q := range []string{`"><script>alert(4)</script>`, `<svg onload=alert(5)>`} {
		body := f.page(t, "/ui/search?q="+url.QueryEscape(q), "")
		mustNotContain(t, "the search page", body, "<script>alert(4)", "<svg onload")
	}
	body = f.page(t, "/ui/events?user="+url.QueryEscape(`"><script>alert(6)</script>`), "")
	mustContain(t, "the events page", body, `value="&#34;&gt;&lt;script&gt;alert(6)&lt;/script&gt;"`)
	// The retraction's rationale and an event's reason, from stored data.
	mustContain(t, "the module page", f.page(t, "/ui/"+pubMod, ""), "broke the &lt;b&gt;API&lt;/b&gt;")
	mustContain(t, "the events page", f.page(t, "/ui/events", ""), "GO-2026-0001 &lt;script&gt;")
}

func TestEveryAnswerHasTheCSP(t *testing.T) {
	f := newFixture(t, ui.Options{})
	for _, p := range []string{"/ui/", "/ui/search?q=pub", "/ui/" + pubMod, "/ui/" + pubMod + "@v1.2.0", "/ui/events",
		"/ui/example.com/nothere", "/ui/search?limit=0", "/ui/login"} {
		a := f.get(t, p, "")
		if got := a.Header.Get("Content-Security-Policy"); got != ui.CSP {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", p, got, ui.CSP)
		}
		if got := a.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", p, got)
		}
		if a.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", p)
		}
		// No inline script, style or event handler for the CSP to block.
		if m := regexp.MustCompile(`(?i)<script>|<style|\sstyle=|\son[a-z]+=`).FindString(a.Body); m != "" {
			t.Errorf("GET %s: inline %q", p, m)
		}
	}
	if !strings.Contains(ui.CSP, "script-src 'self'") || strings.Contains(ui.CSP, "unsafe") {
		t.Errorf("CSP %q", ui.CSP)
	}
	// The script and stylesheet the pages link load, and are cached.
	body := f.page(t, "/ui/", "")
	for _, re := range []string{`<link rel="stylesheet" href="(/ui/assets/ui.css\?v=[0-9a-f]+)">`, `<script src="(/ui/assets/ui.js\?v=[0-9a-f]+)" defer>`} {
		m := regexp.MustCompile(re).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in /ui/", re)
		}
		a := f.get(t, m[1], "")
		if a.Status != http.StatusOK || len(a.Body) < 100 || !strings.Contains(a.Header.Get("Cache-Control"), "max-age") {
			t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", m[1], a.Status, len(a.Body), a.Header.Get("Cache-Control"))
		}
	}
}

func TestPrivateModuleIsHiddenWithoutCredentials(t *testing.T) {
	f := newFixture(t, ui.Options{})
	unknown := f.get(t, "/ui/corp.example/team/nothere", "")
	if unknown.Status != http.StatusNotFound {
		t.Fatalf("unknown module: %d", unknown.Status)
	}
	for _, p := range []string{"/ui/" + secretMod, "/ui/" + secretMod + "@v1.0.0", "/ui/example.com/nothere", "/ui/" + pubMod + "@v1.9.9"} {
		a := f.get(t, p, "")
		if a.Status != unknown.Status || a.Body != unknown.Body {
			t.Errorf("anonymous GET %s: %d %q; want the bytes of an unknown module: %d %q", p, a.Status, a.Body, unknown.Status, unknown.Body)
		}
	}
	for _, p := range []string{"/ui/", "/ui/search?q=corp", "/ui/search", "/ui/events", "/ui/events?module=" + secretMod, "/ui/events?result=denied"} {
		mustNotContain(t, "anonymous "+p, f.page(t, p, ""), `href="/ui/corp.example`, "does not allow anonymous")
	}
	// Counts leave it out: 2 modules, 5 versions, 5 × 2138 bytes.
	mustContain(t, "anonymous /ui/", f.page(t, "/ui/", ""), "<strong>2</strong> modules", "<strong>5</strong> versions", "<strong>10.4 KiB</strong>")

	// Alice sees it everywhere.
	mustContain(t, "alice's /ui/", f.page(t, "/ui/", "alice"), "<strong>3</strong> modules", "<strong>6</strong> versions", secretMod)
	mustContain(t, "alice's search", f.page(t, "/ui/search?q=corp", "alice"), secretMod)
	mustContain(t, "alice's events", f.page(t, "/ui/events?module="+secretMod, "alice"), "rule corp.example/team does not allow anonymous")
	mustContain(t, "alice's module page", f.page(t, "/ui/"+secretMod, "alice"), `<span class="tag private">private</span>`)
	mustContain(t, "alice's version page", f.page(t, "/ui/"+secretMod+"@v1.0.0", "alice"),
		"Not verified: a private module", "https://git.corp.example/team/secret", "89abcdef0123456789abcdef0123456789abcdef")

	// Wrong credentials are anonymous.
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/ui/"+secretMod, nil)
	req.SetBasicAuth("alice", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || string(b) != unknown.Body {
		t.Errorf("with a wrong password: %d %q", resp.StatusCode, b)
	}
}

func TestLoginAsksForCredentials(t *testing.T) {
	f := newFixture(t, ui.Options{})
	a := f.get(t, "/ui/login", "")
	if a.Status != http.StatusUnauthorized || !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("anonymous /ui/login: %d, WWW-Authenticate %q; want 401 and a Basic challenge", a.Status, a.Header.Get("WWW-Authenticate"))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/ui/login", nil)
	req.SetBasicAuth("alice", alicePassword)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("alice's /ui/login: %d to %q; want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// links returns the targets of the links of body with text.
func links(body, text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a[^>]* href="([^"]*)"[^>]*>([^<]*)</a>`).FindAllStringSubmatch(body, -1) {
		if m[2] == text {
			out = append(out, strings.ReplaceAll(m[1], "&amp;", "&"))
		}
	}
	return out
}

func TestSearchPages(t *testing.T) {
	f := newFixture(t, ui.Options{})
	ctx := context.Background()
	var vs []index.Version
	for i := range 7 {
		vs = append(vs, version(fmt.Sprintf("example.com/many/m%d", i), "v1.0.0", now))
	}
	if err := f.x.RecordVersions(ctx, vs); err != nil {
		t.Fatal(err)
	}
	var seen []string
	next := "/ui/search?q=MANY&limit=3"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 3 for 7 modules")
		}
		body := f.page(t, next, "")
		for _, m := range regexp.MustCompile(`<a href="/ui/(example.com/many/m\d)">`).FindAllStringSubmatch(body, -1) {
			seen = append(seen, m[1])
		}
		n := links(body, "Next page")
		next = ""
		if len(n) == 1 {
			next = n[0]
			if !strings.Contains(next, "q=MANY") || !strings.Contains(next, "limit=3") {
				t.Errorf("next page %q loses the query", next)
			}
		}
	}
	if want := "example.com/many/m0 example.com/many/m1 example.com/many/m2 example.com/many/m3 example.com/many/m4 example.com/many/m5 example.com/many/m6"; strings.Join(seen, " ") != want {
		t.Errorf("pages listed %q, want %q", seen, want)
	}
}

func TestEventFilters(t *testing.T) {
	f := newFixture(t, ui.Options{})
	rows := func(body string) int { return strings.Count(body, "<td>192.0.2.") }
	for _, tt := range []struct {
		query string
		user  string
		want  int
	}{
		{"", "", 4},      // the two of the secret module are left out
		{"", "alice", 6}, // every event
		{"?module=" + pubMod, "", 4},
		{"?module=" + secretMod, "", 0},
		{"?module=" + secretMod, "alice", 2},
		{"?user=bob", "", 1},
		{"?result=denied", "", 1},
		{"?result=denied", "alice", 2},
		{"?result=denied&user=carol", "", 1},
		{"?since=2026-06-14T12:00", "", 3}, // at or after
		{"?since=2026-06-13&until=2026-06-14T11:30:00Z", "", 1},
		{"?module=&user=&result=&since=&until=", "", 4}, // an empty form
	} {
		body := f.page(t, "/ui/events"+tt.query, tt.user)
		if got := rows(body); got != tt.want {
			t.Errorf("/ui/events%s as %q: %d events, want %d", tt.query, tt.user, got, tt.want)
		}
	}
	body := f.page(t, "/ui/events?result=denied", "")
	mustContain(t, "denied events", body, `<tr class="refused">`, `<option selected>denied</option>`)

	// Paging through all of alice's events, 4 at a time, keeps the filter.
	body = f.page(t, "/ui/events?limit=4&since=2026-01-01", "alice")
	if rows(body) != 4 {
		t.Errorf("first page: %d events", rows(body))
	}
	next := links(body, "Older events")
	if len(next) != 1 || !strings.Contains(next[0], "since=2026-01-01") {
		t.Fatalf("next page links %q", next)
	}
	body = f.page(t, next[0], "alice")
	if rows(body) != 2 || len(links(body, "Older events")) != 0 {
		t.Errorf("second page: %d events, next %q", rows(body), links(body, "Older events"))
	}
}

func TestBadParameters(t *testing.T) {
	f := newFixture(t, ui.Options{})
	for path, want := range map[string]string{
		"/ui/search?limit=0":                       "limit must be a number from 1 to 500",
		"/ui/search?limit=x":                       "limit must be a number",
		"/ui/search?cursor=%21%21":                 "cursor",
		"/ui/search?q=a&q=b":                       "given 2 times",
		"/ui/search?page=2":                        "unknown parameter &#34;page&#34;",
		"/ui/events?result=maybe":                  "result must be one of hit, filled, not_found, denied, error",
		"/ui/events?since=yesterday":               "since must be a day",
		"/ui/events?until=2026-13-01":              "until must be a day",
		"/ui/events?module=Not%20A%20Module":       "is not a module path",
		"/ui/events?cursor=nonsense":               "cursor",
		"/ui/events?limit=501":                     "limit must be",
		"/ui/?x=1":                                 "this page takes no parameters",
		"/ui/" + pubMod + "?tab=files":             "this page takes no parameters",
		"/ui/" + pubMod + "@latest":                "not a canonical version",
		"/ui/" + pubMod + "@v1.2":                  "not a canonical version",
		"/ui/" + pubMod + "@":                      "not a canonical version",
		"/ui/Example..com/x":                       "is not a module path",
		"/ui/search?q=" + strings.Repeat("a", 201): "longer than 200",
	} {
		a := f.get(t, path, "")
		if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, want) {
			t.Errorf("GET %s: %d, want 400 saying %q; body:\n%s", path, a.Status, want, a.Body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/ui/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d", resp.StatusCode)
	}
}

func TestModulePage(t *testing.T) {
	decide := func(_ context.Context, mv module.Version) policy.Decision {
		if mv.Version == "v1.0.0" {
			return policy.Decision{Module: mv, Verdict: policy.Denied, Reasons: []policy.Reason{{Kind: policy.VulnKind, Verdict: policy.Denied, Text: "GO-2026-0001 (fixed in v1.2.0)"}}}
		}
		if mv.Version == "v1.3.0-rc.1" {
			return policy.Decision{Module: mv, Verdict: policy.Warned, Reasons: []policy.Reason{{Kind: policy.AgeKind, Verdict: policy.Warned, Text: "published 2h ago"}}}
		}
		return policy.Decision{Module: mv, Verdict: policy.Allowed}
	}
	f := newFixture(t, ui.Options{Decide: decide})
	body := f.page(t, "/ui/"+pubMod, "")
	order := regexp.MustCompile(`<td><a href="/ui/example.com/pub@(v[^"]+)">`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range order {
		got = append(got, m[1])
	}
	if want := "v1.3.0-rc.1 v1.2.0 v1.1.0 v1.0.0"; strings.Join(got, " ") != want {
		t.Errorf("versions listed %q, want newest first %q", got, want)
	}
	mustContain(t, "the module page", body,
		"latest <a href=\"/ui/example.com/pub@v1.2.0\">v1.2.0</a>",
		`<tr class="retracted">`, `<span class="tag retracted">retracted</span>`,
		`<span class="verdict deny">deny</span>`, "GO-2026-0001 (fixed in v1.2.0)",
		`<span class="verdict warn">warn</span>`, "published 2h ago")
	// v1.2.0 has 3 downloads.
	if !regexp.MustCompile(`(?s)@v1\.2\.0">v1\.2\.0</a>.*?<td class="num">3</td>`).MatchString(body) {
		t.Error("v1.2.0's row does not show its 3 downloads")
	}
}

func TestVersionPage(t *testing.T) {
	var gotVulns, gotLicenses module.Version
	f := newFixture(t, ui.Options{
		Vulns: func(_ context.Context, mv module.Version) []vulndb.Finding {
			gotVulns = mv
			return []vulndb.Finding{{ID: "GO-2026-0002", Aliases: []string{"CVE-2026-1"}, Summary: "Crash in <Parse>", Fixed: "v1.2.1", Link: "https://vuln.example/GO-2026-0002"},
				{ID: "GO-2026-0003", Summary: "Bad link", Link: "javascript:alert(7)"}}
		},
		Licenses: func(_ context.Context, mv module.Version) []license.License {
			gotLicenses = mv
			return []license.License{{Path: "LICENSE", Types: []string{"Apache-2.0", "MIT"}, Coverage: 99}}
		},
		Decide: func(_ context.Context, mv module.Version) policy.Decision {
			return policy.Decision{Module: mv, Verdict: policy.Denied, Report: true, Reasons: []policy.Reason{{Verdict: policy.Denied, Text: "GO-2026-0002 (fixed in v1.2.1)"}}}
		},
	})
	mv := module.Version{Path: pubMod, Version: "v1.2.0"}
	body := f.page(t, "/ui/"+pubMod+"@v1.2.0", "")
	if gotVulns != mv || gotLicenses != mv {
		t.Errorf("Vulns and Licenses were asked about %v and %v, want %v", gotVulns, gotLicenses, mv)
	}
	mustContain(t, "the version page", body,
		"example.com/pub v1.2.0 h1:ZIPv1.2.0=\nexample.com/pub v1.2.0/go.mod h1:MODv1.2.0=\n",
		`data-copy="gosum-lines"`,
		"<td>.zip</td><td class=\"num\">2.0 KiB</td>", fmt.Sprintf("%064x", len("zip")+len(pubMod)+len("v1.2.0")),
		"Verified in the checksum database sum.example.test",
		"<dt>Record</dt><dd>42</dd><dt>Tree size</dt><dd>1000</dd>",
		"Fetched from the upstream proxy", "http://127.0.0.1:9/upstream",
		"Apache-2.0, MIT", `<a href="https://vuln.example/GO-2026-0002" rel="noreferrer">GO-2026-0002</a>`, "Crash in &lt;Parse&gt;", "Fixed in v1.2.1",
		`<span class="verdict deny">would deny (report)</span>`,
		"Zip downloads: 3 in all", `<svg class="chart"`, "<title>2026-06-14, downloads: 1</title>", "<title>2026-06-13, downloads: 1</title>",
		"<td>alice</td>", "<td>bob</td>", `<span class="muted">anonymous</span>`,
		`<a class="path" href="/ui/example.com/dep@v1.0.0">example.com/dep v1.0.0</a>`, "// indirect", "go 1.22")
	mustNotContain(t, "the version page", body, "javascript:alert")
	// The downloaders, the latest first.
	if a, b := strings.Index(body, "<td>bob</td>"), strings.Index(body, "<td>alice</td>"); a > b {
		t.Error("alice is listed before bob, who downloaded later")
	}
	// The chart has a bar per day.
	if n := strings.Count(body, "<rect "); n != 30 {
		t.Errorf("%d bars, want 30", n)
	}
}

// TestVersionPageUnknownInputs: licenses not detected yet and
// vulnerabilities without a database loaded (nil) are not reported as no
// license file and no known vulnerability (empty).
func TestVersionPageUnknownInputs(t *testing.T) {
	f := newFixture(t, ui.Options{
		Licenses: func(_ context.Context, mv module.Version) []license.License {
			if mv.Version == "v1.2.0" {
				return []license.License{}
			}
			return nil
		},
		Vulns: func(_ context.Context, mv module.Version) []vulndb.Finding {
			if mv.Version == "v1.2.0" {
				return []vulndb.Finding{}
			}
			return nil
		},
	})
	body := f.page(t, "/ui/"+pubMod+"@v1.2.0", "")
	mustContain(t, "the page of a version without a license file or vulnerability", body,
		`<p class="warn">No license file found.</p>`, `<p class="ok">No known vulnerabilities.</p>`)
	body = f.page(t, "/ui/"+pubMod+"@v1.1.0", "")
	mustContain(t, "the page of a version whose licenses and vulnerabilities are unknown", body,
		`<p class="muted">Not detected yet.</p>`, `<p class="muted">Unknown: the vulnerability database is not loaded yet.</p>`)
	mustNotContain(t, "the page of a version whose licenses and vulnerabilities are unknown", body,
		"No license file found", "No known vulnerabilities")
}

// TestEventsFilterPolicyResults: the events filter offers the policy's
// warned and report results.
func TestEventsFilterPolicyResults(t *testing.T) {
	f := newFixture(t, ui.Options{})
	for _, r := range []string{"warned", "report"} {
		body := f.page(t, "/ui/events?result="+r, "")
		mustContain(t, "/ui/events?result="+r, body, "<option selected>"+r+"</option>")
	}
}

func TestWithoutOptionalInputs(t *testing.T) {
	f := newFixture(t, ui.Options{ReadMod: func(context.Context, module.Version) ([]byte, error) { return nil, fs.ErrNotExist }})
	body := f.page(t, "/ui/"+pubMod+"@v1.2.0", "")
	mustNotContain(t, "the version page", body, ">Vulnerabilities<", ">License<", ">Policy<", ">Requirements<")
	body = f.page(t, "/ui/"+pubMod, "")
	mustContain(t, "the module page", body, "could not be read")
	mustNotContain(t, "the module page", body, "<th scope=\"col\">Policy</th>")
}

func TestHomeShowsSettings(t *testing.T) {
	f := newFixture(t, ui.Options{
		Setup: ui.Setup{GOSUMDB: "sum.example.test+abcdef+AAAA"},
		Ready: func(context.Context) (string, bool) { return "store: ok\nupstream: failing: <refused>\n", true },
	})
	body := f.page(t, "/ui/", "")
	host := strings.TrimPrefix(f.URL, "http://")
	mustContain(t, "/ui/", body,
		"go env -w GOPROXY="+f.URL+"/\n", "go env -w GONOSUMDB=corp.example\n", "go env -w GOSUMDB=sum.example.test&#43;abcdef&#43;AAAA\n", "go env -w GOAUTH=netrc\n",
		"machine "+strings.Split(host, ":")[0]+" login USER password PASSWORD",
		`data-copy="settings"`, "database: ok", "upstream: failing: &lt;refused&gt;")
	// Recent activity, refusals marked.
	mustContain(t, "/ui/", body, `<tr class="refused">`, "carol")
}

// TestSearchPagesHideSecret checks that paging anonymously through every
// module one at a time shows a module on every page and that no page, nor
// the link to the next one, names the module the viewer may not read.
func TestSearchPagesHideSecret(t *testing.T) {
	f := newFixture(t, ui.Options{})
	escaped, _ := module.EscapePath(secretMod)
	next, pages := "/ui/search?limit=1", 0
	for ; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("more than 10 pages of one module")
		}
		body := f.page(t, next, "")
		if strings.Contains(body, secretMod) || strings.Contains(body, escaped) || strings.Contains(body, url.QueryEscape(escaped)) {
			t.Errorf("%s names %s", next, secretMod)
		}
		if n := strings.Count(body, `<td class="path">`); n != 1 {
			t.Errorf("%s lists %d modules, want 1", next, n)
		}
		next = ""
		if n := links(body, "Next page"); len(n) == 1 {
			next = n[0]
		}
	}
	if all := f.page(t, "/ui/search?limit=100", "alice"); !strings.Contains(all, secretMod) {
		t.Error("alice's search does not show " + secretMod)
	}
}
