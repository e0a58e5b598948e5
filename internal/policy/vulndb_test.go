package policy_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

// Entries in the Go vulnerability database's real format (OSV 1.3.1), for
// made-up modules.

// GO-2099-0001: example.com/vuln before v1.2.4.
const entryFixed = `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0001"],"summary":"Bad does bad things in example.com/vuln","details":"Calling Bad is bad.","affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.4"}]}],"ecosystem_specific":{"imports":[{"path":"example.com/vuln","symbols":["Bad"]}]}}],"references":[{"type":"FIX","url":"https://example.com/vuln/commit/1"}],"database_specific":{"url":"https://example.com/vuln/GO-2099-0001","review_status":"REVIEWED"}}`

// GO-2099-0002: example.com/last from v1.0.0 to v1.1.0, no fix.
const entryLastAffected = `{"schema_version":"1.3.1","id":"GO-2099-0002","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0002"],"summary":"Everything in example.com/last","details":"No fix.","affected":[{"package":{"name":"example.com/last","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.1.0"}]}]}]}`

// GO-2099-0003: withdrawn; would affect every version of example.com/vuln
// and example.com/ok.
const entryWithdrawn = `{"schema_version":"1.3.1","id":"GO-2099-0003","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","withdrawn":"2099-01-02T00:00:00Z","summary":"A mistake","details":"Withdrawn.","affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]},{"package":{"name":"example.com/ok","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`

// GO-2099-0006: example.com/ok before v1.0.1, published a month later
// than the others (the database's second state).
const entryLater = `{"schema_version":"1.3.1","id":"GO-2099-0006","modified":"2099-02-01T00:00:00Z","published":"2099-02-01T00:00:00Z","summary":"example.com/ok is not","details":"Later.","affected":[{"package":{"name":"example.com/ok","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.1"}]}]}]}`

// writeDB writes a database of entries in the v1 layout into dir (plain
// .json files, which a file:// source reads), with the indexes computed as
// the Go database's generator computes them.
func writeDB(t testing.TB, dir string, entries ...string) {
	t.Helper()
	type event struct{ Fixed string }
	type osv struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases"`
		Affected []struct {
			Package struct{ Name string } `json:"package"`
			Ranges  []struct{ Events []event }
		} `json:"affected"`
	}
	type modVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	type vuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
	var latest time.Time
	var vulns []vuln
	modules := map[string][]modVuln{}
	for _, text := range entries {
		var e osv
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			t.Fatal(err)
		}
		if e.Modified.After(latest) {
			latest = e.Modified
		}
		vulns = append(vulns, vuln{e.ID, e.Modified, e.Aliases})
		for _, a := range e.Affected {
			fix := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if ev.Fixed != "" {
						fix = ev.Fixed
					}
				}
			}
			modules[a.Package.Name] = append(modules[a.Package.Name], modVuln{e.ID, e.Modified, fix})
		}
		writeFile(t, dir, "ID/"+e.ID+".json", []byte(text))
	}
	type mod struct {
		Path  string    `json:"path"`
		Vulns []modVuln `json:"vulns"`
	}
	var mods []mod
	for p, vs := range modules {
		mods = append(mods, mod{p, vs})
	}
	slices.SortFunc(mods, func(a, b mod) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(vulns, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(t, dir, "index/modules.json", mods)
	writeJSON(t, dir, "index/vulns.json", vulns)
	writeJSON(t, dir, "index/db.json", struct {
		Modified time.Time `json:"modified"`
	}{latest})
}

func writeJSON(t testing.TB, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, b)
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o666); err != nil {
		t.Fatal(err)
	}
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// newUpdater returns an Updater that has mirrored a database of entries
// (written to a directory) into a file:// store and loaded it, and the
// database's directory, for updating it.
func newUpdater(t testing.TB, entries ...string) (*vulndb.Updater, string) {
	t.Helper()
	src := t.TempDir()
	writeDB(t, src, entries...)
	st, err := store.Open(context.Background(), fileURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &vulndb.Updater{Source: fileURL(src), Store: st, Log: slog.New(slog.DiscardHandler)}
	if err := u.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u.DB() == nil {
		t.Fatal("no DB after Update")
	}
	return u, src
}
