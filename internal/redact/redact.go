// Package redact removes secrets from what modvault shows: logs, error
// messages and the output of "modvault config".
//
// It knows four shapes of value: one URL ([URL]), a GOPROXY-style list of
// them ([List]), a version control credential ([Token]) and free text
// ([Text]). Every function replaces each secret with [Mask] and keeps every
// other byte as it was, so that a redacted value still reads as what it
// was: the host, the path and the harmless query parameters stay, in their
// order and with their escaping. Which query parameters hold secrets is
// decided by one table, secretParams.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask is what a secret is replaced with.
const Mask = "***"

// secretParams names the query parameters whose values are secrets. A
// name matches case-insensitively: a whole entry only where whole is set,
// else any name that contains the entry.
var secretParams = []struct {
	name  string
	whole bool
}{
	{"sig", true},         // Azure SAS signature (its se, sp, sv, … are not secret)
	{"signature", false},  // X-Amz-Signature, Signature of GCS signed URLs
	{"credential", false}, // X-Amz-Credential
	{"token", false},      // X-Amz-Security-Token, SessionToken, sas_token
	{"secret", false},     // secret, secret_key, client_secret
	{"password", false},
	{"key", false}, // access_key, AWSAccessKeyId, api_key
}

// secretParam reports whether the query parameter name holds a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, p := range secretParams {
		if n == p.name || !p.whole && strings.Contains(n, p.name) {
			return true
		}
	}
	return false
}

// scheme matches the scheme of a URL and its "://".
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// URL returns rawURL with its secrets replaced by [Mask]: its user
// information, user name included (a user name can be a token), and the
// value of every query parameter that secretParams names. A parameter
// whose value is itself a URL (an endpoint) is redacted as a URL. Without
// a scheme, "user:password@host/path" (as GOPROXY allows) loses its user
// information too. rawURL need not parse: the redaction works on the text,
// so an invalid URL loses its secrets as well.
func URL(rawURL string) string {
	// The authority starts after the scheme's "://", or at the start.
	start := len(rawURL) - len(strings.TrimLeft(rawURL, " \t"))
	if m := scheme.FindStringIndex(rawURL[start:]); m != nil {
		start += m[1]
	}
	end := len(rawURL)
	if i := strings.IndexAny(rawURL[start:], "/?#"); i >= 0 {
		end = start + i
	}
	s := rawURL
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		s = s[:start] + Mask + s[start+at:]
		end = start + len(Mask) + (end - start - at)
	}
	q := strings.IndexAny(s[end:], "?#")
	if q < 0 || s[end+q] != '?' {
		return s
	}
	q += end + 1
	fragment := len(s)
	if i := strings.IndexByte(s[q:], '#'); i >= 0 {
		fragment = q + i
	}
	return s[:q] + query(s[q:fragment]) + s[fragment:]
}

// query redacts a raw query string, keeping every parameter that holds no
// secret exactly as it was.
func query(raw string) string {
	params := strings.Split(raw, "&")
	for i, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if secretParam(name) {
			params[i] = k + "=" + Mask
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil || !strings.Contains(value, "://") {
			continue
		}
		if r := URL(value); r != value {
			if value != v {
				// Escaped as it was, but with the mask readable: "*"
				// needs no escaping in a query.
				r = strings.ReplaceAll(url.QueryEscape(r), "%2A", "*")
			}
			params[i] = k + "=" + r
		}
	}
	return strings.Join(params, "&")
}

// List returns a GOPROXY-style list (entries separated by "," or "|") with
// each entry redacted as by [URL], or, where an entry holds a URL after
// other words (GOSUMDB's "name+key url"), that URL. Entries that are not
// URLs ("direct", "off", a path pattern, a checksum database's name+key)
// stay as they are, and so do the separators.
func List(list string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(list, ",|")
		if i < 0 {
			b.WriteString(entry(list))
			return b.String()
		}
		b.WriteString(entry(list[:i]))
		b.WriteByte(list[i])
		list = list[i+1:]
	}
}

// entry redacts one entry of a list.
func entry(s string) string {
	if strings.Contains(s, "://") {
		return urlInText.ReplaceAllStringFunc(s, URL)
	}
	return URL(s)
}

// Token returns a version control credential for host as it is shown:
// "host=***", or "host=user:***" when it has a user name.
func Token(host, user string) string {
	if user == "" {
		return host + "=" + Mask
	}
	return host + "=" + user + ":" + Mask
}

// urlInText matches a URL in free text: a scheme, its user information,
// which may hold any character but a slash or a space, and what follows up
// to a space, a quote or an angle bracket.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@\s]+@)?[^\s"'<>]*`)

// Text returns s with every occurrence of the known secrets replaced by
// [Mask], the longest first so that a secret containing another is removed
// whole, and every URL in it redacted as by [URL]. Empty secrets are
// ignored.
func Text(s string, secrets ...string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return urlInText.ReplaceAllStringFunc(s, URL)
}
