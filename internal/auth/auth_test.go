package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/route"
	"golang.org/x/crypto/bcrypt"
)

// clock is a settable time.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer is a log destination safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bcryptHash returns a bcrypt hash of password with the given prefix
// ("$2a$", "$2b$" or "$2y$": the same algorithm), at the lowest cost.
func bcryptHash(t testing.TB, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + strings.TrimPrefix(string(h), "$2a$")
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is an Auth over files in a temporary directory, with a settable
// clock and a count of bcrypt checks.
type fixture struct {
	a              *Auth
	clock          *clock
	logs           *logBuffer
	usersFile      string
	tokensFile     string
	verifications  atomic.Int64
	tokenCI        string
	tokenProm      string
	tokenOther     string
	alicePassword  string
	bobPassword    string
	reloadInterval time.Duration
}

// The rules of the tests: public modules open, the corporate host for any
// valid user or token, the team's modules for alice and the ci token, the
// metrics for the prom token.
var testRules = []Rule{
	{Pattern: "*", Allow: []string{Anyone}},
	{Pattern: "git.corp.example", Allow: []string{Authenticated}},
	{Pattern: "git.corp.example/team", Allow: []string{"alice", "token:ci"}},
	{Pattern: MetricsPattern, Allow: []string{"token:prom"}},
	{Pattern: CatalogPattern, Allow: []string{"alice"}},
}

func newFixture(t testing.TB, rules []Rule, mod func(*settings)) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		clock:          newClock(),
		logs:           &logBuffer{},
		usersFile:      filepath.Join(dir, "users"),
		tokensFile:     filepath.Join(dir, "tokens"),
		tokenCI:        "ci-0123456789abcdef",
		tokenProm:      "prom-fedcba9876543210",
		tokenOther:     "other-5555555555555555",
		alicePassword:  "alice-s3cret-pw",
		bobPassword:    "bob-s3cret-pw",
		reloadInterval: time.Minute,
	}
	writeFile(t, f.usersFile, fmt.Sprintf("# users\nalice:%s\n\nbob:%s\n",
		bcryptHash(t, f.alicePassword, "$2y$"), bcryptHash(t, f.bobPassword, "$2b$")))
	writeFile(t, f.tokensFile, fmt.Sprintf("ci:%s\nprom:%s\n# a comment\nother:%s\n",
		HashToken(f.tokenCI), HashToken(f.tokenProm), HashToken(f.tokenOther)))
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := settings{
		reload:      f.reloadInterval,
		verifiedTTL: VerifiedTTL,
		verifiedMax: VerifiedMax,
		now:         f.clock.now,
		verify: func(hash, password []byte) error {
			f.verifications.Add(1)
			return bcrypt.CompareHashAndPassword(hash, password)
		},
	}
	if mod != nil {
		mod(&s)
	}
	a, err := newAuth(Config{Users: f.usersFile, Tokens: f.tokensFile, Rules: rules}, log, s)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	return f
}

// backend stands for modvault's server: it knows the modules in exists,
// answers them like the server (200, immutable public caching, through
// http.ServeContent so that io.Copy reaches ReadFrom), and 404 with details
// for anything else. It records what it saw.
type backend struct {
	mu        sync.Mutex
	calls     int
	principal string
	authz     []string // Authorization headers seen
	exists    map[string]bool
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.calls++
	b.principal = Principal(r.Context())
	b.authz = append(b.authz, r.Header.Values("Authorization")...)
	b.mu.Unlock()
	if !b.exists[r.URL.Path] {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "not found: %s: unknown revision\n", r.URL.Path)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader("content of "+r.URL.Path))
}

func (b *backend) reset() (calls int, principal string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	calls, principal = b.calls, b.principal
	b.calls, b.principal = 0, ""
	return calls, principal
}

type creds func(*http.Request)

func basic(user, password string) creds {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func bearer(tok string) creds {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func do(h http.Handler, method, path string, c creds) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if c != nil {
		c(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const (
	teamInfo    = "/git.corp.example/team/app/@v/v1.0.0.info"
	teamMissing = "/git.corp.example/team/nothere/@v/v1.0.0.info"
	corpInfo    = "/git.corp.example/tools/@v/v1.0.0.info"
	publicInfo  = "/example.com/pub/@v/v1.0.0.info"
	teamLookup  = "/sumdb/sum.example/lookup/git.corp.example/team/app@v1.0.0"
	tile        = "/sumdb/sum.example/tile/8/0/000"
)

func TestHandler(t *testing.T) {
	f := newFixture(t, testRules, nil)
	be := &backend{exists: map[string]bool{
		teamInfo: true, corpInfo: true, publicInfo: true, teamLookup: true, tile: true,
		"/metrics": true, "/healthz": true, "/catalog": true, "/index": true, "/git.corp.example/team/app/@v/list": true,
		"/git.corp.example/team/!upper/@v/list": true,
	}}
	h := f.a.Handler(be)

	tests := []struct {
		name      string
		path      string
		creds     creds
		allowed   bool
		principal string
	}{
		{"public, anonymous", publicInfo, nil, true, ""},
		{"public, wrong password", publicInfo, basic("alice", "wrong"), true, ""},
		{"team, anonymous", teamInfo, nil, false, ""},
		{"team, alice", teamInfo, basic("alice", f.alicePassword), true, "alice"},
		{"team, alice with a wrong password", teamInfo, basic("alice", "wrong"), false, ""},
		{"team, alice with bob's password", teamInfo, basic("alice", f.bobPassword), false, ""},
		{"team, bob (authenticated, not listed)", teamInfo, basic("bob", f.bobPassword), false, ""},
		{"team, unknown user", teamInfo, basic("mallory", "x"), false, ""},
		{"team, ci token as bearer", teamInfo, bearer(f.tokenCI), true, "token:ci"},
		{"team, ci token as basic password of user token", teamInfo, basic(TokenUser, f.tokenCI), true, "token:ci"},
		{"team, ci token as basic password of another user", teamInfo, basic("ci", f.tokenCI), false, ""},
		{"team, other token", teamInfo, bearer(f.tokenOther), false, ""},
		{"team, wrong token", teamInfo, bearer("nope"), false, ""},
		{"team, a token's prefix", teamInfo, bearer(f.tokenCI[:10]), false, ""},
		{"team, unsupported scheme", teamInfo, func(r *http.Request) { r.Header.Set("Authorization", "Digest username=alice") }, false, ""},
		{"team list, alice", "/git.corp.example/team/app/@v/list", basic("alice", f.alicePassword), true, "alice"},
		{"team, case-encoded path, anonymous", "/git.corp.example/team/!upper/@v/list", nil, false, ""},
		{"team, case-encoded path, alice", "/git.corp.example/team/!upper/@v/list", basic("alice", f.alicePassword), true, "alice"},
		{"team, cached-only, anonymous", "/cached-only" + teamInfo, nil, false, ""},
		{"team, latest, anonymous", "/git.corp.example/team/app/@latest", nil, false, ""},
		{"corp, anonymous", corpInfo, nil, false, ""},
		{"corp, bob", corpInfo, basic("bob", f.bobPassword), true, "bob"},
		{"corp, other token", corpInfo, bearer(f.tokenOther), true, "token:other"},
		{"corp host itself, anonymous (prefix probe)", "/git.corp.example/@v/list", nil, false, ""},
		{"checksum lookup of a team module, anonymous", teamLookup, nil, false, ""},
		{"checksum lookup of a team module, bob", teamLookup, basic("bob", f.bobPassword), false, ""},
		{"checksum lookup of a team module, alice", teamLookup, basic("alice", f.alicePassword), true, "alice"},
		{"checksum tile, anonymous (the * rule)", tile, nil, true, ""},
		{"metrics, anonymous", "/metrics", nil, false, ""},
		{"metrics, ci token", "/metrics", bearer(f.tokenCI), false, ""},
		{"metrics, prom token", "/metrics", bearer(f.tokenProm), true, "token:prom"},
		{"metrics under cached-only, anonymous", "/cached-only/metrics", nil, false, ""},
		{"healthz, anonymous", "/healthz", nil, true, ""},
		// The catalog and index name private modules: the "*" rule that
		// opens public modules does not open them.
		{"catalog, anonymous", "/catalog", nil, false, ""},
		{"index, anonymous", "/index", nil, false, ""},
		{"index, bob", "/index", basic("bob", f.bobPassword), false, ""},
		{"catalog, alice", "/catalog", basic("alice", f.alicePassword), true, "alice"},
		{"index under cached-only, anonymous", "/cached-only/index", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be.reset()
			w := do(h, http.MethodGet, tt.path, tt.creds)
			calls, principal := be.reset()
			if !tt.allowed {
				if w.Code != http.StatusNotFound || w.Body.String() != NotFound || calls != 0 {
					t.Fatalf("got %d %q (backend called %d times), want 404 %q without reaching the backend", w.Code, w.Body.String(), calls, NotFound)
				}
				return
			}
			if w.Code != http.StatusOK || calls != 1 {
				t.Fatalf("got %d %q (backend called %d times), want 200 from the backend", w.Code, w.Body.String(), calls)
			}
			if principal != tt.principal {
				t.Errorf("Principal = %q, want %q", principal, tt.principal)
			}
			cc := w.Header().Get("Cache-Control")
			if tt.path != "/healthz" && tt.principal == "" && cc != "public, max-age=31536000, immutable" {
				t.Errorf("open answer: Cache-Control = %q, want it unchanged", cc)
			}
			if tt.principal != "" && cc != "private, max-age=31536000, immutable" {
				t.Errorf("answer that needed credentials: Cache-Control = %q, want private", cc)
			}
		})
	}
	if len(be.authz) != 0 {
		t.Errorf("the backend saw Authorization headers: %d", len(be.authz))
	}
}

// TestDeniedRevealsNothing checks that every denied request for a private
// module gets the same answer, byte for byte, whether the module exists or
// not and whatever credentials were sent.
func TestDeniedRevealsNothing(t *testing.T) {
	f := newFixture(t, testRules, nil)
	h := f.a.Handler(&backend{exists: map[string]bool{teamInfo: true, teamLookup: true}})
	dump := func(w *httptest.ResponseRecorder) string {
		hdr := w.Header().Clone()
		hdr.Del("Date")
		var b strings.Builder
		fmt.Fprintf(&b, "%d\n", w.Code)
		_ = hdr.Write(&b)
		b.WriteString("\n" + w.Body.String())
		return b.String()
	}
	want := dump(do(h, http.MethodGet, teamInfo, nil))
	if !strings.HasPrefix(want, "404\n") || !strings.HasSuffix(want, "\n"+NotFound) {
		t.Fatalf("denied answer:\n%s", want)
	}
	for _, c := range []struct {
		path  string
		creds creds
	}{
		{teamMissing, nil},
		{teamInfo, basic("alice", "wrong")},
		{teamMissing, basic("alice", "wrong")},
		{teamInfo, basic("bob", f.bobPassword)},
		{teamMissing, basic("bob", f.bobPassword)},
		{teamInfo, basic("nosuchuser", "x")},
		{teamInfo, bearer(f.tokenOther)},
		{teamInfo, bearer("garbage")},
		{teamLookup, nil},
		{"/sumdb/sum.example/lookup/git.corp.example/team/nothere@v1.0.0", nil},
	} {
		if got := dump(do(h, http.MethodGet, c.path, c.creds)); got != want {
			t.Errorf("%s: denied answer differs:\n%s\nwant:\n%s", c.path, got, want)
		}
	}
	if w := do(h, http.MethodHead, teamInfo, nil); w.Code != http.StatusNotFound {
		t.Errorf("HEAD: %d, want 404", w.Code)
	}
}

// TestDefaultDeny checks that without a "*" rule, what no rule matches is
// denied: modules, paths that name no module and /metrics.
func TestDefaultDeny(t *testing.T) {
	f := newFixture(t, []Rule{{Pattern: "git.corp.example", Allow: []string{Authenticated}}}, nil)
	h := f.a.Handler(&backend{exists: map[string]bool{publicInfo: true, tile: true, "/metrics": true, corpInfo: true, "/healthz": true}})
	for _, p := range []string{publicInfo, tile, "/metrics", "/", "/sumdb/sum.example/supported"} {
		if w := do(h, http.MethodGet, p, basic("bob", f.bobPassword)); w.Code != http.StatusNotFound || w.Body.String() != NotFound {
			t.Errorf("%s: %d %q, want the denial", p, w.Code, w.Body.String())
		}
	}
	if w := do(h, http.MethodGet, corpInfo, basic("bob", f.bobPassword)); w.Code != http.StatusOK {
		t.Errorf("corp module, bob: %d", w.Code)
	}
	if w := do(h, http.MethodGet, "/healthz", nil); w.Code != http.StatusOK {
		t.Errorf("healthz: %d", w.Code)
	}
}

func TestMatch(t *testing.T) {
	f := newFixture(t, []Rule{
		{Pattern: "*", Allow: []string{Anyone}},
		{Pattern: "*.corp.example", Allow: []string{Authenticated}},
		{Pattern: "git.corp.example/*", Allow: []string{"alice"}},
		{Pattern: "*/team", Allow: []string{"bob"}},
		{Pattern: "git.corp.example/team/app", Allow: []string{"token:ci"}},
	}, nil)
	tests := []struct {
		kind route.Access
		mod  string
		want string // pattern of the deciding rule
	}{
		{route.ModuleAccess, "example.com/x", "*"},
		{route.ModuleAccess, "github.com/Azure/x", "*"},
		{route.ModuleAccess, "svn.corp.example/x", "*.corp.example"},
		{route.ModuleAccess, "git.corp.example", "*.corp.example"},
		{route.ModuleAccess, "git.corp.example/lib", "git.corp.example/*"},
		{route.ModuleAccess, "git.corp.example/lib/v2", "git.corp.example/*"},
		// As many elements: the most literal characters win.
		{route.ModuleAccess, "git.corp.example/team", "git.corp.example/*"},
		{route.ModuleAccess, "other.example/team/x", "*/team"},
		{route.ModuleAccess, "git.corp.example/team/app", "git.corp.example/team/app"},
		{route.ModuleAccess, "git.corp.example/team/app/sub", "git.corp.example/team/app"},
		{route.ModuleAccess, "git.corp.example/team/application", "git.corp.example/*"},
		{route.Restricted, "", "*"},
		{route.MetricsAccess, "", ""},
	}
	// Exact ties: the first listed wins.
	g := newFixture(t, []Rule{{Pattern: "a.example/?x", Allow: []string{"alice"}}, {Pattern: "a.example/x?", Allow: []string{"bob"}}}, nil)
	if r := g.a.match(route.ModuleAccess, "a.example/xx"); r == nil || r.pattern != "a.example/?x" {
		t.Errorf("tie: got %+v, want the first rule", r)
	}
	for _, tt := range tests {
		got := ""
		if r := f.a.match(tt.kind, tt.mod); r != nil {
			got = r.pattern
		}
		if got != tt.want {
			t.Errorf("match(%v, %q) = rule %q, want %q", tt.kind, tt.mod, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		path string
		kind route.Access
		mod  string
	}{
		{"/example.com/a/@v/v1.0.0.info", route.ModuleAccess, "example.com/a"},
		{"/example.com/a/@v/v1.0.0.zip", route.ModuleAccess, "example.com/a"},
		{"/example.com/a/@v/list", route.ModuleAccess, "example.com/a"},
		{"/example.com/a/@latest", route.ModuleAccess, "example.com/a"},
		{"/example.com/a/@v/main.info", route.ModuleAccess, "example.com/a"},
		{"/github.com/!azure/sdk/@v/v1.0.0-!r!c1.mod", route.ModuleAccess, "github.com/Azure/sdk"},
		{"/cached-only/example.com/a/@v/list", route.ModuleAccess, "example.com/a"},
		{"/sumdb/sum.example/lookup/github.com/!azure/sdk@v1.0.0", route.ModuleAccess, "github.com/Azure/sdk"},
		{"/cached-only/sumdb/sum.example/lookup/example.com/a@v1.0.0", route.ModuleAccess, "example.com/a"},
		{"/sumdb/sum.example/lookup/github.com/Azure/sdk@v1.0.0", route.Restricted, ""}, // not case-encoded: malformed
		{"/sumdb/sum.example/tile/8/0/000", route.Restricted, ""},
		{"/sumdb/sum.example/latest", route.Restricted, ""},
		{"/sumdb/sum.example/supported", route.Restricted, ""},
		{"/metrics", route.MetricsAccess, ""},
		{"/cached-only/metrics", route.MetricsAccess, ""},
		{"/healthz", route.Open, ""},
		{"/readyz", route.Open, ""},
		{"/cached-only/healthz", route.Open, ""},
		{"/", route.Restricted, ""},
		{"/favicon.ico", route.Restricted, ""},
		{"/example.com/Bad/@v/list", route.Restricted, ""},
		{"/example.com/../x/@v/list", route.Restricted, ""},
	}
	for _, tt := range tests {
		rt := route.Parse(tt.path)
		k, mod := rt.Access(), rt.Module()
		if k != tt.kind || mod != tt.mod {
			t.Errorf("classify(%q) = %v, %q; want %v, %q", tt.path, k, mod, tt.kind, tt.mod)
		}
	}
}

// TestSecretsNotLogged runs requests with right and wrong passwords and
// tokens, logging at debug level, behind a backend that logs every request
// header it gets: no secret and no Authorization header appears.
func TestSecretsNotLogged(t *testing.T) {
	f := newFixture(t, testRules, nil)
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	careless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Debug("backend request", "headers", fmt.Sprint(r.Header))
	})
	h := f.a.Handler(careless)
	secrets := []string{f.alicePassword, f.bobPassword, f.tokenCI, f.tokenProm, f.tokenOther, "wrong-password-123", "wrong-token-456", "lettersonlysecret", "bWFsZm9ybWVk"}
	for _, p := range []string{teamInfo, corpInfo, publicInfo, "/metrics", teamLookup} {
		for _, c := range []creds{
			basic("alice", f.alicePassword), basic("alice", "wrong-password-123"), basic("bob", f.bobPassword),
			basic("ghost", "wrong-password-123"), bearer(f.tokenCI), bearer(f.tokenProm), bearer(f.tokenOther),
			bearer("wrong-token-456"), basic(TokenUser, f.tokenCI), basic(TokenUser, "wrong-token-456"),
			func(r *http.Request) { r.Header.Set("Authorization", "wrong-token-456") },
			func(r *http.Request) { r.Header.Set("Authorization", "lettersonlysecret") },
			func(r *http.Request) { r.Header.Set("Authorization", "Basic bWFsZm9ybWVk") }, // no colon: malformed
		} {
			do(h, http.MethodGet, p, c)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `msg="authentication failed"`) || !strings.Contains(logs, "user=alice") ||
		!strings.Contains(logs, "reason=malformed") || !strings.Contains(logs, `msg="access denied"`) {
		t.Fatalf("the test logged nothing useful, so it proves nothing:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret %q is in the logs", s)
		}
		if b64 := base64.StdEncoding.EncodeToString([]byte("alice:" + s)); strings.Contains(logs, b64) {
			t.Errorf("base64 credentials are in the logs")
		}
	}
	if strings.Contains(logs, "Authorization") || strings.Contains(logs, "Bearer") || strings.Contains(logs, "Basic ") {
		t.Errorf("an Authorization header is in the logs:\n%s", logs)
	}
}

// TestVerifiedCache counts bcrypt checks: a successful one is remembered
// for the TTL; failures, unknown users and changed hashes are checked
// again.
func TestVerifiedCache(t *testing.T) {
	f := newFixture(t, testRules, func(s *settings) { s.verifiedTTL = time.Minute; s.reload = 0 })
	h := f.a.Handler(&backend{exists: map[string]bool{teamInfo: true}})
	get := func(c creds) int { return do(h, http.MethodGet, teamInfo, c).Code }
	checks := func() int64 { return f.verifications.Swap(0) }

	for i := range 10 {
		if code := get(basic("alice", f.alicePassword)); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if n := checks(); n != 1 {
		t.Errorf("10 requests with the same credentials: %d bcrypt checks, want 1", n)
	}
	for range 3 {
		get(basic("alice", "wrong"))
	}
	if n := checks(); n != 3 {
		t.Errorf("3 wrong passwords: %d bcrypt checks, want 3 (failures are not remembered)", n)
	}
	get(basic("nosuchuser", "x"))
	if n := checks(); n != 1 {
		t.Errorf("an unknown user: %d bcrypt checks, want 1 (so it takes as long as a known one)", n)
	}
	// Tokens never need bcrypt.
	get(bearer(f.tokenCI))
	if n := checks(); n != 0 {
		t.Errorf("a token: %d bcrypt checks", n)
	}

	f.clock.advance(time.Minute)
	get(basic("alice", f.alicePassword))
	if n := checks(); n != 1 {
		t.Errorf("after the TTL: %d bcrypt checks, want 1", n)
	}

	// alice's password changes: the old one is refused at once, although
	// it was remembered.
	writeFile(t, f.usersFile, "alice:"+bcryptHash(t, "new-password", "$2y$")+"\n")
	if code := get(basic("alice", f.alicePassword)); code != http.StatusNotFound {
		t.Errorf("old password after the change: %d, want 404", code)
	}
	if code := get(basic("alice", "new-password")); code != http.StatusOK {
		t.Errorf("new password: %d, want 200", code)
	}
}

func TestVerifiedCacheBounded(t *testing.T) {
	c := newVerifiedCache(time.Minute, 3)
	now := time.Now()
	for i := range 10 {
		c.add(verifiedKey(fmt.Sprint("user", i), "pw", nil), now)
		if len(c.expires) > 3 {
			t.Fatalf("%d entries, bound 3", len(c.expires))
		}
	}
	if !c.contains(verifiedKey("user9", "pw", nil), now) {
		t.Error("the last entry added is not remembered")
	}
	if c.contains(verifiedKey("user9", "pw", nil), now.Add(time.Minute)) {
		t.Error("an expired entry is remembered")
	}
	if verifiedKey("ab", "c", nil) == verifiedKey("a", "bc", nil) {
		t.Error("keys of different user/password splits collide")
	}
}

// TestReload changes the files under a running Auth: changes are used once
// the interval passed; an invalid version is logged once and the previous
// one stays in force.
func TestReload(t *testing.T) {
	f := newFixture(t, testRules, nil)
	h := f.a.Handler(&backend{exists: map[string]bool{teamInfo: true}})
	get := func(c creds) int { return do(h, http.MethodGet, teamInfo, c).Code }

	newToken := "ci-rotated-aaaaaaaaaaaa"
	writeFile(t, f.tokensFile, "ci:"+HashToken(newToken)+"\n")
	writeFile(t, f.usersFile, "alice:"+bcryptHash(t, "rotated", "$2a$")+"\n")
	if get(bearer(f.tokenCI)) != http.StatusOK || get(basic("alice", f.alicePassword)) != http.StatusOK {
		t.Error("the files were read again before the interval passed")
	}
	f.clock.advance(f.reloadInterval)
	if get(bearer(f.tokenCI)) != http.StatusNotFound || get(bearer(newToken)) != http.StatusOK {
		t.Error("the tokens file was not reloaded after the interval")
	}
	if get(basic("alice", f.alicePassword)) != http.StatusNotFound || get(basic("alice", "rotated")) != http.StatusOK {
		t.Error("the users file was not reloaded after the interval")
	}
	if !strings.Contains(f.logs.String(), `msg="auth: reloaded the users file"`) {
		t.Errorf("reload not logged:\n%s", f.logs.String())
	}

	// Invalid versions: the previous ones stay, one error each.
	writeFile(t, f.usersFile, "alice:$apr1$abc$def\n")
	writeFile(t, f.tokensFile, "ci:"+newToken+"\n")
	for range 3 {
		f.clock.advance(f.reloadInterval)
		if get(bearer(newToken)) != http.StatusOK || get(basic("alice", "rotated")) != http.StatusOK {
			t.Error("an invalid file replaced the previous version")
		}
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "level=ERROR"); n != 2 {
		t.Errorf("%d errors logged, want 2 (one per invalid file):\n%s", n, logs)
	}
	if !strings.Contains(logs, "line 1") || strings.Contains(logs, newToken) {
		t.Errorf("the error should name the line and not the token:\n%s", logs)
	}

	// A removed file: the previous version stays.
	if err := os.Remove(f.usersFile); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(f.reloadInterval)
	if get(basic("alice", "rotated")) != http.StatusOK {
		t.Error("a removed users file dropped the users")
	}
}

func TestHtpasswd(t *testing.T) {
	good := "# comment\n\n" +
		"alice:" + bcryptHash(t, "a", "$2y$") + "\n" +
		"  bob:" + bcryptHash(t, "b", "$2a$") + "  \r\n" +
		"carol:" + bcryptHash(t, "c", "$2b$") + "\n"
	us, err := parseHtpasswd([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for name, pw := range map[string]string{"alice": "a", "bob": "b", "carol": "c"} {
		if err := bcrypt.CompareHashAndPassword(us.hash[name], []byte(pw)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	ok := "alice:" + bcryptHash(t, "a", "$2y$") + "\n\n"
	for _, tt := range []struct {
		line string
		want string
	}{
		{"bob:$apr1$Vc3Ye1hC$FzzvVWJ4/3w0MbcRTpGYm/", `line 3: user "bob": unsupported password hash Apache MD5 ($apr1$)`},
		{"bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", `line 3: user "bob": unsupported password hash SHA-1 ({SHA})`},
		{"bob:$6$salt$abc", "unsupported password hash SHA-512-crypt ($6$)"},
		{"bob:$1$salt$abc", "unsupported password hash MD5-crypt ($1$)"},
		{"bob:plaintext", "unsupported password hash crypt(3) or plain text"},
		{"bob:$2y$10$short", `line 3: user "bob": malformed bcrypt hash`},
		{"bob", "line 3: want user:hash"},
		{"token:" + bcryptHash(t, "x", "$2y$"), `user "token": the name is reserved`},
		{"alice:" + bcryptHash(t, "x", "$2y$"), `line 3: user "alice" is listed twice`},
		{"b b:" + bcryptHash(t, "x", "$2y$"), "no spaces"},
	} {
		_, err := parseHtpasswd([]byte(ok + tt.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.line, err, tt.want)
		}
		if strings.Contains(tt.want, "unsupported") && (err == nil || !strings.Contains(err.Error(), `create the entry with "htpasswd -B"`)) {
			t.Errorf("%q: err = %v, want the advice to use htpasswd -B", tt.line, err)
		}
	}
	if _, err := parseHtpasswd([]byte("bob:plaintext\n")); err == nil || strings.Contains(err.Error(), "plaintext") {
		t.Errorf("a plain-text password: err = %v, want an error that does not show it", err)
	}
}

func TestTokensFile(t *testing.T) {
	ts, err := parseTokens([]byte("# ci\nci:" + HashToken("t1") + "\n\nprom:" + strings.ToUpper(HashToken("t2")[len("sha256:"):]) + "\n"))
	if err == nil {
		t.Fatalf("a hash without sha256: was accepted: %v", ts)
	}
	ts, err = parseTokens([]byte("# ci\nci:" + HashToken("t1") + "\n\nprom:sha256:" + strings.ToUpper(HashToken("t2")[len("sha256:"):]) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].name != "ci" || ts[1].name != "prom" {
		t.Fatalf("tokens = %v", ts)
	}
	const plain = "glpat-very-secret-token"
	for _, tt := range []struct {
		content string
		want    string
	}{
		{"ci:" + plain, "line 1: token \"ci\": want NAME:sha256:HEX"},
		{plain, "line 1: want NAME:sha256:HEX"},
		{"ci:sha256:abcd", "64 hexadecimal digits"},
		{"ci:sha256:" + strings.Repeat("zz", 32), "not hexadecimal"},
		{"ci:" + HashToken("a") + "\nci:" + HashToken("b"), `line 2: token "ci" is listed twice`},
		{"ci:" + HashToken("a") + "\nci2:" + HashToken("a"), `line 2: token "ci2": the same token is listed under another name`},
		{":" + HashToken("a"), "empty name"},
	} {
		_, err := parseTokens([]byte(tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.content, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), plain) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

func TestConfig(t *testing.T) {
	if (Config{}).Enabled() {
		t.Error("the zero Config is enabled")
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Users: "u"}, "no rules"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "", Allow: []string{Anyone}}}}, "empty pattern"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "a.example,b.example", Allow: []string{Anyone}}}}, "one pattern per rule"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "a.example/[x", Allow: []string{Anyone}}}}, "syntax error in pattern"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "/a.example", Allow: []string{Anyone}}}}, "without leading"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "a.example", Allow: nil}}}, "allows no one"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "*", Allow: []string{Anyone}}, {Pattern: "*", Allow: []string{"alice"}}}}, `rule 2: pattern "*" is given twice`},
		{Config{Tokens: "t", Rules: []Rule{{Pattern: "*", Allow: []string{"alice"}}}}, "allows users, but no users file"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "*", Allow: []string{"token:ci"}}}}, "allows tokens, but no tokens file"},
		{Config{Rules: []Rule{{Pattern: "*", Allow: []string{Authenticated}}}}, "neither a users nor a tokens file"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "*", Allow: []string{"token"}}}}, "not a user name"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "*", Allow: []string{"user:"}}}}, "empty name"},
		{Config{Users: "u", Rules: []Rule{{Pattern: "*", Allow: []string{"al ice"}}}}, "no spaces"},
	} {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	ok := Config{Users: "u", Tokens: "t", Rules: append([]Rule{{Pattern: "*.corp.example/team", Allow: []string{"user:alice", "bob"}}}, testRules...)}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	// Only rules, everything open: valid, no files needed.
	if err := (Config{Rules: []Rule{{Pattern: "*", Allow: []string{Anyone}}}}).Validate(); err != nil {
		t.Errorf("open config: %v", err)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	writeFile(t, users, "alice:"+bcryptHash(t, "a", "$2y$")+"\n#\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
	log := slog.New(slog.DiscardHandler)
	rules := []Rule{{Pattern: "*", Allow: []string{Authenticated}}}
	_, err := New(Config{Users: users, Rules: rules}, log)
	if err == nil || !strings.Contains(err.Error(), users+": line 3") {
		t.Errorf("invalid users file: err = %v, want one naming the file and line 3", err)
	}
	_, err = New(Config{Users: filepath.Join(dir, "missing"), Rules: rules}, log)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing users file: err = %v", err)
	}

	writeFile(t, users, "alice:"+bcryptHash(t, "a", "$2y$")+"\n")
	var logs logBuffer
	_, err = New(Config{Users: users, Rules: []Rule{{Pattern: "*", Allow: []string{"alice", "carol"}}}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "user=carol") {
		t.Errorf("a rule naming an unknown user is not warned about:\n%s", logs.String())
	}
}

// TestWebUIViewer checks what the listings of modules (the web UI, the
// JSON API, /catalog and /index) learn of their viewer: they are decided
// by the @catalog rule, /ui/login and the UI's assets are open to anyone,
// and in every request let through CanRead answers for who made it, even
// where no credentials were needed.
func TestWebUIViewer(t *testing.T) {
	rules := append([]Rule{}, testRules...)
	rules[len(rules)-1] = Rule{Pattern: CatalogPattern, Allow: []string{Anyone}}
	for _, tt := range []struct {
		name   string
		rules  []Rule
		path   string
		creds  creds
		status int
		who    string
		reads  map[string]bool // module → CanRead
	}{
		{"anonymous", rules, "/ui/", nil, http.StatusOK, "",
			map[string]bool{"example.com/pub": true, "git.corp.example/tools": false, "git.corp.example/team/app": false}},
		{"alice", rules, "/ui/search?q=x", basic("alice", "alice-s3cret-pw"), http.StatusOK, "alice",
			map[string]bool{"example.com/pub": true, "git.corp.example/tools": true, "git.corp.example/team/app": true}},
		{"bob", rules, "/ui/events", basic("bob", "bob-s3cret-pw"), http.StatusOK, "bob",
			map[string]bool{"git.corp.example/tools": true, "git.corp.example/team/app": false}},
		{"ci token", rules, "/ui/git.corp.example/team/app", bearer("ci-0123456789abcdef"), http.StatusOK, "token:ci",
			map[string]bool{"git.corp.example/team/app": true}},
		{"wrong password is anonymous", rules, "/ui/", basic("alice", "wrong"), http.StatusOK, "",
			map[string]bool{"git.corp.example/tools": false}},
		{"@catalog for alice only: anonymous denied", testRules, "/ui/", nil, http.StatusNotFound, "", nil},
		{"@catalog for alice only: alice let in", testRules, "/ui/", basic("alice", "alice-s3cret-pw"), http.StatusOK, "alice",
			map[string]bool{"git.corp.example/team/app": true}},
		{"login is open", testRules, "/ui/login", nil, http.StatusOK, "", map[string]bool{"example.com/pub": true}},
		{"login tells who", testRules, "/ui/login", basic("bob", "bob-s3cret-pw"), http.StatusOK, "bob",
			map[string]bool{"git.corp.example/tools": true}},
		{"assets are open", testRules, "/ui/assets/ui.css", nil, http.StatusOK, "", nil},
		{"API: alice", rules, "/api/v1/modules", basic("alice", "alice-s3cret-pw"), http.StatusOK, "alice",
			map[string]bool{"example.com/pub": true, "git.corp.example/team/app": true}},
		{"API: anonymous", rules, "/api/v1/events", nil, http.StatusOK, "",
			map[string]bool{"example.com/pub": true, "git.corp.example/team/app": false}},
		{"catalog: bob", rules, "/catalog", basic("bob", "bob-s3cret-pw"), http.StatusOK, "bob",
			map[string]bool{"git.corp.example/tools": true, "git.corp.example/team/app": false}},
		{"index: ci token", rules, "/index", bearer("ci-0123456789abcdef"), http.StatusOK, "token:ci",
			map[string]bool{"git.corp.example/team/app": true}},
		{"API, @catalog for alice only: anonymous denied", testRules, "/api/v1/modules", nil, http.StatusNotFound, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.rules, nil)
			var who string
			var reads map[string]bool
			h := f.a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				who = Principal(r.Context())
				if r.Header.Get("Authorization") != "" {
					t.Error("the listing got the Authorization header")
				}
				reads = map[string]bool{}
				for m := range tt.reads {
					reads[m] = f.a.CanRead(r.Context(), m)
				}
			}))
			w := do(h, http.MethodGet, tt.path, tt.creds)
			if w.Code != tt.status || who != tt.who {
				t.Fatalf("GET %s: %d, principal %q; want %d, %q", tt.path, w.Code, who, tt.status, tt.who)
			}
			for m, want := range tt.reads {
				if reads[m] != want {
					t.Errorf("CanRead(%s) = %v, want %v", m, reads[m], want)
				}
			}
		})
	}
	// Outside a listing's request, CanRead answers as for an anonymous
	// request.
	f := newFixture(t, testRules, nil)
	if f.a.CanRead(context.Background(), "git.corp.example/team/app") || !f.a.CanRead(context.Background(), "example.com/pub") {
		t.Error("CanRead without a viewer is not anonymous")
	}
}
