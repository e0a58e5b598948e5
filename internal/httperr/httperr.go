// Package httperr is the one place where an error becomes an HTTP answer:
// [Status] maps an error's fault.Kind to the status and the short text that
// the go command prints to its user, and [Write] writes that answer. The
// module proxy server and the checksum database proxy both answer through
// it, so an error means the same on every endpoint.
package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modvault/modvault/internal/fault"
)

// answers maps each fault.Kind to its status and the prefix of its text.
//
// What the go command does with a status decides the table: it falls
// through to the next entry of its GOPROXY list on 404 and 410 only (on any
// error after "|"), so only what is truly missing is 404 or 410, and an
// upstream's refusal (403 "not available", 400) keeps its own status, as the
// client would have seen it without modvault.
var answers = map[fault.Kind]struct {
	status int
	prefix string
}{
	fault.Internal:     {http.StatusInternalServerError, "internal error"},
	fault.NotFound:     {http.StatusNotFound, "not found"},
	fault.Gone:         {http.StatusGone, "gone"},
	fault.Invalid:      {http.StatusBadRequest, "bad request"},
	fault.Refused:      {http.StatusForbidden, "forbidden"},
	fault.Unavailable:  {http.StatusBadGateway, "bad gateway"},
	fault.BadUpstream:  {http.StatusBadGateway, "bad gateway"},
	fault.TooLarge:     {http.StatusBadGateway, "bad gateway"},
	fault.Verification: {http.StatusForbidden, "forbidden"},
	fault.Unverifiable: {http.StatusBadGateway, "bad gateway"},
	fault.Security:     {http.StatusServiceUnavailable, "service unavailable"},
	fault.Timeout:      {http.StatusGatewayTimeout, "gateway timeout"},
	fault.Canceled:     {http.StatusServiceUnavailable, "service unavailable: modvault is shutting down"},
	// A policy refusal's text is the policy's own line ("modvault policy:
	// …"), without a prefix: see Status.
	fault.Policy: {http.StatusForbidden, ""},
}

// Upstream is implemented by an upstream's own error answer: its status,
// and the text it sent for its user.
type Upstream interface {
	error
	UpstreamStatus() int
	UpstreamText() string
}

// Status returns the status of the answer to a request that failed with
// err, and its one-line text. An upstream's 4xx answer keeps its status and
// its own text (the reason the user needs; "not found: " is put before a
// 404's text that lacks it); an upstream's 5xx is a 502 that quotes it;
// a policy refusal (fault.Policy) is a 403 whose text is exactly the
// refusing error's own message (the "modvault policy: …" line), whatever
// wraps it; every other error is answered by its kind, with the error's
// message.
func Status(err error) (status int, text string) {
	kind := fault.Of(err)
	if kind == fault.Policy {
		var k fault.Kinder
		errors.As(err, &k) // the outermost Kinder, which gave the kind
		if e, ok := k.(error); ok {
			return http.StatusForbidden, firstLine(e.Error())
		}
		return http.StatusForbidden, firstLine(err.Error())
	}
	a, ok := answers[kind]
	if !ok {
		a = answers[fault.Internal]
	}
	var up Upstream
	if errors.As(err, &up) && fault.Of(up) == kind {
		s, t := up.UpstreamStatus(), up.UpstreamText()
		if s != 0 && (s < 400 || s >= 500) {
			return a.status, fmt.Sprintf("%s: upstream answered %d %s: %s", a.prefix, s, http.StatusText(s), t)
		}
		if s == 0 { // no upstream asked ("off")
			s = a.status
		}
		if t == "" {
			t = fmt.Sprintf("upstream answered %d %s", s, http.StatusText(s))
		}
		if kind == fault.NotFound {
			t = withPrefix(a.prefix, t)
		}
		return s, t
	}
	if kind == fault.Canceled {
		return a.status, a.prefix
	}
	return a.status, withPrefix(a.prefix, err.Error())
}

// firstLine returns s up to its first line break: an answer is one line.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// withPrefix returns "prefix: text", unless text starts with prefix
// already (upstreams often start their not-found texts "not found:").
func withPrefix(prefix, text string) string {
	if strings.HasPrefix(text, prefix) {
		return text
	}
	return prefix + ": " + text
}

// Write writes a short text/plain answer with status and msg, which the go
// command prints. It drops headers set for a successful answer.
func Write(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("ETag")
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// WriteError answers a request that failed with err, as [Status] says.
func WriteError(w http.ResponseWriter, err error) {
	status, msg := Status(err)
	Write(w, status, msg)
}
