// Package auth is modvault's access control: who may read which modules.
//
// An [Auth] wraps the server's handler. It maps each request to the module
// path it would reveal ("@metrics" for /metrics, "@catalog" for /catalog
// and /index, "*" for paths that name no module; /healthz and /readyz are
// always open) and lets it through only if the most specific [Rule]
// matching that path allows whoever made it: a user of the htpasswd file
// (bcrypt only) or a token of the tokens file (held as SHA-256 hashes),
// both re-read when they change. No matching rule means deny. A denied
// request is answered 404 "not found", the same as a module that does not
// exist, whatever its credentials. A request let through reaches the next
// handler without its Authorization header and with its [Principal] in its
// context, and its answer is marked Cache-Control: private if it needed
// credentials. Requests that list modules (the web UI, the JSON API,
// /catalog and /index: see [perViewer]) are always authenticated, even
// where anyone may read, so that [Auth.CanRead] can tell their handlers
// which modules the viewer may see. Secrets are never logged. The
// README's "Access control and TLS" is the operator's guide.
package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/route"
	"golang.org/x/crypto/bcrypt"
)

// Defaults of an [Auth] made by [New].
const (
	// ReloadInterval is how often, at most, the credential files are read
	// again to see whether they changed.
	ReloadInterval = 2 * time.Second
	// VerifiedTTL is how long a successful bcrypt check is remembered.
	VerifiedTTL = 5 * time.Minute
	// VerifiedMax bounds the number of remembered bcrypt checks.
	VerifiedMax = 1024
)

// Who may read, in [Rule.Allow].
const (
	Anyone        = "anyone"        // no credentials needed
	Authenticated = "authenticated" // any valid user or token
)

// MetricsPattern is the [Rule.Pattern] that decides who may read /metrics.
const MetricsPattern = "@metrics"

// CatalogPattern is the [Rule.Pattern] that decides who may read /catalog,
// /index, the JSON API and the web UI, which list stored modules (each
// viewer only those the rules let them read, by [Auth.CanRead]).
const CatalogPattern = "@catalog"

// TokenUser is the Basic-authentication user name whose password is a token.
const TokenUser = "token"

// Config configures access control. The zero Config turns it off (see
// [Config.Enabled]).
type Config struct {
	// Users is the path of an htpasswd file of users with bcrypt password
	// hashes; empty for none.
	Users string `toml:"users"`
	// Tokens is the path of a file of named tokens, "name:sha256:HEX" per
	// line; empty for none.
	Tokens string `toml:"tokens"`
	// Rules say who may read which modules. At least one is required.
	Rules []Rule `toml:"rules"`
}

// Rule gives who may read the modules whose paths match Pattern.
type Rule struct {
	// Pattern is one GOPRIVATE-style glob ("*", "git.corp.example",
	// "*.corp.example/team"), or "@metrics" for /metrics.
	Pattern string `toml:"pattern"`
	// Allow lists "anyone", "authenticated", user names ("alice" or
	// "user:alice") and token names ("token:ci").
	Allow []string `toml:"allow"`
}

// Enabled reports whether c asks for access control: whether any field is
// set.
func (c Config) Enabled() bool {
	return c.Users != "" || c.Tokens != "" || len(c.Rules) > 0
}

// Validate checks the rules of c without reading the files: every rule has
// a valid pattern, no pattern is repeated, every Allow entry is well-formed,
// and users and tokens are only named if their file is set.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// compile validates c and returns its rules in their matching form.
func (c Config) compile() ([]rule, error) {
	if len(c.Rules) == 0 {
		return nil, errors.New("auth: no rules: every request would be denied; add one, for example {pattern = \"*\", allow = [\"authenticated\"]}")
	}
	rules := make([]rule, 0, len(c.Rules))
	seen := make(map[string]bool)
	for i, r := range c.Rules {
		ru, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("auth: rule %d (pattern %q): %w", i+1, r.Pattern, err)
		}
		if seen[ru.pattern] {
			return nil, fmt.Errorf("auth: rule %d: pattern %q is given twice", i+1, r.Pattern)
		}
		seen[ru.pattern] = true
		if len(ru.users) > 0 && c.Users == "" {
			return nil, fmt.Errorf("auth: rule %d (pattern %q) allows users, but no users file is set", i+1, r.Pattern)
		}
		if len(ru.tokens) > 0 && c.Tokens == "" {
			return nil, fmt.Errorf("auth: rule %d (pattern %q) allows tokens, but no tokens file is set", i+1, r.Pattern)
		}
		if ru.authenticated && c.Users == "" && c.Tokens == "" {
			return nil, fmt.Errorf("auth: rule %d (pattern %q) allows %q, but neither a users nor a tokens file is set", i+1, r.Pattern, Authenticated)
		}
		rules = append(rules, ru)
	}
	return rules, nil
}

// Auth checks requests against a [Config]. It is safe for concurrent use.
type Auth struct {
	rules  []rule // in Config order
	log    *slog.Logger
	users  *watchedFile[users]
	tokens *watchedFile[tokens]
	cache  *verifiedCache
	now    func() time.Time
	// verify checks a password against a bcrypt hash:
	// bcrypt.CompareHashAndPassword, replaced in tests to count calls.
	verify func(hash, password []byte) error

	// Denied, if not nil, is called with every request the rules deny,
	// who made it ("" if anonymous) and why, for the audit trail. Set it
	// before the Handler serves.
	Denied func(r *http.Request, who, reason string)
}

// settings are the knobs of an Auth that are not configuration.
type settings struct {
	reload      time.Duration
	verifiedTTL time.Duration
	verifiedMax int
	now         func() time.Time
	verify      func(hash, password []byte) error
}

// New reads the files of cfg and returns an Auth enforcing it. A missing or
// invalid file is an error. Users and tokens named in the rules but missing
// from the files are logged as warnings: they may be added later.
func New(cfg Config, log *slog.Logger) (*Auth, error) {
	return newAuth(cfg, log, settings{
		reload:      ReloadInterval,
		verifiedTTL: VerifiedTTL,
		verifiedMax: VerifiedMax,
		now:         time.Now,
		verify:      bcrypt.CompareHashAndPassword,
	})
}

func newAuth(cfg Config, log *slog.Logger, s settings) (*Auth, error) {
	if log == nil {
		log = slog.Default()
	}
	rules, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	a := &Auth{
		rules:  rules,
		log:    log,
		cache:  newVerifiedCache(s.verifiedTTL, s.verifiedMax),
		now:    s.now,
		verify: s.verify,
	}
	a.users = newWatchedFile(cfg.Users, "users file", parseHtpasswd, log, s.reload)
	a.tokens = newWatchedFile(cfg.Tokens, "tokens file", parseTokens, log, s.reload)
	for _, f := range []interface{ load(time.Time) error }{a.users, a.tokens} {
		if err := f.load(a.now()); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	us, ts := a.users.get(a.now()), a.tokens.get(a.now())
	for _, r := range rules {
		for name := range r.users {
			if _, ok := us.hash[name]; !ok {
				log.Warn("auth: a rule allows a user the users file does not have", "pattern", r.pattern, "user", name)
			}
		}
		for name := range r.tokens {
			if !slices.ContainsFunc(ts, func(t token) bool { return t.name == name }) {
				log.Warn("auth: a rule allows a token the tokens file does not have", "pattern", r.pattern, "token", name)
			}
		}
	}
	return a, nil
}

// NotFound is the body of the answer to a denied request, the same for
// every path.
const NotFound = "not found\n"

// Handler returns next guarded by a: a request the rules deny is answered
// 404 [NotFound]; one they allow reaches next without its Authorization
// header, with [Principal] set in its context.
func (a *Auth) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := route.Of(r)
		kind, mod := rt.Access(), rt.Module()
		// Listings show each viewer what they may read: they need to
		// know who the viewer is even where anyone is let in.
		viewer := perViewer(rt)
		if kind == route.Open && !viewer {
			next.ServeHTTP(w, withoutAuthorization(r, ""))
			return
		}
		var ru *rule
		if kind != route.Open {
			ru = a.match(kind, mod)
		}
		if ru != nil && ru.anyone && !viewer {
			next.ServeHTTP(w, withoutAuthorization(r, ""))
			return
		}
		who := a.authenticate(r)
		if viewer {
			r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, who))
			if kind == route.Open || ru.allowsAnyone() {
				next.ServeHTTP(&privateWriter{ResponseWriter: w}, withoutAuthorization(r, who.String()))
				return
			}
		}
		if ru == nil || !ru.allows(who) {
			pattern := ""
			if ru != nil {
				pattern = ru.pattern
			}
			a.log.LogAttrs(r.Context(), slog.LevelDebug, "access denied",
				slog.String("path", r.URL.Path),
				slog.String("principal", who.String()),
				slog.String("rule", pattern))
			if a.Denied != nil {
				reason := "no rule matches"
				if ru != nil {
					reason = "rule " + pattern + " does not allow " + cmp.Or(who.String(), "anonymous")
				}
				a.Denied(r, who.String(), reason)
			}
			deny(w)
			return
		}
		next.ServeHTTP(&privateWriter{ResponseWriter: w}, withoutAuthorization(r, who.String()))
	})
}

// deny writes the answer to a denied request, with the headers of the
// server's own "not found" answers.
func deny(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(NotFound))
}

// perViewer reports whether the answer to a request of rt lists modules
// and leaves out those its viewer may not read ([Auth.CanRead]): the web
// UI (route.UI), the JSON API (route.API), /catalog and /index
// (route.Catalog). This is the one place that says which requests carry
// their viewer.
func perViewer(rt route.Route) bool {
	switch rt.Endpoint {
	case route.UI, route.API, route.Catalog:
		return true
	}
	return false
}

type principalKey struct{}

type viewerKey struct{}

// CanRead reports whether the rules let whoever made the request of ctx
// read module path mod (download it). Only requests that list modules
// ([perViewer]: the web UI, the JSON API, /catalog and /index) carry who
// made them for this: for any other ctx, CanRead answers as for an
// anonymous request.
func (a *Auth) CanRead(ctx context.Context, mod string) bool {
	who, _ := ctx.Value(viewerKey{}).(principal)
	ru := a.match(route.ModuleAccess, mod)
	return ru != nil && ru.allows(who)
}

// Principal returns who made the request whose context is ctx, as a rule
// names them ("alice", "token:ci"), or "" if the request needed no
// credentials.
func Principal(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// withoutAuthorization returns r without its Authorization header and, if
// who is not empty, with who as its [Principal].
func withoutAuthorization(r *http.Request, who string) *http.Request {
	if who != "" {
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, who))
	}
	if _, ok := r.Header["Authorization"]; !ok {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Authorization")
	return r2
}

// principal is who made a request: a user, a token, or no one (anonymous).
type principal struct {
	user  string
	token string
}

func (p principal) anonymous() bool { return p.user == "" && p.token == "" }

// String returns the principal as rules name it, or "" if anonymous.
func (p principal) String() string {
	switch {
	case p.user != "":
		return p.user
	case p.token != "":
		return "token:" + p.token
	}
	return ""
}

// authenticate returns who r's credentials prove it comes from; anonymous
// if it has none, or if they fail (which is logged).
func (a *Auth) authenticate(r *http.Request) principal {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}
	}
	fail := func(attrs ...slog.Attr) principal {
		attrs = append(attrs, slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "authentication failed", attrs...)
		return principal{}
	}
	now := a.now()
	if user, password, ok := r.BasicAuth(); ok {
		if user == TokenUser {
			if name, ok := a.checkToken(password, now); ok {
				return principal{token: name}
			}
			return fail(slog.String("scheme", "basic"), slog.String("kind", "token"))
		}
		if a.checkPassword(user, password, now) {
			return principal{user: user}
		}
		return fail(slog.String("scheme", "basic"), slog.String("user", user))
	}
	scheme, tok, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return fail(slog.String("scheme", "basic"), slog.String("reason", "malformed"))
	case !strings.EqualFold(scheme, "Bearer"):
		// Only the scheme's name is logged; it is not secret.
		return fail(slog.String("scheme", schemeName(scheme)), slog.String("reason", "unsupported scheme"))
	}
	if name, ok := a.checkToken(strings.TrimSpace(tok), now); ok {
		return principal{token: name}
	}
	return fail(slog.String("scheme", "bearer"), slog.String("kind", "token"))
}

// schemeName returns an authorization scheme for the log: the name of a
// well-known scheme, or "other", since anything else might be a secret put
// where the scheme belongs.
func schemeName(s string) string {
	for _, known := range []string{"Digest", "Negotiate", "NTLM", "Token", "AWS4-HMAC-SHA256", "HOBA", "Mutual", "SCRAM-SHA-256", "VAPID"} {
		if strings.EqualFold(s, known) {
			return known
		}
	}
	return "other"
}

// noSuchUser is a bcrypt hash (cost 10) checked for unknown user names
// when the users file has no user to take the hash of.
const noSuchUser = "$2a$10$NKLXdv9IBhWMw9iItV/FE.jSylhYYqvqAPH1RfB.MOLMrXalcKN8K"

// checkPassword reports whether password is user's, from the memory of
// successful checks or with bcrypt.
func (a *Auth) checkPassword(user, password string, now time.Time) bool {
	us := a.users.get(now)
	hash, known := us.hash[user]
	if !known {
		hash = us.decoy
		if hash == nil {
			hash = []byte(noSuchUser) // no users file
		}
	}
	key := verifiedKey(user, password, hash)
	if known && a.cache.contains(key, now) {
		return true
	}
	if err := a.verify(hash, []byte(password)); err != nil || !known {
		return false
	}
	a.cache.add(key, now)
	return true
}

// checkToken returns the name of the token tok, comparing its SHA-256 with
// every stored hash in constant time.
func (a *Auth) checkToken(tok string, now time.Time) (string, bool) {
	if tok == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	ts := a.tokens.get(now)
	for i := range ts {
		if subtle.ConstantTimeCompare(sum[:], ts[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return ts[found].name, true
}
