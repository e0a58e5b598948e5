package proxytest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// VulnEntry is the test vulnerability database's entry, in the Go
// vulnerability database's real format (OSV 1.3.1): example.com/vuln
// before v1.2.4, in its function Bad, with a link to its page.
const VulnEntry = `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0001"],"summary":"Bad does bad things in example.com/vuln","details":"Calling Bad is bad.","affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.4"}]}],"ecosystem_specific":{"imports":[{"path":"example.com/vuln","symbols":["Bad"]}]}}],"references":[{"type":"FIX","url":"https://example.com/vuln/commit/1"}],"database_specific":{"url":"https://example.com/vuln/GO-2099-0001","review_status":"REVIEWED"}}`

// WriteVulnDB writes a vulnerability database in the v1 layout holding
// VulnEntry under dir, every file plain and gzipped, and returns its
// file:// URL (a --vulndb source).
func WriteVulnDB(t testing.TB, dir string) string {
	t.Helper()
	return WriteVulnDBFiles(t, dir, map[string]string{
		"ID/GO-2099-0001.json": VulnEntry,
		"index/vulns.json":     `[{"id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","aliases":["CVE-2099-0001"]}]`,
		"index/modules.json":   `[{"path":"example.com/vuln","vulns":[{"id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","fixed":"1.2.4"}]}]`,
		"index/db.json":        `{"modified":"2099-01-02T00:00:00Z"}`,
	})
}

// WriteVulnDBFiles writes files (paths in the v1 layout, such as
// "index/db.json", to their JSON) under dir, each plain and gzipped, and
// returns dir's file:// URL.
func WriteVulnDBFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(data))
		zw.Close()
		if err := os.WriteFile(p, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".gz", gz.Bytes(), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// WriteVulnDBEntries writes a database of entries (OSV JSON) in the v1
// layout into dir, every file plain and gzipped, with the indexes computed
// as the Go database's generator computes them, and returns dir.
func WriteVulnDBEntries(t testing.TB, dir string, entries ...string) string {
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
		WriteVulnDBFiles(t, dir, map[string]string{"ID/" + e.ID + ".json": text})
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
	writeVulnDBJSON(t, dir, "index/modules.json", mods)
	writeVulnDBJSON(t, dir, "index/vulns.json", vulns)
	writeVulnDBJSON(t, dir, "index/db.json", struct {
		Modified time.Time `json:"modified"`
	}{latest})
	return dir
}

// writeVulnDBJSON writes v as JSON to name under dir, plain and gzipped.
func writeVulnDBJSON(t testing.TB, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	WriteVulnDBFiles(t, dir, map[string]string{name: string(b)})
}
