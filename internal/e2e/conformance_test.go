package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
)

// These tests check items of the protocol conformance list that are about
// how the real go command behaves against modvault, not just what modvault
// answers.

// TestGoCommandPrintsModvaultsReason: a 404's text/plain body reaches the
// user as "server response:".
func TestGoCommandPrintsModvaultsReason(t *testing.T) {
	up := proxytest.New(t, modules()...)
	mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	out, err := g.Run("mod", "download", "example.com/b@v1.9.9")
	if err == nil {
		t.Fatalf("go mod download of a version that does not exist succeeded:\n%s", out)
	}
	if !strings.Contains(out, "server response: not found:") || !strings.Contains(out, "unknown revision v1.9.9") {
		t.Errorf("the go command did not show modvault's reason with the upstream's text:\n%s", out)
	}
}

// TestGoCommandFallsThroughOnNotFound: with GOPROXY=modvault,other a
// module modvault cannot find is fetched from the next proxy.
func TestGoCommandFallsThroughOnNotFound(t *testing.T) {
	up := proxytest.New(t, modules()...)
	other := proxytest.New(t, proxytest.Module{Path: "example.com/elsewhere", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/elsewhere\n", "e.go": "package elsewhere\n",
	}})
	mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
	g := proxytest.NewGo(t, mv+","+other.URL, "off")
	g.Must("mod", "download", "example.com/elsewhere@v1.0.0")
	if other.Requests("/example.com/elsewhere/@v/v1.0.0.zip") != 1 {
		t.Error("the zip did not come from the next proxy")
	}
}

// TestGoCommandSkipsRetractedLatest: retractions are the go command's
// business; modvault lists retracted versions and serves the .mod that
// retracts them, so "latest" skips them and -retracted shows them.
func TestGoCommandSkipsRetractedLatest(t *testing.T) {
	const mod = "example.com/r"
	up := proxytest.New(t,
		proxytest.Module{Path: mod, Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/r\n", "r.go": "package r\n"}},
		proxytest.Module{Path: mod, Version: "v1.1.0", Files: map[string]string{"go.mod": "module example.com/r\n\nretract v1.1.0 // published by mistake\n", "r.go": "package r\n"}},
	)
	mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	if out := g.Must("list", "-m", mod+"@latest"); strings.TrimSpace(out) != mod+" v1.0.0" {
		t.Errorf("go list -m %s@latest = %q, want v1.0.0 (v1.1.0 is retracted)", mod, out)
	}
	out := g.Must("list", "-m", "-retracted", "-versions", mod)
	if strings.TrimSpace(out) != mod+" v1.0.0 v1.1.0" {
		t.Errorf("go list -m -retracted -versions = %q, want both versions", out)
	}
	out = g.Must("list", "-m", "-retracted", "-f", "{{.Retracted}}", mod+"@v1.1.0")
	if !strings.Contains(out, "published by mistake") {
		t.Errorf("go list -m -retracted does not show the rationale: %q", out)
	}
}

// TestGoCommandLatestOfUntaggedModule: a module with no tags has an empty
// list, and its latest version is its newest pseudo-version, as in direct
// mode.
func TestGoCommandLatestOfUntaggedModule(t *testing.T) {
	const mod = "example.com/untagged"
	const pseudo = "v0.0.0-20240102030405-abcdefabcdef"
	up := proxytest.New(t, proxytest.Module{Path: mod, Version: pseudo, Files: map[string]string{
		"go.mod": "module example.com/untagged\n", "u.go": "package untagged\n",
	}})
	mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	if out := g.Must("list", "-m", "-versions", mod); strings.TrimSpace(out) != mod {
		t.Errorf("go list -m -versions = %q, want no versions", out)
	}
	if out := g.Must("list", "-m", mod+"@latest"); strings.TrimSpace(out) != mod+" "+pseudo {
		t.Errorf("go list -m %s@latest = %q, want the pseudo-version", mod, out)
	}
	g.Must("mod", "download", mod+"@"+pseudo)
}

// TestUpstreamRedirectsAreFollowed: an upstream that answers with a 302 to
// another host (as large mirrors do for zips, pointing at a CDN) works.
func TestUpstreamRedirectsAreFollowed(t *testing.T) {
	up := proxytest.New(t, modules()...)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, up.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(cdn.Close)
	mv := startModvault(t, cdn.URL, up.GOSUMDB(), "mem://")
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	out := g.Must("mod", "download", "-json", "example.com/a@v1.0.0")
	if !strings.Contains(out, `"Sum": "`+up.ZipHash("example.com/a", "v1.0.0")+`"`) {
		t.Errorf("go mod download through a redirecting upstream:\n%s", out)
	}
}

// TestGoCommandStopsOnRefusalAsWithoutModvault: an upstream's 403 ("not
// available") stops the go command's GOPROXY list, through modvault as
// straight from the upstream; a 404 lets it fall through, both ways.
func TestGoCommandStopsOnRefusalAsWithoutModvault(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound} {
		up := proxytest.New(t, modules()...)
		up.SetFail(func(r *http.Request) (int, bool) {
			return status, strings.HasPrefix(r.URL.Path, "/example.com/elsewhere/")
		})
		other := proxytest.New(t, proxytest.Module{Path: "example.com/elsewhere", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/elsewhere\n", "e.go": "package elsewhere\n",
		}})
		mv := startModvault(t, up.URL, up.GOSUMDB(), "mem://")
		straight, straightErr := proxytest.NewGo(t, up.URL+","+other.URL, "off").Run("mod", "download", "example.com/elsewhere@v1.0.0")
		through, throughErr := proxytest.NewGo(t, mv+","+other.URL, "off").Run("mod", "download", "example.com/elsewhere@v1.0.0")
		if (straightErr == nil) != (throughErr == nil) {
			t.Errorf("upstream %d: straight from the upstream: err=%v\n%s\nthrough modvault: err=%v\n%s", status, straightErr, straight, throughErr, through)
		}
		if wantFail := status == http.StatusForbidden; (throughErr != nil) != wantFail {
			t.Errorf("upstream %d: through modvault err=%v, want failure %v:\n%s", status, throughErr, wantFail, through)
		}
		if status == http.StatusForbidden && !strings.Contains(through, "injected failure 403") {
			t.Errorf("upstream 403: the go command did not show the upstream's reason:\n%s", through)
		}
	}
}
