package ui_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
)

// The browser test drives Debian's chromium with Playwright (npm
// playwright-core, installed in browsertest/ by `npm ci`; no browser
// download). Under CI=true a missing chromium, node or playwright-core
// fails the test; elsewhere it is skipped with the reason.
//
// MODVAULT_UI_SCREENSHOTS=DIR saves screenshots of the main pages there
// (docs/ui holds the committed ones).

// vulnMod is the module the test vulnerability database
// (proxytest.WriteVulnDB) lists: vulnerable before v1.2.4.
const vulnMod = "example.com/vuln"

// chromiumPath is where Debian installs chromium; MODVAULT_CHROMIUM
// overrides it.
const chromiumPath = "/usr/bin/chromium"

// browserTools returns node's path and chromium's, or fails or skips t
// saying what is missing and how to install it.
func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
	chromium = chromiumPath
	if p := os.Getenv("MODVAULT_CHROMIUM"); p != "" {
		chromium = p
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y --no-install-recommends chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join("browsertest", "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (cd internal/ui/browsertest && npm ci)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ") + "; .ci/run installs them"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, chromium
}

// TestBrowser runs browsertest/ui.mjs in chromium against a real modvault
// (app.New) with a metadata index, access control and a policy, holding
// a public module, a vulnerable one and a private one of alice's: search,
// open a version, copy its go.sum lines, the policy's verdicts with the
// license and the vulnerability behind them, filter the events, the
// private module hidden from an anonymous visitor and shown to alice once
// she signs in, keyboard use, pages without JavaScript, and a phone's
// screen.
func TestBrowser(t *testing.T) {
	node, chromium := browserTools(t)
	base := startModvault(t)

	shots := os.Getenv("MODVAULT_UI_SCREENSHOTS")
	if shots != "" {
		var err error
		if shots, err = filepath.Abs(shots); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui.mjs", base)
	cmd.Dir = "browsertest"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "SCREENSHOTS="+shots, "ALICE_PASSWORD="+alicePassword,
		"USER_DATA_ROOT="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("node ui.mjs %s:\n%s", base, out)
	if err != nil {
		t.Fatalf("the browser script failed: %v", err)
	}
	if !strings.Contains(string(out), "ok: all checks passed") {
		t.Fatal("the browser script did not finish")
	}
}

// startModvault runs modvault in front of a fake upstream serving
// example.com/pub (v1.0.0, retracted by v1.2.0, v1.1.0, v1.2.0; MIT),
// example.com/vuln (v1.2.3, vulnerable, and v1.2.4; MIT), example.com/dep
// (no license) and corp.example/team/secret (v1.0.0, private: alice's
// alone, no license), and fetches them all (the private one as alice).
// Then it runs modvault again over the same store with a policy: a deny
// rule on example.com/pub v1.0.0, the test vulnerability database with
// --vuln-action deny, and --license-allow MIT (warn); fetches the denied
// versions, a warned one, and the private one anonymously (denied by
// access control); and returns its URL once the licenses are detected and
// the events are in the index.
func startModvault(t *testing.T) string {
	t.Helper()
	mit, err := os.ReadFile(filepath.Join("..", "license", "testdata", "MIT.txt"))
	if err != nil {
		t.Fatal(err)
	}
	goMod := func(path, extra string) string { return "module " + path + "\n\ngo 1.22\n" + extra }
	licensed := func(m proxytest.Module) proxytest.Module { m.Files["LICENSE"] = string(mit); return m }
	vulnGo := "package vuln\n\n// Bad is vulnerable.\nfunc Bad() string { return \"bad\" }\n"
	up := proxytest.New(t,
		licensed(proxytest.Module{Path: pubMod, Version: "v1.0.0", Files: map[string]string{"go.mod": goMod(pubMod, ""), "p.go": "package pub\n"}}),
		licensed(proxytest.Module{Path: pubMod, Version: "v1.1.0", Files: map[string]string{"go.mod": goMod(pubMod, ""), "p.go": "package pub\n\nconst V = 1\n"}}),
		licensed(proxytest.Module{Path: pubMod, Version: "v1.2.0", Files: map[string]string{
			"go.mod": goMod(pubMod, "\nrequire example.com/dep v1.0.0\n\nretract v1.0.0 // Parse <b>panics</b> on empty input.\n"),
			"p.go":   "package pub\n\nconst V = 2\n"}}),
		licensed(proxytest.Module{Path: vulnMod, Version: "v1.2.3", Files: map[string]string{
			"go.mod": goMod(vulnMod, "\nrequire example.com/dep v1.0.0\n"), "vuln.go": vulnGo}}),
		licensed(proxytest.Module{Path: vulnMod, Version: "v1.2.4", Files: map[string]string{
			"go.mod": goMod(vulnMod, "\nrequire example.com/dep v1.0.0\n"), "vuln.go": vulnGo}}),
		proxytest.Module{Path: "example.com/dep", Version: "v1.0.0", Files: map[string]string{"go.mod": goMod("example.com/dep", ""), "d.go": "package dep\n"}},
		proxytest.Module{Path: secretMod, Version: "v1.0.0", Files: map[string]string{"go.mod": goMod(secretMod, ""), "s.go": "package secret\n"}},
	)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := config.Serve{
		Storage:         (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "store"))}).String(),
		IndexDir:        dir, // kept over the restart, as beside a file:// store by default
		Upstream:        up.URL,
		SumDB:           []string{up.SumDBName},
		GOSUMDB:         []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		GONOSUMDB:       "corp.example",
		GOPRIVATE:       "corp.example",
		AuthUsers:       users,
		AuthRules:       []config.AuthRule{{Pattern: "*", Allow: []string{"anyone"}}, {Pattern: "@catalog", Allow: []string{"anyone"}}, {Pattern: "corp.example/team", Allow: []string{"alice"}}},
		ListTTL:         time.Millisecond,
		FillTimeout:     time.Minute,
		ShutdownTimeout: time.Second,
		VulnDBRefresh:   time.Hour,
		Replica:         "r1",
	}

	// Before the policy: every version is stored.
	base, stop := serve(t, cfg, log)
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		for _, ext := range []string{".info", ".mod", ".zip"} {
			fetch(t, base, "/"+pubMod+"/@v/"+v+ext, "", http.StatusOK)
		}
	}
	fetch(t, base, "/"+pubMod+"/@v/v1.1.0.zip", "", http.StatusOK) // a second download
	for _, v := range []string{"v1.2.3", "v1.2.4"} {
		for _, ext := range []string{".info", ".mod", ".zip"} {
			fetch(t, base, "/"+vulnMod+"/@v/"+v+ext, "", http.StatusOK)
		}
	}
	fetch(t, base, "/example.com/dep/@v/v1.0.0.info", "", http.StatusOK)
	fetch(t, base, "/example.com/dep/@v/v1.0.0.mod", "", http.StatusOK)
	fetch(t, base, "/"+secretMod+"/@v/v1.0.0.info", "alice", http.StatusOK)
	fetch(t, base, "/"+secretMod+"/@v/v1.0.0.mod", "alice", http.StatusOK)
	stop()

	cfg.Policy = policy.Config{
		Mode:          policy.Enforce,
		Rules:         []policy.Rule{{Module: pubMod, Versions: "v1.0.0", Action: policy.Deny, Reason: "Parse panics on empty input: use v1.1.0 or later"}},
		VulnAction:    policy.Deny,
		LicenseAllow:  []string{"MIT"},
		LicenseAction: policy.Warn,
	}
	cfg.VulnDB = proxytest.WriteVulnDB(t, filepath.Join(dir, "vulndb"))
	base, _ = serve(t, cfg, log)
	// The licenses of the stored zips are detected in the background.
	waitForPage(t, base+"/ui/"+vulnMod+"@v1.2.3", "", "<li>MIT <small>(LICENSE)</small></li>")
	fetch(t, base, "/"+pubMod+"/@v/v1.0.0.zip", "", http.StatusForbidden)   // the deny rule
	fetch(t, base, "/"+vulnMod+"/@v/v1.2.3.zip", "", http.StatusForbidden)  // the vulnerability
	fetch(t, base, "/example.com/dep/@v/v1.0.0.zip", "", http.StatusOK)     // warned: no license
	fetch(t, base, "/"+secretMod+"/@v/v1.0.0.zip", "alice", http.StatusOK)  // warned: no license
	fetch(t, base, "/"+secretMod+"/@v/v1.0.0.zip", "", http.StatusNotFound) // denied: an event
	// The events are written in the background: wait for the last ones.
	waitForPage(t, base+"/ui/events?result=warned&module="+url.QueryEscape(secretMod), "alice", `<span class="result warned">`)
	waitForPage(t, base+"/ui/events?result=denied&module="+url.QueryEscape(secretMod), "alice", `class="refused"`)
	return base
}

// serve runs modvault with cfg and returns its URL and a function that
// stops it (also called at the end of the test, if it was not).
func serve(t *testing.T, cfg config.Serve, log *slog.Logger) (base string, stop func()) {
	t.Helper()
	a, err := app.New(context.Background(), cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Close()
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
			if err := a.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// fetch GETs base+path as user ("" or "alice") and fails t unless it
// answers want.
func fetch(t *testing.T, base, path, user string, want int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user == "alice" {
		req.SetBasicAuth("alice", alicePassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s as %q: %d %s; want %d", path, user, resp.StatusCode, body, want)
	}
}

// waitForPage GETs u as user until it answers 200 holding want, for up
// to 30 seconds.
func waitForPage(t *testing.T, u, user, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user == "alice" {
			req.SetBasicAuth("alice", alicePassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %s after 30s: %d\n%s", u, want, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
