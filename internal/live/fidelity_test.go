package live

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/upstream"
)

// A fidelityKind is what makes a module worth checking: each kind is a way
// in which a proxy's answers can differ from the upstream's.
type fidelityKind string

const (
	tagged       fidelityKind = "tagged"       // releases; latest is the highest
	untagged     fidelityKind = "untagged"     // no tags: latest is the newest pseudo-version
	incompatible fidelityKind = "incompatible" // +incompatible versions listed
	majorSuffix  fidelityKind = "major"        // a /vN or gopkg.in .vN path
	uppercase    fidelityKind = "uppercase"    // a case-encoded path
	retracted    fidelityKind = "retracted"    // its latest go.mod retracts versions
	manyVersions fidelityKind = "many"         // a long list (about 100 or more)
)

// fidelityModules are real public modules, each of the kinds it shows.
// Each is served by the upstream, and their zips are small enough (a few
// MB at most) for the test to stay short.
var fidelityModules = []struct {
	path  string
	kinds []fidelityKind
}{
	{"golang.org/x/sync", []fidelityKind{tagged}}, // the list holds pseudo-versions too
	{"golang.org/x/mod", []fidelityKind{tagged}},
	{"github.com/google/uuid", []fidelityKind{tagged}},
	{"github.com/pkg/errors", []fidelityKind{tagged}},
	{"github.com/stretchr/testify", []fidelityKind{tagged}},
	{"github.com/spf13/pflag", []fidelityKind{tagged}},
	{"go.uber.org/atomic", []fidelityKind{tagged}},
	{"github.com/davecgh/go-spew", []fidelityKind{tagged}},
	{"github.com/pmezard/go-difflib", []fidelityKind{tagged}},
	{"github.com/sirupsen/logrus", []fidelityKind{tagged}},
	{"github.com/gorilla/mux", []fidelityKind{tagged}},
	{"github.com/google/go-cmp", []fidelityKind{tagged}},
	{"golang.org/x/exp", []fidelityKind{untagged}},
	{"golang.org/x/xerrors", []fidelityKind{untagged}},
	{"golang.org/x/telemetry", []fidelityKind{untagged}},
	{"github.com/golang/groupcache", []fidelityKind{untagged}},
	{"github.com/kballard/go-shellquote", []fidelityKind{untagged}},
	{"google.golang.org/genproto/googleapis/rpc", []fidelityKind{untagged}}, // ~200 pseudo-versions listed
	{"github.com/dgrijalva/jwt-go", []fidelityKind{incompatible}},
	{"github.com/Azure/go-autorest", []fidelityKind{incompatible, uppercase}},
	{"github.com/DataDog/datadog-go", []fidelityKind{incompatible, uppercase}},
	{"github.com/go-chi/chi/v5", []fidelityKind{majorSuffix}},
	{"github.com/cenkalti/backoff/v4", []fidelityKind{majorSuffix}},
	{"github.com/hashicorp/golang-lru/v2", []fidelityKind{majorSuffix}},
	{"gopkg.in/yaml.v3", []fidelityKind{majorSuffix}},
	{"github.com/redis/go-redis/v9", []fidelityKind{majorSuffix, retracted}},
	{"github.com/mattn/go-sqlite3", []fidelityKind{retracted}},
	{"github.com/BurntSushi/toml", []fidelityKind{uppercase}},
	{"github.com/Masterminds/semver/v3", []fidelityKind{uppercase, majorSuffix}},
	{"github.com/Microsoft/go-winio", []fidelityKind{uppercase}},
	{"github.com/PuerkitoBio/goquery", []fidelityKind{uppercase}},
	{"google.golang.org/grpc", []fidelityKind{manyVersions}},
	{"github.com/aws/aws-sdk-go-v2", []fidelityKind{manyVersions}},
	{"cloud.google.com/go", []fidelityKind{manyVersions}},
}

// fidelityParallel bounds how many modules are checked at once.
const fidelityParallel = 6

// fidelityTimeout bounds one go command of the fidelity test.
const fidelityTimeout = 5 * time.Minute

// TestLiveFidelity: for real modules of every kind, the go command through
// a fresh modvault and straight from the upstream give the same answers:
// the same "go list -m -versions" (and with -retracted), the same
// "go list -m M@latest" (version and time), and the same
// "go mod download -json M@latest" (version, Sum and GoModSum). Each side
// of each module has its own empty module cache.
func TestLiveFidelity(t *testing.T) {
	start := time.Now()
	mv := startModvault(t, fileURL(t.TempDir()), upstreamList)
	proxies, _, err := upstream.ParseList(upstreamList)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{mv.URL}
	for _, p := range proxies {
		if p.URL != "" {
			urls = append(urls, p.URL)
		}
	}
	covered := make(map[fidelityKind]int)
	for _, m := range fidelityModules {
		for _, k := range m.kinds {
			covered[k]++
		}
	}
	for _, k := range []fidelityKind{tagged, untagged, incompatible, majorSuffix, uppercase, retracted, manyVersions} {
		if covered[k] == 0 {
			t.Errorf("no module of kind %s", k)
		}
	}

	sem := make(chan struct{}, fidelityParallel)
	var wg sync.WaitGroup
	for _, m := range fidelityModules {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t.Run(m.path, func(t *testing.T) {
				checkFidelity(t, m.path, m.kinds, mv.URL, urls)
			})
		}()
	}
	wg.Wait()
	t.Logf("%d modules: %v", len(fidelityModules), time.Since(start).Round(time.Millisecond))
}

// fidelityAnswers are the go command's answers about one module.
type fidelityAnswers struct {
	versions, retractedVersions, latest, download string
}

// checkFidelity asks the go command about mod through modvault and straight
// from the upstream, compares the answers, and checks that the module
// still shows its kinds.
func checkFidelity(t *testing.T, mod string, kinds []fidelityKind, modvaultURL string, urls []string) {
	want := goAnswers(t, mod, upstreamList, urls)
	got := goAnswers(t, mod, modvaultURL, urls)
	for _, c := range []struct{ what, got, want string }{
		{"go list -m -versions", got.versions, want.versions},
		{"go list -m -retracted -versions", got.retractedVersions, want.retractedVersions},
		{"go list -m @latest", got.latest, want.latest},
		{"go mod download -json @latest", got.download, want.download},
	} {
		if c.got != c.want {
			t.Errorf("%s %s:\nthrough modvault:      %s\nstraight from upstream: %s", c.what, mod, redact(c.got), redact(c.want))
		}
	}
	versions := strings.Fields(want.versions)
	if len(versions) > 0 {
		versions = versions[1:] // the module path
	}
	latest := strings.Fields(want.latest)
	for _, k := range kinds {
		var ok bool
		switch k {
		case tagged:
			ok = len(versions) > 0 && len(latest) > 1 && !module.IsPseudoVersion(latest[1])
		case untagged:
			ok = len(versions) == 0 && len(latest) > 1 && module.IsPseudoVersion(latest[1])
		case incompatible:
			ok = strings.Contains(want.versions, "+incompatible")
		case majorSuffix:
			_, major, _ := module.SplitPathVersion(mod)
			ok = major != ""
		case uppercase:
			ok = strings.ToLower(mod) != mod
		case retracted:
			ok = len(strings.Fields(want.retractedVersions)) > len(strings.Fields(want.versions))
		case manyVersions:
			ok = len(versions) >= 90
		}
		if !ok {
			t.Errorf("%s is no longer of kind %s (versions %q, latest %q): pick another module", mod, k, redact(want.versions), redact(want.latest))
		}
	}
}

// goAnswers runs the go command against proxy, with an empty module
// cache, and returns its answers about mod. A failure is an answer too.
func goAnswers(t *testing.T, mod, proxy string, urls []string) fidelityAnswers {
	g := proxytest.NewGo(t, proxy, gosumdb)
	var a fidelityAnswers
	a.versions = goAnswer(t, g, urls, "list", "-m", "-versions", mod)
	a.retractedVersions = goAnswer(t, g, urls, "list", "-m", "-retracted", "-versions", mod)
	a.latest = goAnswer(t, g, urls, "list", "-m", "-f", "{{.Path}} {{.Version}} {{if .Time}}{{.Time.UTC.Format \"2006-01-02T15:04:05Z\"}}{{end}}", mod+"@latest")
	out := goAnswer(t, g, urls, "mod", "download", "-json", mod+"@latest")
	// The JSON (with an Error field on failure) is on stdout, the rest
	// after it.
	var dl struct{ Path, Version, Error, Sum, GoModSum string }
	if err := json.NewDecoder(strings.NewReader(strings.TrimPrefix(out, "error: "))).Decode(&dl); err != nil {
		a.download = out
	} else {
		a.download = fmt.Sprintf("%s@%s Sum %s GoModSum %s Error %q", dl.Path, dl.Version, dl.Sum, dl.GoModSum, dl.Error)
	}
	return a
}

// goAnswer runs "go args..." as g would and returns its trimmed output
// (stdout, then stderr), prefixed by "error: " if it failed, with the
// proxies' URLs replaced by "$GOPROXY": errors may differ by the URL.
func goAnswer(t *testing.T, g *proxytest.Go, urls []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fidelityTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = g.Dir, g.Env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	s := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
	if err != nil {
		s = "error: " + s
	}
	for _, u := range urls {
		s = strings.ReplaceAll(s, u, "$GOPROXY")
	}
	return s
}
