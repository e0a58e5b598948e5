package vulndb_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test database: entries in the Go vulnerability database's real
// format (OSV 1.3.1, as its ID/<id>.json files are), for made-up modules.

// GO-2099-0001: example.com/vuln, vulnerable before v1.2.4 and in
// [v1.3.0, v1.3.2), in function Bad.
const entryFixed = `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0001","GHSA-aaaa-bbbb-cccc"],"summary":"Bad does bad things in example.com/vuln","details":"Calling Bad is bad.","affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.4"},{"introduced":"1.3.0"},{"fixed":"1.3.2"}]}],"ecosystem_specific":{"imports":[{"path":"example.com/vuln","symbols":["Bad"]}]}}],"references":[{"type":"FIX","url":"https://example.com/vuln/commit/1"}],"database_specific":{"url":"https://example.com/vuln/GO-2099-0001","review_status":"REVIEWED"}}`

// GO-2099-0002: example.com/last, vulnerable from v1.0.0 to v1.1.0
// inclusive, with no fix named (last_affected).
const entryLastAffected = `{"schema_version":"1.3.1","id":"GO-2099-0002","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0002"],"summary":"Everything in example.com/last","details":"No fix.","affected":[{"package":{"name":"example.com/last","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.1.0"}]}]}],"references":[{"type":"ADVISORY","url":"https://example.com/advisory/2"},{"type":"WEB","url":"https://example.com/web/2"}]}`

// GO-2099-0003: withdrawn; would affect every version of example.com/vuln.
const entryWithdrawn = `{"schema_version":"1.3.1","id":"GO-2099-0003","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","withdrawn":"2099-01-02T00:00:00Z","summary":"A mistake","details":"Withdrawn.","affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}],"ecosystem_specific":{"imports":[{"path":"example.com/vuln","symbols":["Good"]}]}}]}`

// GO-2099-0004: example.com/pseudo, vulnerable before a pseudo-version.
const entryPseudo = `{"schema_version":"1.3.1","id":"GO-2099-0004","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","summary":"Untagged module","details":"Fixed in a commit.","affected":[{"package":{"name":"example.com/pseudo","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.0.0-20240102030405-abcdefabcdef"}]}]}],"database_specific":{"url":"https://example.com/vuln/GO-2099-0004"}}`

// GO-2099-0005: the standard library before go1.21.5, and the toolchain
// in go1.22rc1 only.
const entryStdlib = `{"schema_version":"1.3.1","id":"GO-2099-0005","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","summary":"net/http in old Go","details":"Old.","affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.21.5"}]}],"ecosystem_specific":{"imports":[{"path":"net/http","symbols":["Serve"]}]}},{"package":{"name":"toolchain","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.22.0-rc.1"},{"fixed":"1.22.0-rc.2"}]}]}]}`

var testEntries = []string{entryFixed, entryLastAffected, entryWithdrawn, entryPseudo, entryStdlib}

// writeDB writes a database of entries in the v1 layout into dir, every
// file plain and gzipped, with the indexes computed as the Go database's
// generator computes them, and returns dir.
func writeDB(t testing.TB, dir string, entries ...string) string {
	t.Helper()
	type event struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	}
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
						fix = ev.Fixed // the last one: enough for these entries
					}
				}
			}
			modules[a.Package.Name] = append(modules[a.Package.Name], modVuln{e.ID, e.Modified, fix})
		}
		writeFile(t, dir, "ID/"+e.ID+".json", []byte(text))
	}
	type module struct {
		Path  string    `json:"path"`
		Vulns []modVuln `json:"vulns"`
	}
	var mods []module
	for p, vs := range modules {
		mods = append(mods, module{p, vs})
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(vulns, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(t, dir, "index/modules.json", mods)
	writeJSON(t, dir, "index/vulns.json", vulns)
	writeJSON(t, dir, "index/db.json", struct {
		Modified time.Time `json:"modified"`
	}{latest})
	return dir
}

func writeJSON(t testing.TB, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, b)
}

// writeFile writes name and name.gz under dir.
func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o666); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(p+".gz", buf.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
