package policy_test

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
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

// writeDB writes a database of entries in the v1 layout into dir
// (proxytest.WriteVulnDBEntries).
func writeDB(t testing.TB, dir string, entries ...string) {
	t.Helper()
	proxytest.WriteVulnDBEntries(t, dir, entries...)
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
