package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/proxytest"
)

// indexWait bounds the wait for the metadata index to show what was
// served: events are written in batches (every 500ms by default), and
// after a database outage at the next retry.
const indexWait = 20 * time.Second

// getAPI decodes the JSON answer of GET base+path into v, and returns the
// HTTP status; v is left alone unless the status is 200.
func getAPI(t *testing.T, client *http.Client, base, path string, v any) int {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding the answer: %v", path, err)
	}
	return resp.StatusCode
}

// waitFor calls check until it returns "" (success) or indexWait has
// passed, and then fails the test with check's last answer.
func waitFor(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(indexWait)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", indexWait, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allEvents returns the events of GET base/api/v1/events?query, every page.
func allEvents(t *testing.T, client *http.Client, base string, query url.Values) []api.Event {
	t.Helper()
	var all []api.Event
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", "1000")
	for {
		var page api.EventsPage
		if status := getAPI(t, client, base, "/api/v1/events?"+q.Encode(), &page); status != http.StatusOK {
			t.Fatalf("/api/v1/events?%s: status %d", q.Encode(), status)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		q.Set("cursor", page.Next)
	}
}

// goSum is the hashes of a go.sum file: "path version" (zip) and
// "path version/go.mod" to their h1: hash.
func goSum(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	sums := make(map[string]string)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("go.sum line %q", line)
		}
		sums[f[0]+" "+f[1]] = f[2]
	}
	return sums
}

// TestAPIHashesEqualGoSum: after the go command fetched modules through
// modvault, /api/v1/versions/<module>@<version> gives, for every line of
// the client's go.sum, the same h1: hash: mod_h1 for a /go.mod line,
// zip_h1 for a module's line. Module paths in the API's URLs are plain,
// uppercase letters included.
func TestAPIHashesEqualGoSum(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.WriteFile("main.go", mainGo)
	g.Must("get", "example.com/a@v1.0.0", "example.com/b/v2@v2.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible")
	g.Must("mod", "download")

	sums := goSum(t, g.Dir)
	zips := 0
	for key, want := range sums {
		path, vers, _ := strings.Cut(key, " ")
		vers, isMod := strings.CutSuffix(vers, "/go.mod")
		if !isMod {
			zips++
		}
		var v api.Version
		waitFor(t, func() string {
			if status := getAPI(t, nil, mv, "/api/v1/versions/"+path+"@"+vers, &v); status != http.StatusOK {
				return fmt.Sprintf("/api/v1/versions/%s@%s: status %d", path, vers, status)
			}
			if !isMod && v.ZipH1 == "" {
				return fmt.Sprintf("%s@%s: no zip_h1 yet", path, vers)
			}
			return ""
		})
		got := v.ZipH1
		if isMod {
			got = v.ModH1
		}
		if got != want {
			t.Errorf("go.sum has %s %s, /api/v1/versions/%s@%s has %s", key, want, path, vers, got)
		}
		if v.Path != path || v.Version != vers {
			t.Errorf("/api/v1/versions/%s@%s answers for %s@%s", path, vers, v.Path, v.Version)
		}
		if v.Proof == nil || !strings.HasPrefix(v.Verified, "checksum database "+up.SumDBName) {
			t.Errorf("%s@%s: verified %q, proof %+v; want the checksum database %s", path, vers, v.Verified, v.Proof, up.SumDBName)
		}
	}
	// Five modules were built, so five zips (and at least their go.mod
	// files) are in go.sum.
	if zips != 5 || len(sums) < 10 {
		t.Errorf("go.sum has %d lines, %d of zips; want 5 zips and their go.mod files:\n%v", len(sums), zips, sums)
	}
}
