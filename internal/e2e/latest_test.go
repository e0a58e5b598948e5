package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/proxytest"
)

// listingUpstream is a fake upstream that answers like the real one for
// modules it has no @latest for: @latest is 404, and @v/list names every
// version, pseudo-versions too, and it proxies its checksum database.
// Everything else (.info, .mod, .zip, the database) is the proxytest
// upstream's.
type listingUpstream struct {
	*proxytest.Upstream
	URL  string
	srv  *httptest.Server
	list map[string]string // escaped module path → @v/list body
}

func newListingUpstream(t *testing.T, mods ...proxytest.Module) *listingUpstream {
	t.Helper()
	u := &listingUpstream{Upstream: proxytest.New(t, mods...), list: make(map[string]string)}
	for _, m := range mods {
		esc, _ := module.EscapePath(m.Path)
		u.list[esc] += m.Version + "\n"
	}
	target, err := url.Parse(u.Upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	rest := httputil.NewSingleHostReverseProxy(target)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p == "sumdb/"+u.SumDBName+"/supported" {
			return // a proxy of the checksum database, as the real one is
		}
		if strings.HasSuffix(p, "/@latest") {
			w.WriteHeader(http.StatusNotFound) // the real one sends no text
			return
		}
		if mod, ok := strings.CutSuffix(p, "/@v/list"); ok && u.list[mod] != "" {
			w.Write([]byte(u.list[mod]))
			return
		}
		rest.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	u.URL = u.srv.URL
	return u
}

// Close makes the upstream unreachable.
func (u *listingUpstream) Close() { u.srv.Close() }

// pseudoModule is a version of example.com/untagged whose package
// example.com/untagged/pkg names the version.
func pseudoModule(version string) proxytest.Module {
	t, err := module.PseudoVersionTime(version)
	if err != nil {
		panic(err)
	}
	return proxytest.Module{
		Path: "example.com/untagged", Version: version,
		// A real upstream's .info time is often seconds after the
		// pseudo-version's.
		Time: t.Add(7 * time.Second),
		Files: map[string]string{
			"go.mod":     "module example.com/untagged\n\ngo 1.22\n",
			"pkg/pkg.go": "package pkg\n\nconst V = \"" + version + "\"\n",
		},
	}
}

const (
	untaggedOld    = "v0.0.0-20240101000000-aaaaaaaaaaaa"
	untaggedNewest = "v0.0.0-20240301000000-cccccccccccc"
	untaggedMid    = "v0.0.0-20240201000000-bbbbbbbbbbbb"
)

const untaggedMain = `package main

import (
	"fmt"

	"example.com/untagged/pkg"
)

func main() { fmt.Println(pkg.V) }
`

// TestGoCommandGetsLatestOfUntaggedModuleFromUpstreamWithoutLatest: with
// an upstream that, like the real one, answers @latest with 404 and lists
// pseudo-versions, the go command through modvault finds the same latest
// version as straight from the upstream (the newest pseudo-version), for
// go list, go get and go mod tidy; a tagged module's pseudo-versions do not
// change its latest; and once the upstream is gone, the stored version
// stays the latest.
func TestGoCommandGetsLatestOfUntaggedModuleFromUpstreamWithoutLatest(t *testing.T) {
	const untagged, tagged = "example.com/untagged", "example.com/tagged"
	taggedMod := func(version string) proxytest.Module {
		return proxytest.Module{Path: tagged, Version: version, Files: map[string]string{"go.mod": "module example.com/tagged\n", "t.go": "package tagged\n"}}
	}
	up := newListingUpstream(t,
		pseudoModule(untaggedOld), pseudoModule(untaggedNewest), pseudoModule(untaggedMid),
		taggedMod("v1.0.0"), taggedMod("v1.1.0"), taggedMod("v1.1.1-0.20240401000000-dddddddddddd"),
	)
	dir, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)

	direct := proxytest.NewGo(t, up.URL, up.GOSUMDB())
	via := proxytest.NewGo(t, mv, up.GOSUMDB())
	for _, q := range []struct{ args, want string }{
		{"list -m -versions " + untagged, untagged},
		{"list -m " + untagged + "@latest", untagged + " " + untaggedNewest},
		{"list -m -versions " + tagged, tagged + " v1.0.0 v1.1.0"},
		{"list -m " + tagged + "@latest", tagged + " v1.1.0"},
	} {
		want := strings.TrimSpace(direct.Must(strings.Fields(q.args)...))
		if want != q.want {
			t.Fatalf("go %s straight from the fake upstream = %q, want %q: the fake does not behave like the real one", q.args, want, q.want)
		}
		if got := strings.TrimSpace(via.Must(strings.Fields(q.args)...)); got != want {
			t.Errorf("go %s through modvault = %q, straight from the upstream %q", q.args, got, want)
		}
	}

	via.Must("get", untagged+"@latest")
	if gomod := readFile(t, filepath.Join(via.Dir, "go.mod")); !strings.Contains(gomod, untagged+" "+untaggedNewest) {
		t.Errorf("go get %s@latest through modvault wrote:\n%s", untagged, gomod)
	}

	tidy := proxytest.NewGo(t, mv, up.GOSUMDB())
	tidy.WriteFile("main.go", untaggedMain)
	tidy.Must("mod", "tidy")
	if gomod := readFile(t, filepath.Join(tidy.Dir, "go.mod")); !strings.Contains(gomod, untagged+" "+untaggedNewest) {
		t.Errorf("go mod tidy through modvault wrote:\n%s", gomod)
	}
	if out := tidy.Must("run", "."); strings.TrimSpace(out) != untaggedNewest {
		t.Errorf("program built through modvault printed %q, want %q", out, untaggedNewest)
	}
	for _, v := range []string{untaggedOld, untaggedMid} {
		esc, _ := module.EscapeVersion(v)
		if _, err := os.Stat(filepath.Join(dir, untagged, "@v", esc+".info")); err == nil {
			t.Errorf("%s@%s was stored, though nothing asked for it", untagged, v)
		}
	}

	// The upstream goes away: the stored versions answer, and the newest
	// pseudo-version is the only one stored. (Resolving an import path
	// anew, as go mod tidy does in a fresh module, needs the upstream:
	// modvault cannot tell which path prefixes are no modules.)
	up.Close()
	off := proxytest.NewGo(t, mv, up.GOSUMDB())
	if out := strings.TrimSpace(off.Must("list", "-m", untagged+"@latest")); out != untagged+" "+untaggedNewest {
		t.Errorf("go list -m %s@latest with the upstream gone = %q", untagged, out)
	}
	off.Must("get", untagged+"@latest")
	if gomod := readFile(t, filepath.Join(off.Dir, "go.mod")); !strings.Contains(gomod, untagged+" "+untaggedNewest) {
		t.Errorf("go get %s@latest with the upstream gone wrote:\n%s", untagged, gomod)
	}
	off.WriteFile("main.go", untaggedMain)
	if out := off.Must("run", "."); strings.TrimSpace(out) != untaggedNewest {
		t.Errorf("program built with the upstream gone printed %q", out)
	}
}
