package live

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/upstream"
)

// TestLiveListMatchesUpstream: with an empty store, modvault's @v/list of
// a real module is the upstream's list (sorted, without pseudo-versions),
// and +incompatible versions stay listed.
func TestLiveListMatchesUpstream(t *testing.T) {
	proxies, _, err := upstream.ParseList(upstreamList)
	if err != nil || len(proxies) == 0 || proxies[0].URL == "" {
		t.Fatalf("no upstream proxy in GOPROXY: %v", err)
	}
	mv := startModvault(t, fileURL(t.TempDir()), upstreamList)
	for _, c := range []struct {
		mod          string
		incompatible bool // the list must hold +incompatible versions
	}{
		{"golang.org/x/text", false},
		{"github.com/google/uuid", false},
		{"github.com/coreos/etcd", true},
	} {
		want := listOf(t, proxies[0].URL, c.mod)
		got := listOf(t, mv.URL, c.mod)
		if len(want) == 0 {
			t.Errorf("%s: the upstream lists no versions", c.mod)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: modvault lists %d versions, the upstream %d:\nmodvault: %q\nupstream: %q", c.mod, len(got), len(want), got, want)
		}
		if c.incompatible && !slices.ContainsFunc(got, func(v string) bool { return strings.HasSuffix(v, "+incompatible") }) {
			t.Errorf("%s: no +incompatible version listed: %q", c.mod, got)
		}
	}
}

// listOf fetches base/mod/@v/list and returns its versions, sorted, without
// pseudo-versions.
func listOf(t *testing.T, base, mod string) []string {
	t.Helper()
	esc, err := module.EscapePath(mod)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/" + esc + "/@v/list")
	if err != nil {
		t.Fatal(redact(err.Error()))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s list: %s %v", mod, resp.Status, err)
	}
	var vers []string
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) > 0 && semver.IsValid(f[0]) && !module.IsPseudoVersion(f[0]) {
			vers = append(vers, f[0])
		}
	}
	semver.Sort(vers)
	return slices.Compact(vers)
}
