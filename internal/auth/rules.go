package auth

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/pattern"
	"github.com/modvault/modvault/internal/route"
)

// rule is a compiled [Rule].
type rule struct {
	pattern       string
	rank          pattern.Specificity
	anyone        bool
	authenticated bool
	users         map[string]bool
	tokens        map[string]bool
}

func compileRule(r Rule) (rule, error) {
	ru := rule{
		pattern: r.Pattern,
		rank:    pattern.Rank(r.Pattern),
		users:   map[string]bool{},
		tokens:  map[string]bool{},
	}
	if err := checkPattern(r.Pattern); err != nil {
		return rule{}, err
	}
	if len(r.Allow) == 0 {
		return rule{}, errors.New("allows no one: list who may read (anyone, authenticated, user names, token:NAME)")
	}
	for _, who := range r.Allow {
		switch {
		case who == Anyone:
			ru.anyone = true
		case who == Authenticated:
			ru.authenticated = true
		case strings.HasPrefix(who, "token:"):
			name := strings.TrimPrefix(who, "token:")
			if err := checkName(name); err != nil {
				return rule{}, fmt.Errorf("allow %q: %w", who, err)
			}
			ru.tokens[name] = true
		default:
			name := strings.TrimPrefix(who, "user:")
			if err := checkName(name); err != nil {
				return rule{}, fmt.Errorf("allow %q: %w", who, err)
			}
			if name == TokenUser {
				return rule{}, fmt.Errorf("allow %q: %q is not a user name (it carries tokens); name the token: token:NAME", who, TokenUser)
			}
			ru.users[name] = true
		}
	}
	return ru, nil
}

// checkPattern checks a rule's pattern: "@metrics", "@catalog", or one
// module path pattern (package pattern).
func checkPattern(p string) error {
	if p == MetricsPattern || p == CatalogPattern {
		return nil
	}
	return pattern.Check(p)
}

// checkName checks a user or token name.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == ':' || r == ',' || r == 0x7f }) {
		return errors.New("a name has no spaces, control characters, ':' or ','")
	}
	return nil
}

// allowsAnyone reports whether r is not nil and lets anyone in.
func (r *rule) allowsAnyone() bool { return r != nil && r.anyone }

// allows reports whether who may read what the rule covers.
func (r *rule) allows(who principal) bool {
	switch {
	case r.anyone:
		return true
	case who.anonymous():
		return false
	case r.authenticated:
		return true
	case who.user != "":
		return r.users[who.user]
	default:
		return r.tokens[who.token]
	}
}

// match returns the rule that decides a request for what kind and mod
// name, or nil if none does. Among the rules matching a module, the one
// with the most path elements decides; between those with as many, the one
// with the most literal characters; then the first listed.
func (a *Auth) match(k route.Access, mod string) *rule {
	var best *rule
	for i := range a.rules {
		r := &a.rules[i]
		var ok bool
		switch k {
		case route.ModuleAccess:
			ok = r.pattern != MetricsPattern && r.pattern != CatalogPattern && module.MatchPrefixPatterns(r.pattern, mod)
		case route.MetricsAccess:
			ok = r.pattern == MetricsPattern
		case route.CatalogAccess:
			ok = r.pattern == CatalogPattern
		case route.Restricted:
			ok = r.pattern == "*"
		}
		if ok && (best == nil || r.rank.MoreThan(best.rank)) {
			best = r
		}
	}
	return best
}
