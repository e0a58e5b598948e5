package upstream

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func TestParseListFollowsGOPROXYSyntax(t *testing.T) {
	tests := []struct {
		list     string
		want     []Proxy
		warnings int
	}{
		{"", nil, 0},
		{" , | ", nil, 0},
		{"http://a.test", []Proxy{{URL: "http://a.test"}}, 0},
		{"https://a.test/", []Proxy{{URL: "https://a.test"}}, 0},
		{"https://a.test/base/", []Proxy{{URL: "https://a.test/base"}}, 0},
		{"http://a.test,https://b.test", []Proxy{{URL: "http://a.test"}, {URL: "https://b.test"}}, 0},
		{"http://a.test|https://b.test", []Proxy{{URL: "http://a.test", FallThroughOnAnyError: true}, {URL: "https://b.test"}}, 0},
		{" http://a.test , http://b.test | http://c.test ", []Proxy{
			{URL: "http://a.test"},
			{URL: "http://b.test", FallThroughOnAnyError: true},
			{URL: "http://c.test"},
		}, 0},
		{"http://a.test,,http://b.test", []Proxy{{URL: "http://a.test"}, {URL: "http://b.test"}}, 0},
		// Like the go command, an entry without a scheme is https.
		{"proxy.example.test", []Proxy{{URL: "https://proxy.example.test"}}, 0},
		{"proxy.example.test/base|localhost:3000", []Proxy{
			{URL: "https://proxy.example.test/base", FallThroughOnAnyError: true},
			{URL: "https://localhost:3000"},
		}, 0},
		// off ends the list.
		{"off", []Proxy{{Off: true}}, 0},
		{"http://a.test,off,http://b.test", []Proxy{{URL: "http://a.test"}, {Off: true}}, 0},
		// direct ends the list, as for the go command, with a warning if
		// entries follow it.
		{"direct", []Proxy{{Direct: true}}, 0},
		{"http://a.test,direct", []Proxy{{URL: "http://a.test"}, {Direct: true}}, 0},
		{"http://a.test|direct,http://b.test", []Proxy{{URL: "http://a.test", FallThroughOnAnyError: true}, {Direct: true}}, 1},
	}
	for _, tt := range tests {
		got, warnings, err := ParseList(tt.list)
		if err != nil {
			t.Errorf("ParseList(%q): %v", tt.list, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseList(%q) = %+v, want %+v", tt.list, got, tt.want)
		}
		if len(warnings) != tt.warnings {
			t.Errorf("ParseList(%q) warnings = %q, want %d", tt.list, warnings, tt.warnings)
		}
		for _, w := range warnings {
			if !strings.Contains(w, "direct") {
				t.Errorf("ParseList(%q) warning %q does not say what was skipped", tt.list, w)
			}
		}
	}
}

func TestParseListRejectsWhatIsNotAProxyURL(t *testing.T) {
	for _, list := range []string{
		"noproxy",
		"ftp://a.test",
		"file:///srv/goproxy",
		"/srv/goproxy",
		"http://",
		"http://a.test/?x=1",
		"http://a.test/#frag",
		"http://a.test,bogus",
		"http://[::1",
	} {
		if got, _, err := ParseList(list); err == nil {
			t.Errorf("ParseList(%q) = %+v, want an error", list, got)
		}
	}
}

// fakeProxy is an upstream that answers every request with a fixed status
// and body, and records the request URIs it got.
type fakeProxy struct {
	URL    string
	status int
	body   string

	mu   sync.Mutex
	uris []string
	uas  []string
}

func newFakeProxy(t *testing.T, status int, body string) *fakeProxy {
	t.Helper()
	p := &fakeProxy{status: status, body: body}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.uris = append(p.uris, r.RequestURI)
		p.uas = append(p.uas, r.UserAgent())
		p.mu.Unlock()
		w.WriteHeader(p.status)
		io.WriteString(w, p.body)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *fakeProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.uris...)
}

// deadURL returns the URL of a server that is no longer listening.
func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func get(t *testing.T, list, path string) (string, error) {
	t.Helper()
	proxies, _, err := ParseList(list)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := New(proxies, Options{}).Get(context.Background(), path)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// TestGetFallsThroughLikeTheGoCommand checks the GOPROXY list rules: after
// ",", only 404 and 410 move on to the next proxy; after "|", any error does.
func TestGetFallsThroughLikeTheGoCommand(t *testing.T) {
	const path = "example.com/m/@v/v1.0.0.info"
	tests := []struct {
		name     string
		status   int // of the first proxy; 0 means unreachable
		sep      string
		fallback bool // whether the second proxy answers
	}{
		{"404 comma", http.StatusNotFound, ",", true},
		{"410 comma", http.StatusGone, ",", true},
		{"400 comma", http.StatusBadRequest, ",", false},
		{"403 comma", http.StatusForbidden, ",", false},
		{"500 comma", http.StatusInternalServerError, ",", false},
		{"503 comma", http.StatusServiceUnavailable, ",", false},
		{"unreachable comma", 0, ",", false},
		{"404 pipe", http.StatusNotFound, "|", true},
		{"403 pipe", http.StatusForbidden, "|", true},
		{"500 pipe", http.StatusInternalServerError, "|", true},
		{"unreachable pipe", 0, "|", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := deadURL(t)
			var fp *fakeProxy
			if tt.status != 0 {
				fp = newFakeProxy(t, tt.status, "first says no")
				first = fp.URL
			}
			second := newFakeProxy(t, http.StatusOK, "second")
			body, err := get(t, first+tt.sep+second.URL, path)
			if tt.fallback {
				if err != nil || body != "second" {
					t.Fatalf("Get = %q, %v; want the second proxy's answer", body, err)
				}
			} else {
				if err == nil {
					t.Fatalf("Get = %q, want the first proxy's error", body)
				}
				if n := len(second.requests()); n != 0 {
					t.Errorf("second proxy got %d requests, want none", n)
				}
				var ue *Error
				if tt.status == 0 {
					if !errors.Is(err, ErrUnreachable) || errors.As(err, &ue) {
						t.Errorf("error %v: want ErrUnreachable", err)
					}
				} else if !errors.As(err, &ue) || ue.Status != tt.status || ue.Text != "first says no" {
					t.Errorf("error %#v: want an *Error with status %d and the upstream's text", err, tt.status)
				}
			}
			if fp != nil {
				if got := fp.requests(); len(got) != 1 || got[0] != "/"+path {
					t.Errorf("first proxy got %q, want one request for /%s", got, path)
				}
			}
		})
	}
}

func TestGetReturnsLastErrorWhenAllProxiesLackIt(t *testing.T) {
	a := newFakeProxy(t, http.StatusNotFound, "a: not found")
	b := newFakeProxy(t, http.StatusGone, "b: gone")
	_, err := get(t, a.URL+","+b.URL, "example.com/m/@v/list")
	var ue *Error
	if !errors.As(err, &ue) || ue.Status != http.StatusGone || ue.Text != "b: gone" || !strings.HasPrefix(ue.URL, b.URL+"/") {
		t.Fatalf("error %#v: want the last proxy's 410", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
}

func TestGetWithOffOrNoUpstreamIsNotFound(t *testing.T) {
	a := newFakeProxy(t, http.StatusNotFound, "")
	for _, list := range []string{"", "off", a.URL + ",off", a.URL + "|off"} {
		_, err := get(t, list, "example.com/m/@v/list")
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("GOPROXY=%q: error %v, want one matching fs.ErrNotExist", list, err)
		}
	}
	// The zero Client has no upstream either.
	var c Client
	if _, _, err := c.Get(context.Background(), "example.com/m/@v/list"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("zero Client: error %v, want one matching fs.ErrNotExist", err)
	}
}

// TestOnlyUnavailableIsNotExist checks that only 404, 410 and "off" mean
// "not found"; anything else is a failure that must not be taken for an
// absent module.
func TestOnlyUnavailableIsNotExist(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&Error{URL: "u", Status: http.StatusNotFound}, true},
		{&Error{URL: "u", Status: http.StatusGone}, true},
		{&Error{Text: "off"}, true},
		{&Error{URL: "u", Status: http.StatusBadRequest}, false},
		{&Error{URL: "u", Status: http.StatusUnauthorized}, false},
		{&Error{URL: "u", Status: http.StatusForbidden}, false},
		{&Error{URL: "u", Status: http.StatusInternalServerError}, false},
		{&Error{URL: "u", Status: http.StatusBadGateway}, false},
		{&Error{URL: "u", Status: http.StatusPartialContent}, false},
	}
	for _, tt := range tests {
		if got := errors.Is(tt.err, fs.ErrNotExist); got != tt.want {
			t.Errorf("errors.Is(%#v, fs.ErrNotExist) = %v, want %v", tt.err, got, tt.want)
		}
	}
	_, err := get(t, deadURL(t), "example.com/m/@v/list")
	if err == nil || errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrUnreachable) {
		t.Errorf("unreachable upstream: error %v, want ErrUnreachable and not fs.ErrNotExist", err)
	}
}

// TestGetTreatsOnlyExactly200AsSuccess checks that a 204 or 206 is not
// taken for a whole answer.
func TestGetTreatsOnlyExactly200AsSuccess(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusPartialContent} {
		p := newFakeProxy(t, status, "")
		if body, err := get(t, p.URL, "example.com/m/@v/v1.0.0.zip"); err == nil {
			t.Errorf("upstream status %d: Get = %q, want an error", status, body)
		}
	}
}

func TestGetSendsPathsAsTheyAre(t *testing.T) {
	p := newFakeProxy(t, http.StatusOK, "ok")
	tests := []struct {
		path    string
		wantURI string
	}{
		{"github.com/!azure/x/@v/v1.0.0-!r!c1.info", "/base/github.com/!azure/x/@v/v1.0.0-!r!c1.info"},
		{"example.com/old/@v/v2.0.0+incompatible.mod", "/base/example.com/old/@v/v2.0.0+incompatible.mod"},
		{"sumdb/sum.test/lookup/github.com/!azure/x@v1.0.0", "/base/sumdb/sum.test/lookup/github.com/!azure/x@v1.0.0"},
		// Characters with a meaning in URLs stay part of the path: a
		// version query cannot become a fragment or a traversal.
		{"example.com/m/@v/a#b.info", "/base/example.com/m/@v/a%23b.info"},
		{"example.com/m/@v/%2e%2e%2f%2e%2e%2fadmin.info", "/base/example.com/m/@v/%252e%252e%252f%252e%252e%252fadmin.info"},
		{"example.com/m/@v/feature x.info", "/base/example.com/m/@v/feature%20x.info"},
	}
	for _, tt := range tests {
		before := len(p.requests())
		if _, err := get(t, p.URL+"/base/", tt.path); err != nil {
			t.Fatalf("Get(%q): %v", tt.path, err)
		}
		got := p.requests()[before:]
		if len(got) != 1 || got[0] != tt.wantURI {
			t.Errorf("Get(%q) requested %q, want %q", tt.path, got, tt.wantURI)
		}
	}
}

func TestGetSendsUserAgent(t *testing.T) {
	p := newFakeProxy(t, http.StatusOK, "")
	proxies, _, _ := ParseList(p.URL)
	body, _, err := New(proxies, Options{UserAgent: "modvault/test"}).Get(context.Background(), "example.com/m/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.uas) != 1 || p.uas[0] != "modvault/test" {
		t.Errorf("User-Agent %q, want modvault/test", p.uas)
	}
}

func TestGetStopsWhenTheCallerIsGone(t *testing.T) {
	first := newFakeProxy(t, http.StatusOK, "first")
	second := newFakeProxy(t, http.StatusOK, "second")
	proxies, _, _ := ParseList(first.URL + "|" + second.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := New(proxies, Options{}).Get(ctx, "example.com/m/@v/list"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if n := len(second.requests()); n != 0 {
		t.Errorf("second proxy got %d requests after the caller left", n)
	}
}

// TestErrorTextIsWhatTheGoCommandShows checks that the text kept from an
// upstream's error body is its first paragraph, on one line, and bounded.
func TestErrorTextIsWhatTheGoCommandShows(t *testing.T) {
	tests := []struct{ body, want string }{
		{"not found: example.com/m@v1.0.0: invalid version\n", "not found: example.com/m@v1.0.0: invalid version"},
		{"line one\nline two\n\nsecond paragraph\n", "line one line two"},
		{"  \t spaced \t out  ", "spaced out"},
		{"", ""},
	}
	for _, tt := range tests {
		p := newFakeProxy(t, http.StatusNotFound, tt.body)
		_, err := get(t, p.URL, "example.com/m/@v/list")
		var ue *Error
		if !errors.As(err, &ue) || ue.Text != tt.want {
			t.Errorf("body %q: error %#v, want Text %q", tt.body, err, tt.want)
		}
	}
	p := newFakeProxy(t, http.StatusForbidden, strings.Repeat("x", 5000))
	_, err := get(t, p.URL, "example.com/m/@v/list")
	var ue *Error
	if !errors.As(err, &ue) || len(ue.Text) > 400 || !strings.HasPrefix(ue.Text, "xxx") {
		t.Errorf("long body: Text of %d bytes, want a bounded prefix", len(ue.Text))
	}
}

func TestErrorsDoNotRevealUpstreamCredentials(t *testing.T) {
	p := newFakeProxy(t, http.StatusForbidden, "denied")
	base := strings.Replace(p.URL, "http://", "http://user:s3cret@", 1)
	_, err := get(t, base, "example.com/m/@v/list")
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v, want an *Error", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(ue.URL, "s3cret") {
		t.Errorf("error %q reveals the upstream password", err)
	}
}

func TestGetBytesEnforcesTheLimit(t *testing.T) {
	p := newFakeProxy(t, http.StatusOK, "0123456789")
	proxies, _, _ := ParseList(p.URL)
	c := New(proxies, Options{})
	b, err := c.GetBytes(context.Background(), "example.com/m/@v/list", 10)
	if err != nil || string(b) != "0123456789" {
		t.Errorf("GetBytes with limit 10 = %q, %v", b, err)
	}
	if b, err := c.GetBytes(context.Background(), "example.com/m/@v/list", 9); err == nil {
		t.Errorf("GetBytes with limit 9 = %q, want an error", b)
	}
	q := newFakeProxy(t, http.StatusNotFound, "gone")
	proxies, _, _ = ParseList(q.URL)
	if _, err := New(proxies, Options{}).GetBytes(context.Background(), "example.com/m/@v/list", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetBytes on 404: error %v, want fs.ErrNotExist", err)
	}
}

// recordingFetcher answers every path with "direct:<path>" and records it.
type recordingFetcher struct {
	mu    sync.Mutex
	paths []string
}

func (f *recordingFetcher) Fetch(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, path)
	body := "direct:" + path
	return io.NopCloser(strings.NewReader(body)), int64(len(body)), nil
}

func TestDirectEntryFetchesWithTheFetcher(t *testing.T) {
	missing := newFakeProxy(t, http.StatusNotFound, "not found")
	failing := newFakeProxy(t, http.StatusInternalServerError, "boom")
	const path = "example.com/m/@v/v1.0.0.info"
	for _, tt := range []struct {
		list, want string
	}{
		{"direct", "direct:" + path},
		{missing.URL + ",direct", "direct:" + path},
		{failing.URL + "|direct", "direct:" + path},
	} {
		proxies, _, err := ParseList(tt.list)
		if err != nil {
			t.Fatal(err)
		}
		f := &recordingFetcher{}
		b, err := New(proxies, Options{Direct: f}).GetBytes(context.Background(), path, 1<<10)
		if err != nil || string(b) != tt.want {
			t.Errorf("list %q: got %q, %v; want %q", tt.list, b, err, tt.want)
		}
	}
	// After ",", a failure other than not-found stops before direct.
	proxies, _, _ := ParseList(failing.URL + ",direct")
	f := &recordingFetcher{}
	if _, err := New(proxies, Options{Direct: f}).GetBytes(context.Background(), path, 1<<10); err == nil {
		t.Error("a 500 before \",direct\" fell through to direct")
	}
	if len(f.paths) != 0 {
		t.Errorf("direct fetched %q after a 500 and \",\"", f.paths)
	}
	// Without a Fetcher, direct is "not found".
	proxies, _, _ = ParseList("direct")
	_, err := New(proxies, Options{}).GetBytes(context.Background(), path, 1<<10)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("direct without a Fetcher: %v, want not found", err)
	}
}

// TestPrivateModulesNeverReachAProxy checks that a path under a private
// pattern goes to the direct Fetcher and to no proxy of the list, whatever
// the kind of request, and that other paths still go to the proxies.
func TestPrivateModulesNeverReachAProxy(t *testing.T) {
	proxy := newFakeProxy(t, http.StatusOK, "proxy")
	proxies, _, err := ParseList(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := &recordingFetcher{}
	c := New(proxies, Options{Direct: f, Private: "corp.example.test,*.internal.test/team"})
	private := []string{
		"corp.example.test/@v/list",
		"corp.example.test/repo/@v/list",
		"corp.example.test/repo/@latest",
		"corp.example.test/repo/@v/v1.0.0.info",
		"corp.example.test/repo/sub/v2/@v/v2.0.0.mod",
		"corp.example.test/repo/@v/main.info",
		"git.internal.test/team/x/@v/v1.0.0.zip",
		"corp.example.test/!big/@v/v1.0.0.zip",
	}
	for _, path := range private {
		b, err := c.GetBytes(context.Background(), path, 1<<10)
		if err != nil || string(b) != "direct:"+path {
			t.Errorf("%s: got %q, %v; want the direct answer", path, b, err)
		}
	}
	public := []string{
		"example.test/corp.example.test/@v/list",
		"corp.example.test.other/@v/list",
		"git.internal.test/other/@v/list",
		"sumdb/sum.example.test/lookup/corp.example.test/x@v1.0.0",
	}
	for _, path := range public {
		if b, err := c.GetBytes(context.Background(), path, 1<<10); err != nil || string(b) != "proxy" {
			t.Errorf("%s: got %q, %v; want the proxy's answer", path, b, err)
		}
	}
	var want []string
	for _, p := range public {
		want = append(want, "/"+p)
	}
	if got := proxy.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("the proxy got requests %q, want only the public paths %q", got, want)
	}
	// A path that is no module proxy path is sent nowhere when private
	// patterns are set: it cannot be checked against them.
	n := len(proxy.requests())
	if _, err := c.GetBytes(context.Background(), "corp.example.test/repo", 1<<10); err == nil {
		t.Error("a malformed path was answered")
	}
	if len(proxy.requests()) != n {
		t.Error("a malformed path reached the proxy")
	}
}

// TestDirectReachesChecksumDatabasesThemselves: for a "sumdb/$name/…" path,
// the direct entry asks the database at its own URL, as the go command does
// once the proxies do not serve it, and never the Fetcher.
func TestDirectReachesChecksumDatabasesThemselves(t *testing.T) {
	db := newFakeProxy(t, http.StatusOK, "signed tree")
	missing := newFakeProxy(t, http.StatusNotFound, "no sumdb here")
	proxies, _, err := ParseList(missing.URL + ",direct")
	if err != nil {
		t.Fatal(err)
	}
	f := &recordingFetcher{}
	c := New(proxies, Options{Direct: f, SumDBURLs: map[string]string{"sum.example.test": db.URL + "/base/"}})
	b, err := c.GetBytes(context.Background(), "sumdb/sum.example.test/lookup/example.com/m@v1.0.0", 1<<10)
	if err != nil || string(b) != "signed tree" {
		t.Fatalf("got %q, %v; want the database's answer", b, err)
	}
	if got, want := db.requests(), []string{"/base/lookup/example.com/m@v1.0.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the database got %q, want %q", got, want)
	}
	if got, want := missing.requests(), []string{"/sumdb/sum.example.test/lookup/example.com/m@v1.0.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the proxy got %q, want %q", got, want)
	}
	if len(f.paths) != 0 {
		t.Errorf("the Fetcher got %q", f.paths)
	}
}
