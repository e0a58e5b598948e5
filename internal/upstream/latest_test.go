package upstream

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLatestFromListPicksAsTheGoCommandDoes runs LatestFromList on list
// bodies in the format real proxies send (one version a line, an optional
// RFC 3339 time after it) and expects the go command's choice.
func TestLatestFromListPicksAsTheGoCommandDoes(t *testing.T) {
	tests := []struct {
		name, list, want string // want "" means no version qualifies
	}{
		{"untagged, as served (no times)",
			"v0.0.0-20180321215751-8460e604b9de\nv0.0.0-20261109185158-a52e3aef5920\nv0.0.0-20261113113407-e3970619a1a4\n",
			"v0.0.0-20261113113407-e3970619a1a4"},
		{"untagged, unsorted, without final newline",
			"v0.0.0-20240101000000-aaaaaaaaaaaa\nv0.0.0-20240301000000-cccccccccccc\nv0.0.0-20240201000000-bbbbbbbbbbbb",
			"v0.0.0-20240301000000-cccccccccccc"},
		{"tags without times never win",
			"v0.0.0-20160726164857-2910a502d2bf\nv0.3.0\nv0.3.1-0.20180807135948-17ff2d5776d2\nv0.9.0\n",
			"v0.3.1-0.20180807135948-17ff2d5776d2"},
		{"the newest time wins, not the highest version",
			"v0.1.1-0.20240201000000-bbbbbbbbbbbb\nv0.0.0-20240301000000-cccccccccccc\n",
			"v0.0.0-20240301000000-cccccccccccc"},
		{"only tags without times", "v1.0.0\nv1.1.0\nv2.0.0+incompatible\n", ""},
		{"empty list", "", ""},
		{"blank lines and junk", "\n  \nlatest\nmain 2024-01-01T00:00:00Z\nv1\n", ""},
		{"times make tags count",
			"v1.0.0 2024-03-01T00:00:00Z\nv1.1.0 2024-02-01T00:00:00Z\n",
			"v1.0.0"},
		{"a line's time overrides the pseudo-version's",
			"v0.0.0-20240301000000-cccccccccccc 2024-01-01T00:00:00Z\nv1.0.0 2024-02-01T00:00:00Z\n",
			"v1.0.0"},
		{"a time that does not parse never wins",
			"v0.0.0-20240301000000-cccccccccccc yesterday\nv0.0.0-20240101000000-aaaaaaaaaaaa\n",
			"v0.0.0-20240101000000-aaaaaaaaaaaa"},
		{"of equal times the first line wins",
			"v1.0.1 2024-01-01T00:00:00Z\nv1.0.2 2024-01-01T00:00:00Z\n",
			"v1.0.1"},
		{"spaces, tabs and CRLF are field separators",
			"  v1.0.0\t2024-01-01T00:00:00Z extra\r\nv0.0.0-20230101000000-aaaaaaaaaaaa\r\n",
			"v1.0.0"},
		{"times with zones compare as instants",
			"v1.0.0 2024-01-01T12:00:00+02:00\nv1.0.1 2024-01-01T11:00:00Z\n",
			"v1.0.1"},
	}
	for _, tt := range tests {
		got, ok := LatestFromList([]byte(tt.list))
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: LatestFromList = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}

// listProxy is a fake upstream that behaves like the real one for a module
// without an @latest answer: @latest is 404, @v/list is list, and each
// version in infos has a .info. Other paths are 404. It records the paths
// it was asked for.
type listProxy struct {
	URL          string
	latestStatus int // 0 means 404
	list         string
	listStatus   int               // 0 means 200
	infos        map[string]string // version → .info body

	mu    sync.Mutex
	paths []string
}

func newListProxy(t *testing.T, p *listProxy) *listProxy {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
		switch rest, _ := strings.CutPrefix(r.URL.Path, "/example.com/m/"); {
		case rest == "@latest":
			status := p.latestStatus
			if status == 0 {
				status = http.StatusNotFound
			}
			http.Error(w, "not found: no @latest here", status)
		case rest == "@v/list" && p.listStatus != 0:
			http.Error(w, "list failed", p.listStatus)
		case rest == "@v/list":
			io.WriteString(w, p.list)
		case strings.HasPrefix(rest, "@v/") && strings.HasSuffix(rest, ".info") && p.infos[rest[3:len(rest)-5]] != "":
			io.WriteString(w, p.infos[rest[3:len(rest)-5]])
		default:
			http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *listProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.paths)
}

const (
	oldPseudo = "v0.0.0-20240101000000-aaaaaaaaaaaa"
	newPseudo = "v0.0.0-20240301000000-cccccccccccc"
	// newInfo is newPseudo's .info as a real upstream serves it: its Time
	// seconds apart from the pseudo-version's, and more fields.
	newInfo = `{"Version": "v0.0.0-20240301000000-cccccccccccc", "Time": "2024-03-01T00:00:07Z", "Origin": {"VCS": "git", "URL": "https://example.com/m", "Hash": "cccccccccccc"}}`
)

// untaggedProxy returns a listProxy for an untagged module with two
// pseudo-versions, the newer listed first.
func untaggedProxy(t *testing.T) *listProxy { return untaggedProxyWith(t, 0) }

// untaggedProxyWith is untaggedProxy with @latest answering latestStatus.
func untaggedProxyWith(t *testing.T, latestStatus int) *listProxy {
	return newListProxy(t, &listProxy{
		latestStatus: latestStatus,
		list:         newPseudo + "\n" + oldPseudo + "\n",
		infos: map[string]string{
			newPseudo: newInfo,
			oldPseudo: `{"Version":"` + oldPseudo + `","Time":"2024-01-01T00:00:00Z"}`,
		},
	})
}

func TestLatestNotFoundIsAnsweredFromTheList(t *testing.T) {
	p := untaggedProxy(t)
	proxies, _, _ := ParseList(p.URL)
	var mu sync.Mutex
	var observed []error
	c := New(proxies, Options{Observe: func(target Target, _ time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if target != TargetProxy {
			t.Errorf("observed target %q, want %q", target, TargetProxy)
		}
		observed = append(observed, err)
	}})
	body, err := c.GetBytes(context.Background(), "example.com/m/@latest", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != newInfo {
		t.Errorf("@latest = %s, want the newest pseudo-version's .info as served:\n%s", body, newInfo)
	}
	want := []string{"/example.com/m/@latest", "/example.com/m/@v/list", "/example.com/m/@v/" + newPseudo + ".info"}
	if got := p.requests(); !slices.Equal(got, want) {
		t.Errorf("upstream got %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed) != 3 || !errors.Is(observed[0], fs.ErrNotExist) || observed[1] != nil || observed[2] != nil {
		t.Errorf("Observe saw %v, want the 404 of @latest and two successes", observed)
	}
}

func TestLatestFromListOnlyForNotFound(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusInternalServerError} {
		p := untaggedProxyWith(t, status)
		_, err := get(t, p.URL, "example.com/m/@latest")
		var ue *Error
		if !errors.As(err, &ue) || ue.Status != status {
			t.Errorf("@latest %d: error %v, want that answer", status, err)
		}
		if got := p.requests(); len(got) != 1 {
			t.Errorf("@latest %d: upstream got %q, want only the @latest request", status, got)
		}
	}
	// Other paths that are not found are just not found.
	p := untaggedProxy(t)
	if _, err := get(t, p.URL, "example.com/m/@v/v9.9.9.info"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".info: error %v, want not found", err)
	}
	if got := p.requests(); len(got) != 1 {
		t.Errorf(".info: upstream got %q, want one request", got)
	}
}

func TestLatestWithNothingInTheListIsTheLatestNotFound(t *testing.T) {
	p := newListProxy(t, &listProxy{list: "v1.0.0\nv1.1.0\n"})
	_, err := get(t, p.URL, "example.com/m/@latest")
	var ue *Error
	if !errors.As(err, &ue) || ue.Status != http.StatusNotFound || !strings.HasSuffix(ue.URL, "/example.com/m/@latest") {
		t.Errorf("error %v, want the @latest 404", err)
	}
	if got := p.requests(); len(got) != 2 {
		t.Errorf("upstream got %q, want @latest and the list", got)
	}
}

// TestLatestFromListOfEachEntry: each entry of the list is asked as the go
// command asks it, @latest and then its own list, before the next.
func TestLatestFromListOfEachEntry(t *testing.T) {
	// The first entry's list decides, even if the next has a newer version.
	first := newListProxy(t, &listProxy{list: oldPseudo + "\n", infos: map[string]string{oldPseudo: `{"Version":"` + oldPseudo + `"}`}})
	second := untaggedProxy(t)
	body, err := get(t, first.URL+","+second.URL, "example.com/m/@latest")
	if err != nil || !strings.Contains(body, oldPseudo) {
		t.Errorf("Get = %s, %v; want the first entry's pseudo-version", body, err)
	}
	if n := len(second.requests()); n != 0 {
		t.Errorf("second entry got %d requests", n)
	}

	// An entry whose list has no candidate, or no list, or no .info for
	// its candidate, falls through.
	for _, p := range []*listProxy{
		{list: "v1.0.0\n"},
		{listStatus: http.StatusNotFound},
		{listStatus: http.StatusGone},
		{list: newPseudo + "\n"},
	} {
		first := newListProxy(t, p)
		second := untaggedProxy(t)
		body, err := get(t, first.URL+","+second.URL, "example.com/m/@latest")
		if err != nil || body != newInfo {
			t.Errorf("first entry %+v: Get = %s, %v; want the second entry's answer", p, body, err)
		}
	}
}

func TestLatestFromListFailuresStopAtComma(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first *listProxy
		want  func(error) bool
	}{
		{"list 500", &listProxy{listStatus: http.StatusInternalServerError}, func(err error) bool {
			var ue *Error
			return errors.As(err, &ue) && ue.Status == http.StatusInternalServerError && strings.HasSuffix(ue.URL, "/@v/list")
		}},
		{".info of another version", &listProxy{list: newPseudo + "\n", infos: map[string]string{newPseudo: `{"Version":"` + oldPseudo + `"}`}}, func(err error) bool {
			return errors.Is(err, ErrBadResponse) && strings.Contains(err.Error(), "instead of requested version")
		}},
		{".info not JSON", &listProxy{list: newPseudo + "\n", infos: map[string]string{newPseudo: `<html>`}}, func(err error) bool {
			return errors.Is(err, ErrBadResponse)
		}},
	} {
		first := newListProxy(t, tt.first)
		second := untaggedProxy(t)
		if body, err := get(t, first.URL+","+second.URL, "example.com/m/@latest"); !tt.want(err) {
			t.Errorf("%s, comma: Get = %s, %v; want the first entry's failure", tt.name, body, err)
		}
		if n := len(second.requests()); n != 0 {
			t.Errorf("%s, comma: second entry got %d requests", tt.name, n)
		}
		if body, err := get(t, first.URL+"|"+second.URL, "example.com/m/@latest"); err != nil || body != newInfo {
			t.Errorf("%s, pipe: Get = %s, %v; want the second entry's answer", tt.name, body, err)
		}
	}
}

func TestLatestFromListKeepsItsLimits(t *testing.T) {
	p := newListProxy(t, &listProxy{list: newPseudo + "\n", infos: map[string]string{newPseudo: strings.Repeat(" ", maxInfoSize+1) + newInfo}})
	if _, err := get(t, p.URL, "example.com/m/@latest"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("oversized .info: error %v, want ErrBadResponse", err)
	}
}
