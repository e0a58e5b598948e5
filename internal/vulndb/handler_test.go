package vulndb_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

// serveMirror serves the mirror in st at /vulndb/ as modvault does.
func serveMirror(t *testing.T, st *store.Store) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/vulndb/", vulndb.Handler(st, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask as govulncheck's client does: the transport's own gzip
	// negotiation must not undo the .json.gz files.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestHandler(t *testing.T) {
	src := writeDB(t, t.TempDir(), testEntries...)
	st, storeDir := newStore(t)
	mustMirror(t, fileURL(src), st)
	base := serveMirror(t, st)

	for _, name := range []string{"index/db.json", "index/modules.json", "index/vulns.json", "ID/GO-2099-0001.json"} {
		want, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, "GET", base+"/vulndb/"+name)
		if resp.StatusCode != 200 || string(body) != string(want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %s %q, body %.60q; want 200 application/json %.60q", name, resp.Status, resp.Header.Get("Content-Type"), body, want)
		}
		resp, body = get(t, "GET", base+"/vulndb/"+name+".gz")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s.gz: %s, Content-Type %q, Content-Encoding %q; want 200 application/gzip, none", name, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"))
		} else if got := gunzip(t, body); string(got) != string(want) {
			t.Errorf("GET %s.gz gunzips to %.60q, want %.60q", name, got, want)
		}
	}

	// govulncheck's check that a URL serves a v1 database.
	if resp, _ := get(t, "HEAD", base+"/vulndb/index/modules.json.gz"); resp.StatusCode != 200 {
		t.Errorf("HEAD index/modules.json.gz: %s, want 200", resp.Status)
	}
	// A conditional request with the ETag it got.
	resp, _ := get(t, "GET", base+"/vulndb/index/db.json.gz")
	req, _ := http.NewRequest("GET", base+"/vulndb/index/db.json.gz", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %v %v, want 304", resp.Status, err)
	}

	for _, p := range []string{
		"/vulndb/ID/GO-2099-9999.json",   // no such entry
		"/vulndb/index/other.json",       // no such index
		"/vulndb/ID/GO-2099-0001",        // no extension
		"/vulndb/ID/GO-2099-0001.json.z", // bad extension
		"/vulndb/ID/a/b.json",            // not an ID
		"/vulndb/",
	} {
		if resp, _ := get(t, "GET", base+p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
	if resp, _ := get(t, "POST", base+"/vulndb/index/db.json"); resp.StatusCode != 405 {
		t.Errorf("POST: %s, want 405", resp.Status)
	}

	// A mirror without its .json.gz files (copied by hand) is gzipped on
	// the fly.
	if err := os.Remove(filepath.Join(storeDir, "vulndb/ID/GO-2099-0002.json.gz")); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, "GET", base+"/vulndb/ID/GO-2099-0002.json.gz")
	if resp.StatusCode != 200 || string(gunzip(t, body)) != entryLastAffected {
		t.Errorf("GET a .json.gz not stored: %s %.60q", resp.Status, body)
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		key  string
		gz   bool
	}{
		{"/vulndb/index/db.json", "vulndb/index/db.json", false},
		{"/vulndb/index/modules.json.gz", "vulndb/index/modules.json.gz", true},
		{"/vulndb/ID/GO-2024-1234.json.gz", "vulndb/ID/GO-2024-1234.json.gz", true},
		{"/vulndb/ID/../index/db.json", "", false},
		{"/vulndb/ID/.json", "", false},
		{"/vulndb/index.json", "", false},
		{"/sumdb/index/db.json", "", false},
	} {
		key, gz, ok := vulndb.ParsePath(tc.path)
		if key != tc.key || gz != tc.gz || ok != (tc.key != "") {
			t.Errorf("ParsePath(%q) = %q, %v, %v; want %q, %v", tc.path, key, gz, ok, tc.key, tc.gz)
		}
	}
}

// govulncheck returns the govulncheck binary: on PATH or in GOPATH/bin,
// where .ci/run installs it.
func govulncheck(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("govulncheck"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "govulncheck")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("govulncheck not found on PATH or in GOPATH/bin: install it with " +
		"go install golang.org/x/vuln/cmd/govulncheck@v1.9.0 (as .ci/run does)")
	return ""
}

// TestGovulncheckThroughHandler runs the real govulncheck against a
// module that calls a vulnerable function, with the database served by
// the handler from a mirror: it reports the vulnerability and its fix,
// and nothing once the fixed version is required (read from the mirror's
// directory in a file:// store).
func TestGovulncheckThroughHandler(t *testing.T) {
	bin := govulncheck(t)
	files := map[string]string{
		"go.mod":  "module example.com/vuln\n\ngo 1.22\n",
		"vuln.go": "package vuln\n\n// Bad is vulnerable.\nfunc Bad() string { return \"bad\" }\n\n// Good is not.\nfunc Good() string { return \"good\" }\n",
	}
	up := proxytest.New(t,
		proxytest.Module{Path: "example.com/vuln", Version: "v1.2.3", Files: files},
		proxytest.Module{Path: "example.com/vuln", Version: "v1.2.4", Files: files},
	)
	st, storeDir := newStore(t)
	mustMirror(t, fileURL(writeDB(t, t.TempDir(), testEntries...)), st)
	db := serveMirror(t, st) + "/vulndb"

	g := proxytest.NewGo(t, up.URL, up.GOSUMDB()+" "+up.URL+"/sumdb/"+up.SumDBName)
	g.WriteFile("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/vuln\"\n)\n\nfunc main() { fmt.Println(vuln.Bad()) }\n")
	g.Must("get", "example.com/vuln@v1.2.3")

	run := func(db string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-db", db, "./...")
		cmd.Dir = g.Dir
		cmd.Env = g.Env
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		}
		t.Fatalf("govulncheck: %v\n%s", err, out)
		return "", 0
	}

	out, code := run(db)
	t.Logf("govulncheck with example.com/vuln@v1.2.3 (exit %d):\n%s", code, out)
	// Exit status 3: vulnerabilities found.
	if code != 3 || !strings.Contains(out, "GO-2099-0001") || !strings.Contains(out, "example.com/vuln@v1.2.4") {
		t.Errorf("govulncheck with example.com/vuln@v1.2.3: exit %d, want 3 and GO-2099-0001 fixed in v1.2.4:\n%s", code, out)
	}

	// The fixed version, checked against the store's directory itself:
	// a file:// store's mirror is a database govulncheck reads directly.
	g.Must("get", "example.com/vuln@v1.2.4")
	if out, code := run(fileURL(filepath.Join(storeDir, "vulndb"))); code != 0 || strings.Contains(out, "GO-2099-0001") {
		t.Errorf("govulncheck with example.com/vuln@v1.2.4: exit %d, want 0 and no GO-2099-0001:\n%s", code, out)
	}
}
