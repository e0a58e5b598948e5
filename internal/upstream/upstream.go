// Package upstream fetches from a list of upstream module proxies with the
// go command's GOPROXY semantics: after an entry followed by ",", the next
// entry is tried only if the previous answered 404 or 410; after "|", on any
// error. "off" ends the list with an error that means "not found", and
// "direct" hands the request to a [Fetcher] that fetches from version
// control. Module paths matching the private patterns (GONOPROXY) go to that
// Fetcher only and never to a proxy of the list.
//
// An answer's body that sends nothing for the stall timeout fails with a
// timeout naming its URL. A body that fails half-way counts as that entry's
// error, as for the go command: [Client.GetBytes] and [Client.GetFile] then
// try the next entry after "|".
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/redact"
)

// FromDirect is what [Client.GetBytesFrom] names the version control
// fetcher by.
const FromDirect = "direct"

// Proxy is one entry of an upstream list.
type Proxy struct {
	URL    string // base URL without a trailing slash; "" for off and direct
	Off    bool
	Direct bool // fetch from version control with the Client's Fetcher
	// FallThroughOnAnyError is set when the entry was followed by "|".
	FallThroughOnAnyError bool
}

// ParseList parses a GOPROXY-style list with the go command's rules: empty
// entries are ignored, an entry without a scheme such as "proxy.example.com"
// means https://proxy.example.com, and "off" or "direct" ends the list
// (entries after them are never used, with a warning). An empty result
// means no upstream at all, like "off".
func ParseList(list string) (proxies []Proxy, warnings []string, err error) {
	for list != "" {
		var entry string
		var anyErr bool
		if i := strings.IndexAny(list, ",|"); i >= 0 {
			entry, anyErr, list = list[:i], list[i] == '|', list[i+1:]
		} else {
			entry, list = list, ""
		}
		entry = strings.TrimSpace(entry)
		switch entry {
		case "":
			continue
		case "direct":
			if strings.Trim(list, " ,|") != "" {
				warnings = append(warnings, fmt.Sprintf(`upstream entries after "direct" (%s) are ignored, as the go command ignores them`, list))
			}
			proxies = append(proxies, Proxy{Direct: true})
			return proxies, warnings, nil
		case "off":
			proxies = append(proxies, Proxy{Off: true})
			return proxies, warnings, nil
		}
		if strings.ContainsAny(entry, ".:/") && !strings.Contains(entry, ":/") && !path.IsAbs(entry) {
			entry = "https://" + entry // as the go command reads it
		}
		u, err := url.Parse(entry)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, warnings, fmt.Errorf("upstream entry %q: want an http:// or https:// URL without query, direct or off", entry)
		}
		proxies = append(proxies, Proxy{URL: strings.TrimSuffix(u.String(), "/"), FallThroughOnAnyError: anyErr})
	}
	return proxies, warnings, nil
}

// Error is an upstream's answer other than 200 OK. It matches fs.ErrNotExist
// when the status is 404 or 410 (or when the list ended with "off" or was
// empty), since then the version or module is not available.
type Error struct {
	URL    string // the request URL, without credentials; "" for off
	Status int    // the HTTP status; 0 for off
	Text   string // the start of the text the upstream sent, for the client
}

func (e *Error) Error() string {
	if e.URL == "" {
		return e.Text
	}
	if e.Text == "" {
		return fmt.Sprintf("upstream %s: %s", e.URL, http.StatusText(e.Status))
	}
	return fmt.Sprintf("upstream %s: %s: %s", e.URL, http.StatusText(e.Status), e.Text)
}

// Is makes errors.Is(err, fs.ErrNotExist) report "not available upstream".
func (e *Error) Is(target error) bool {
	return target == fs.ErrNotExist && e.FaultKind().Missing()
}

// FaultKind says what the answer means: 404 (and "off" or no upstream at
// all) is fault.NotFound, 410 fault.Gone, any other 4xx a refusal
// (fault.Refused: the upstream has its reasons, such as 403 "not
// available"), and anything else the upstream's failure (fault.Unavailable).
func (e *Error) FaultKind() fault.Kind {
	switch {
	case e.Status == 0 || e.Status == http.StatusNotFound:
		return fault.NotFound
	case e.Status == http.StatusGone:
		return fault.Gone
	case e.Status >= 400 && e.Status < 500:
		return fault.Refused
	}
	return fault.Unavailable
}

// ErrUnreachable is wrapped by errors of requests that got no HTTP answer
// (refused or reset connections, DNS failures, timeouts).
var ErrUnreachable = fault.New(fault.Unavailable, "upstream unreachable")

// ErrBadResponse is wrapped by errors about an upstream answer that began
// with 200 OK but could not be used: cut off, or larger than allowed.
var ErrBadResponse = fault.New(fault.Unavailable, "bad upstream response")

// Fetcher fetches module proxy paths by other means than a proxy, such as
// from version control. Fetch returns the body and its size (-1 if unknown);
// errors follow the rules of [Client.Get].
type Fetcher interface {
	Fetch(ctx context.Context, path string) (body io.ReadCloser, size int64, err error)
}

// Target says what an upstream request went to, for metrics.
type Target string

// The targets of upstream requests.
const (
	// TargetProxy is a module proxy asked for a module path.
	TargetProxy Target = "proxy"
	// TargetDirect is version control, through the direct [Fetcher].
	TargetDirect Target = "direct"
	// TargetSumDB is a checksum database, asked through a proxy's
	// /sumdb/ endpoint or directly.
	TargetSumDB Target = "sumdb"
)

// Client fetches from an upstream list. The zero value has no upstream: every
// fetch fails with a not-found [Error].
type Client struct {
	proxies   []Proxy
	http      *http.Client
	userAgent string
	direct    Fetcher
	private   string
	sumdbURLs map[string]string
	observe   func(Target, time.Duration, error)
	stall     time.Duration
}

// Options configures a [Client].
type Options struct {
	// HTTPClient is the client to use; by default a client with a clone of
	// http.DefaultTransport and a response header timeout of one minute.
	HTTPClient *http.Client
	// UserAgent is sent with every request.
	UserAgent string
	// Direct answers for the "direct" entry of the list and for private
	// modules. Without it, both are "not found".
	Direct Fetcher
	// Private is a GONOPROXY-style list of module path patterns
	// (module.MatchPrefixPatterns): requests for matching modules go to
	// Direct only, never to a proxy.
	Private string
	// SumDBURLs maps checksum database names to the URLs that the "direct"
	// entry uses for their "sumdb/$name/…" paths, as the go command
	// contacts a database directly after the proxies; a database not in
	// the map is reached at https://$name.
	SumDBURLs map[string]string
	// Observe, if not nil, is called after every request made to an
	// upstream (each entry of the list tried, and each direct fetch) with
	// its target, how long it took until the answer's headers (for a direct
	// fetch, until the Fetcher returned) and its error, as Get returns it.
	// Fetches that never leave modvault ("off", no upstream) are not
	// reported. It must be safe for concurrent use.
	Observe func(target Target, d time.Duration, err error)
	// StallTimeout is how long the body of an answer may send nothing
	// before the request is abandoned with an error of kind fault.Timeout
	// that names the URL. Zero means [DefaultStallTimeout]; a negative
	// value means no limit (then only the caller's context bounds a
	// download).
	StallTimeout time.Duration
}

// NewTransport returns the transport a [Client] uses by default: a clone of
// http.DefaultTransport with a response header timeout of one minute and
// up to 32 idle connections per host.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	t.MaxIdleConnsPerHost = 32
	return t
}

// New returns a client for the given proxies.
func New(proxies []Proxy, opts Options) *Client {
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	}
	stall := opts.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	return &Client{proxies: proxies, http: hc, userAgent: opts.UserAgent, direct: opts.Direct, private: opts.Private, sumdbURLs: opts.SumDBURLs, observe: opts.Observe, stall: stall}
}

// Proxies returns the upstream list.
func (c *Client) Proxies() []Proxy { return c.proxies }

// maxErrorText bounds how much of an error body is kept.
const maxErrorText = 1024

// Get requests path from the upstream list and returns the body of the
// first 200 response and its size (-1 if unknown). The path is relative to
// each proxy's base URL and case-encoded but not URL-escaped, as
// protocol.Key returns it: "github.com/!azure/x/@v/v1.0.0.info". The caller
// must close the body. Any other outcome is an error: an [*Error] for an
// answer, or a wrapped transport error. Reading the body of an HTTP answer
// fails with an error of kind fault.Timeout once it sends nothing for the
// stall timeout.
//
// A path under a private module goes to the direct Fetcher alone. A
// proxy's "not found" for $module/@latest is answered from that proxy's
// list, as the go command does (see [LatestFromList]).
func (c *Client) Get(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	var (
		body io.ReadCloser
		size int64
	)
	_, err := c.try(ctx, path, func(b io.ReadCloser, n int64) error {
		body, size = b, n
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return body, size, nil
}

// try goes down the upstream list for path with the GOPROXY rules and calls
// use with the body of each 200 answer and its size (-1 if unknown); use
// must close the body. An error of use counts as that entry's error: after
// "|", try goes on to the next entry unless use's error is a [localError]
// (or ctx ended); after ",", it stops, since a body that fails is no "not
// found". try returns nil once use succeeds, with the entry that answered
// (see [Client.GetBytesFrom]), else the last error.
func (c *Client) try(ctx context.Context, path string, use func(body io.ReadCloser, size int64) error) (from string, err error) {
	if c.private != "" && !strings.HasPrefix(path, "sumdb/") {
		req, err := protocol.Parse(path)
		if err != nil {
			// Not sent anywhere: a path that is no module proxy path
			// cannot be checked against the private patterns.
			return "", &Error{Text: fmt.Sprintf("not a module proxy path: %v", err)}
		}
		if module.MatchPrefixPatterns(c.private, req.Module) {
			body, size, err := c.fetchDirect(ctx, path)
			if err != nil {
				return "", err
			}
			return FromDirect, unwrapLocal(use(body, size))
		}
	}
	lastErr := error(&Error{Text: "not in the store, and there is no upstream to fetch it from"})
	for _, p := range c.proxies {
		if p.Off {
			return "", &Error{Text: "not in the store, and the upstream list ends with off"}
		}
		var (
			body io.ReadCloser
			size int64
			err  error
		)
		target := p.URL + "/" + escapePath(path)
		if p.Direct {
			name, rest, ok := strings.Cut(strings.TrimPrefix(path, "sumdb/"), "/")
			if !ok || !strings.HasPrefix(path, "sumdb/") {
				target = ""
			} else if base := c.sumdbURLs[name]; base != "" {
				target = strings.TrimSuffix(base, "/") + "/" + escapePath(rest)
			} else {
				target = "https://" + name + "/" + escapePath(rest)
			}
		}
		if target == "" {
			body, size, err = c.fetchDirect(ctx, path)
		} else {
			start := time.Now()
			var resp *http.Response
			if resp, err = c.get(ctx, target); err == nil {
				body, size = resp.Body, resp.ContentLength
			}
			c.report(pathTarget(path), start, err)
			if errors.Is(err, fs.ErrNotExist) {
				body, size, err = c.latestFromList(ctx, p.URL, path, err)
			}
		}
		if err == nil {
			if err = use(body, size); err == nil {
				if target == "" {
					return FromDirect, nil
				}
				return redact.URL(p.URL), nil
			}
			var local localError
			if errors.As(err, &local) {
				return "", local.err
			}
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if !p.FallThroughOnAnyError && !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return "", lastErr
}

func (c *Client) fetchDirect(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	if c.direct == nil {
		return nil, 0, &Error{Text: "not in the store, and fetching from version control is not configured"}
	}
	start := time.Now()
	body, size, err := c.direct.Fetch(ctx, path)
	c.report(TargetDirect, start, err)
	return body, size, err
}

// pathTarget returns the target of an HTTP request for path.
func pathTarget(path string) Target {
	if strings.HasPrefix(path, "sumdb/") {
		return TargetSumDB
	}
	return TargetProxy
}

// report passes a finished upstream request to the Observe option.
func (c *Client) report(target Target, start time.Time, err error) {
	if c.observe != nil {
		c.observe(target, time.Since(start), err)
	}
}

// get requests rawURL. The body of the answer, for every status, is
// watched for stalls (an error body too can hang); closing it releases the
// request's context.
func (c *Client) get(parent context.Context, rawURL string) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(parent)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("upstream request %s: %w", rawURL, err)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel(nil)
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact.URL(ue.URL) // user names can be tokens too
		}
		if parent.Err() != nil {
			// Our own deadline or cancellation, not the upstream's fault:
			// its kind is fault.Timeout or fault.Canceled.
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	resp.Body = watchBody(resp.Body, redact.URL(req.URL.String()), c.stall, cancel)
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorText))
	return nil, &Error{URL: redact.URL(req.URL.String()), Status: resp.StatusCode, Text: errorText(body)}
}

// escapePath escapes s for a URL path: every byte outside RFC 3986's pchar
// set (unreserved, sub-delims, ":" and "@") and "/" becomes %XX, so that a
// "%", "#" or space in a version query reaches the upstream as itself and
// cannot change which URL is requested. "+" stays literal, as the go command
// sends it, and so does "!", as in the go command's checksum-database paths.
func escapePath(s string) string {
	const safe = "-._~!$&'()*+,;=:@/"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// errorText keeps the first paragraph of an error body, as the go command
// shows it, on one line.
func errorText(body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// UpstreamStatus returns the status the upstream answered (0 for none).
func (e *Error) UpstreamStatus() int { return e.Status }

// UpstreamText returns the text the upstream sent for its user.
func (e *Error) UpstreamText() string { return e.Text }
