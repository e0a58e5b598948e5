package vulndb_test

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
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

// writeDB writes a database of entries in the v1 layout into dir
// (proxytest.WriteVulnDBEntries) and returns dir.
func writeDB(t testing.TB, dir string, entries ...string) string {
	t.Helper()
	return proxytest.WriteVulnDBEntries(t, dir, entries...)
}

// writeFile writes name and name.gz under dir.
func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	proxytest.WriteVulnDBFiles(t, dir, map[string]string{name: string(data)})
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
