package bundle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/bundle"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/vulndb"
)

// bEntry is an entry of the Go vulnerability database's real format (OSV
// 1.3.1): example.com/b before v1.1.0.
const bEntry = `{"schema_version":"1.3.1","id":"GO-2099-0007","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0007"],"summary":"B is bad","details":"Old B.","affected":[{"package":{"name":"example.com/b","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]}]}`

// writeVulnDB writes a v1-layout database holding bEntry, modified at
// modified, and returns its file:// URL.
func writeVulnDB(t *testing.T, modified string, entry string) string {
	t.Helper()
	return proxytest.WriteVulnDBFiles(t, t.TempDir(), map[string]string{
		"ID/GO-2099-0007.json": entry,
		"index/vulns.json":     `[{"id":"GO-2099-0007","modified":"` + modified + `","aliases":["CVE-2099-0007"]}]`,
		"index/modules.json":   `[{"path":"example.com/b","vulns":[{"id":"GO-2099-0007","modified":"` + modified + `","fixed":"1.1.0"}]}]`,
		"index/db.json":        `{"modified":"` + modified + `"}`,
	})
}

// TestVulnDBTravels: the connected side's mirror of the vulnerability
// database goes into the bundle; the isolated side imports it, judges by
// it (a version it lists is refused under --vuln-action deny, with no
// --vulndb source) and serves it at /vulndb/; an older mirror in a later
// bundle does not replace a newer one; a broken entry refuses the bundle.
func TestVulnDBTravels(t *testing.T) {
	c := newConnected(t)
	ctx := context.Background()
	if _, err := vulndb.Mirror(ctx, writeVulnDB(t, "2099-01-02T00:00:00Z", bEntry), openStore(t, c.storage)); err != nil {
		t.Fatal(err)
	}
	b := c.export(t, "b.tar", bundle.ExportOptions{})
	names := tarNames(t, b)
	for _, n := range []string{"vulndb/ID/GO-2099-0007.json", "vulndb/index/db.json", "vulndb/index/modules.json", "vulndb/index/vulns.json"} {
		if !names[n] {
			t.Errorf("the bundle lacks %s", n)
		}
	}
	for n := range names {
		if strings.HasSuffix(n, ".json.gz") {
			t.Errorf("the bundle carries %s: the gzipped forms are made on import", n)
		}
	}

	_, storage := fileStore(t)
	st := openStore(t, storage)
	res, err := importBundle(st, c.dbs, "b.tar", b, bundle.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC); !res.VulnDB.Equal(want) {
		t.Errorf("imported vulnerability database of %v, want %v", res.VulnDB, want)
	}
	for _, key := range []string{"vulndb/index/db.json", "vulndb/index/db.json.gz", "vulndb/ID/GO-2099-0007.json.gz"} {
		if ok, err := st.Exists(ctx, key); err != nil || !ok {
			t.Errorf("after the import, %s stored: %v %v", key, ok, err)
		}
	}

	// The isolated modvault: no upstream, no --vulndb, vuln-action deny.
	cfg := config.Serve{
		Storage: storage, Upstream: "off", SumDB: []string{c.dbs[0].Name}, GOSUMDB: c.dbs,
		ListTTL: time.Millisecond, FillTimeout: time.Minute, ShutdownTimeout: time.Second, VulnDBRefresh: time.Hour,
		Policy: policy.Config{VulnAction: policy.Deny, LicenseAction: policy.Warn, Mode: policy.Enforce},
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	for path, want := range map[string]int{
		"/example.com/b/@v/v1.0.0.mod":  http.StatusForbidden,
		"/example.com/b/@v/v1.1.0.mod":  http.StatusOK,
		"/vulndb/index/modules.json.gz": http.StatusOK,
		"/vulndb/ID/GO-2099-0007.json":  http.StatusOK,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("isolated GET %s: %s %q, want %d", path, resp.Status, body, want)
		}
	}

	// A later bundle with an older mirror leaves the newer one.
	if _, err := vulndb.Mirror(ctx, writeVulnDB(t, "2098-01-01T00:00:00Z", strings.ReplaceAll(bEntry, "2099-01-02", "2098-01-01")), openStore(t, c.storage)); err != nil {
		t.Fatal(err)
	}
	res, err = importBundle(st, c.dbs, "old.tar", c.export(t, "old.tar", bundle.ExportOptions{}), bundle.ImportOptions{})
	if err != nil || !res.VulnDB.IsZero() {
		t.Errorf("importing an older mirror: %+v, %v; want nothing of it imported", res, err)
	}
	if db, _ := st.ReadAll(ctx, "vulndb/index/db.json"); !strings.Contains(string(db), "2099-01-02") {
		t.Errorf("the store's mirror was replaced by an older one: %s", db)
	}

	// A bundle whose entry is not a valid OSV entry is refused.
	bad := rewrite(t, b, func(name string, body []byte) (string, []byte, bool) {
		if name == "vulndb/ID/GO-2099-0007.json" {
			body = []byte(strings.ReplaceAll(string(body), `"fixed":"1.1.0"`, `"fixed":"v1.1.0"`))
		}
		if strings.HasPrefix(name, "vulndb/") {
			body = []byte(strings.ReplaceAll(string(body), "2099-01-02", "2100-01-01"))
		}
		return name, body, true
	}, nil)
	_, err = importBundle(st, c.dbs, "bad.tar", bad, bundle.ImportOptions{})
	if !errors.Is(err, bundle.ErrRefused) || !strings.Contains(err.Error(), "GO-2099-0007") {
		t.Errorf("a broken entry: %v, want a refusal naming it", err)
	}
}
