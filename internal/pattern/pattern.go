// Package pattern checks and ranks the GOPRIVATE-style module path patterns
// that access-control rules and policy rules are written in: one glob of
// path elements ("*", "git.corp.example", "*.corp.example/team"), matched
// as a path prefix by golang.org/x/mod/module.MatchPrefixPatterns. When
// several rules match a module, the most specific pattern decides: the one
// with the most path elements, then the one with the most literal
// characters ([Specificity]).
package pattern

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Check reports whether p is one valid pattern.
func Check(p string) error {
	if p == "" {
		return errors.New(`empty pattern: use "*" for every module`)
	}
	if strings.Contains(p, ",") {
		return errors.New("one pattern per rule: write one rule for each of the comma-separated patterns")
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return errors.New("a pattern is a module path prefix, without leading, trailing or double slashes")
	}
	if strings.ContainsAny(p, " \t@") {
		return errors.New("a pattern has no spaces and no @")
	}
	for elem := range strings.SplitSeq(p, "/") {
		if _, err := path.Match(elem, ""); err != nil {
			return fmt.Errorf("element %q: %w", elem, err)
		}
	}
	return nil
}

// Specificity ranks a pattern: a pattern with more path elements is more
// specific; between patterns with as many, the one with more literal
// characters (that match only themselves: not "*", "?" or a "[…]" class).
type Specificity struct {
	Elems, Literal int
}

// Rank returns the specificity of a valid pattern.
func Rank(p string) Specificity {
	return Specificity{Elems: strings.Count(p, "/") + 1, Literal: literalLen(p)}
}

// MoreThan reports whether s is more specific than t.
func (s Specificity) MoreThan(t Specificity) bool {
	if s.Elems != t.Elems {
		return s.Elems > t.Elems
	}
	return s.Literal > t.Literal
}

// literalLen returns the number of characters of a glob that match only
// themselves.
func literalLen(glob string) int {
	n := 0
	for i := 0; i < len(glob); i++ {
		switch glob[i] {
		case '*', '?':
		case '[':
			for i < len(glob) && glob[i] != ']' {
				if glob[i] == '\\' {
					i++
				}
				i++
			}
		case '\\':
			i++
			n++
		default:
			n++
		}
	}
	return n
}
