package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

// TestTamperedUpstreamIsRefused: an upstream that sends a zip or a .mod
// whose hash differs from the checksum database's record is refused with a
// 403 that names both hashes, and nothing of that version reaches the
// store; the go command reports it; honest versions still work.
func TestTamperedUpstreamIsRefused(t *testing.T) {
	up := proxytest.New(t, modules()...)
	origZip := up.ZipHash("example.com/b", "v1.1.0")
	origMod := up.ModHash("example.com/b/v2", "v2.0.0")
	up.TamperZip("example.com/b", "v1.1.0", map[string]string{
		"go.mod": "module example.com/b\n\ngo 1.22\n",
		"b.go":   "package b\n\nfunc B() string { return \"evil\" }\n",
	})
	up.TamperMod("example.com/b/v2", "v2.0.0", "module example.com/b/v2\n\ngo 1.22\n\nrequire example.com/evil v1.0.0\n")
	dir, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)

	for _, c := range []struct{ path, want string }{
		{"/example.com/b/@v/v1.1.0.zip", origZip},
		{"/example.com/b/v2/@v/v2.0.0.mod", origMod},
		{"/example.com/b/v2/@v/v2.0.0.info", origMod},
	} {
		resp, err := http.Get(mv + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "checksum mismatch") || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %d %q; want 403 naming the checksum mismatch and the database's hash %s", c.path, resp.StatusCode, body, c.want)
		}
	}
	// Each refusal is counted, for alerting.
	resp, err := http.Get(mv + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `modvault_verification_failures_total{reason="mismatch"} 3`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, metrics)
	}
	for _, bad := range []string{"example.com/b/@v/v1.1.0.zip", "example.com/b/v2/@v/v2.0.0.mod", "example.com/b/v2/@v/v2.0.0.info"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(bad))); err == nil {
			t.Errorf("the store holds %s from a lying upstream", bad)
		}
	}

	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	out, err := g.Run("mod", "download", "example.com/b@v1.1.0")
	if err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("go mod download of a tampered zip: err %v, output:\n%s", err, out)
	}
	g.Must("mod", "download", "example.com/a@v1.0.0", "example.com/b@v1.0.0")
}

// TestNoVerifyPatternsSkipVerification: modules matching GONOSUMDB
// patterns (private modules, which no public checksum database knows) are
// stored without a lookup.
func TestNoVerifyPatternsSkipVerification(t *testing.T) {
	up := proxytest.New(t, modules()...)
	up.TamperZip("example.com/b", "v1.1.0", map[string]string{
		"go.mod": "module example.com/b\n\ngo 1.22\n",
		"b.go":   "package b\n",
	})
	mv := startModvaultWith(t, config.Serve{
		Storage:   "mem://",
		Upstream:  up.URL,
		GOSUMDB:   []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		GONOSUMDB: "example.com/b",
	})
	resp, err := http.Get(mv + "/example.com/b/@v/v1.1.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET a zip of a module under GONOSUMDB: %s, want 200 (not verified)", resp.Status)
	}
	lookups := up.Requests("/sumdb/"+up.SumDBName+"/lookup/example.com/b@v1.1.0") +
		up.Requests("/sumdb/"+up.SumDBName+"/lookup/example.com/b@v1.1.0/go.mod")
	if lookups != 0 {
		t.Errorf("modvault looked up a module under GONOSUMDB in the checksum database %d times", lookups)
	}
}

// TestChecksumDatabaseWorksOffline: after modules went through modvault
// once, a go command with an empty module cache, an empty go.sum and
// GOSUMDB on downloads and verifies them all while the upstream (and with
// it the checksum database) is gone: lookups and tiles come from modvault's
// store.
func TestChecksumDatabaseWorksOffline(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.WriteFile("main.go", mainGo)
	g.Must("get", "example.com/a@latest", "example.com/b/v2@v2.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible")
	gomod, err := os.ReadFile(filepath.Join(g.Dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(g.Dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}

	up.Close()
	off := proxytest.NewGo(t, mv, up.GOSUMDB())
	off.WriteFile("main.go", mainGo)
	off.WriteFile("go.mod", string(gomod))
	off.Must("mod", "download")
	off.Must("build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
	got, err := os.ReadFile(filepath.Join(off.Dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(sum) {
		t.Errorf("go.sum written offline differs from the one written online:\noffline:\n%s\nonline:\n%s", got, sum)
	}
}

// TestVersionUnknownToTheChecksumDatabaseIsNotStored: a public version the
// checksum database has no record of cannot be verified, so it is not
// stored: 502 naming the reason, and the store stays empty.
func TestVersionUnknownToTheChecksumDatabaseIsNotStored(t *testing.T) {
	up := proxytest.New(t, modules()...)
	up.HideFromSumDB("example.com/b", "v1.1.0")
	dir, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	for _, path := range []string{"/example.com/b/@v/v1.1.0.info", "/example.com/b/@v/v1.1.0.zip"} {
		resp, err := http.Get(mv + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "cannot verify") {
			t.Errorf("GET %s: %d %q, want 502 saying it cannot verify", path, resp.StatusCode, body)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "example.com", "b", "@v"))
	if err == nil && len(entries) > 0 {
		t.Errorf("the store holds %d files of a version it could not verify", len(entries))
	}
}
