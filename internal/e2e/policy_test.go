package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
)

// policyConfig returns the configuration of a modvault in front of up,
// verifying against its checksum database, with the policy p.
func policyConfig(up *proxytest.Upstream, storage string, p policy.Config) config.Serve {
	dbs, _ := config.ParseSumDBs(up.GOSUMDB())
	if p.VulnAction == "" {
		p.VulnAction = policy.Warn
	}
	if p.LicenseAction == "" {
		p.LicenseAction = policy.Warn
	}
	if p.Mode == "" {
		p.Mode = policy.Enforce
	}
	return config.Serve{
		Storage:       storage,
		Upstream:      up.URL,
		SumDB:         []string{dbs[0].Name},
		GOSUMDB:       dbs,
		VulnDBRefresh: time.Hour,
		Policy:        p,
	}
}

// plainModule returns a module version with a go.mod and one package.
func plainModule(path, version string) proxytest.Module {
	name := path[strings.LastIndex(path, "/")+1:]
	return proxytest.Module{Path: path, Version: version, Files: map[string]string{
		"go.mod":        "module " + path + "\n\ngo 1.22\n",
		name + ".go":    "package " + name + "\n\nconst V = \"" + version + "\"\n",
		"LICENSE":       mitLicense,
		"doc/README.md": "docs\n",
	}}
}

// mitLicense is the MIT license text, as licensecheck recognizes it.
const mitLicense = `MIT License

Copyright (c) 2026 Example Authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

// policyLine is what the go command prints of a 403 from the policy.
func policyLine(out string) string {
	for line := range strings.Lines(out) {
		if _, l, ok := strings.Cut(line, "server response: "); ok {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// getHeader GETs u and returns the status, the Modvault-Policy header and
// the body.
func getHeader(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Modvault-Policy"), b.String()
}

// policyEvents waits for the events of mod with result to number at least
// n, and returns their "kind version reason" lines.
func policyEvents(t *testing.T, base, mod, result string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, func() string {
		lines = nil
		for _, e := range allEvents(t, nil, base, url.Values{"module": {mod}, "result": {result}}) {
			lines = append(lines, e.Kind+" "+e.Version+" "+e.Reason)
		}
		if len(lines) < n {
			return "events " + result + " of " + mod + ": " + strings.Join(lines, "; ")
		}
		return ""
	})
	return lines
}

// TestPolicyDenyRule: a deny rule refuses a version with a 403 whose line
// the go command prints, before anything of it is fetched, leaves it out
// of the list, and makes @latest the newest allowed version; the refusals
// are denied events naming the rule.
func TestPolicyDenyRule(t *testing.T) {
	const mod = "example.com/parser"
	up := proxytest.New(t, plainModule(mod, "v1.5.0"), plainModule(mod, "v1.6.0"), plainModule(mod, "v1.7.0"))
	mv := startModvaultWith(t, policyConfig(up, "mem://", policy.Config{Rules: []policy.Rule{
		{Module: mod, Versions: ">=v1.7.0", Action: policy.Deny, Reason: "CVE-2099-1234 in the tokenizer"},
	}}))
	g := proxytest.NewGo(t, mv, up.GOSUMDB())

	out, err := g.Run("mod", "download", mod+"@v1.7.0")
	t.Logf("go mod download %s@v1.7.0:\n%s", mod, out)
	want := "modvault policy: example.com/parser@v1.7.0 denied: CVE-2099-1234 in the tokenizer (policy-rule deny example.com/parser >=v1.7.0)"
	if err == nil || !strings.Contains(out, "403 Forbidden") || policyLine(out) != want {
		t.Errorf("go mod download %s@v1.7.0: err %v, want a 403 and the line %q:\n%s", mod, err, want, out)
	}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		if n := up.Requests("/" + mod + "/@v/v1.7.0" + ext); n != 0 {
			t.Errorf("the denied version's %s was fetched from the upstream %d times", ext, n)
		}
		status, _, body := getHeader(t, mv+"/"+mod+"/@v/v1.7.0"+ext)
		if status != http.StatusForbidden || body != want+"\n" {
			t.Errorf("GET v1.7.0%s: %d %q, want 403 and exactly the policy's line", ext, status, body)
		}
	}
	if out := g.Must("list", "-m", "-versions", mod); strings.TrimSpace(out) != mod+" v1.5.0 v1.6.0" {
		t.Errorf("go list -m -versions = %q, want v1.7.0 left out", out)
	}
	if out := g.Must("list", "-m", mod+"@latest"); strings.TrimSpace(out) != mod+" v1.6.0" {
		t.Errorf("go list -m %s@latest = %q, want v1.6.0, the newest allowed", mod, out)
	}
	g.WriteFile("main.go", "package main\n\nimport \"example.com/parser\"\n\nfunc main() { println(parser.V) }\n")
	g.Must("get", mod)
	if out := g.Must("run", "."); strings.TrimSpace(out) != "v1.6.0" {
		t.Errorf("go get %s chose %q, want v1.6.0", mod, out)
	}
	events := policyEvents(t, mv, mod, "denied", 4)
	if !slices.Contains(events, "zip v1.7.0 "+want) && !slices.Contains(events, "info v1.7.0 "+want) {
		t.Errorf("denied events lack the rule's line: %q", events)
	}
}

// TestPolicyReportMode: in report mode nothing is refused or left out,
// the would-be decision is in the Modvault-Policy header, and every such
// request is a report event.
func TestPolicyReportMode(t *testing.T) {
	const mod = "example.com/parser"
	up := proxytest.New(t, plainModule(mod, "v1.6.0"), plainModule(mod, "v1.7.0"))
	mv := startModvaultWith(t, policyConfig(up, "mem://", policy.Config{Mode: policy.Report, Rules: []policy.Rule{
		{Module: mod, Versions: ">=v1.7.0", Action: policy.Deny, Reason: "not reviewed"},
	}}))
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.Must("mod", "download", mod+"@v1.7.0")
	if out := g.Must("list", "-m", "-versions", mod); strings.TrimSpace(out) != mod+" v1.6.0 v1.7.0" {
		t.Errorf("go list -m -versions = %q, want both versions", out)
	}
	if out := g.Must("list", "-m", mod+"@latest"); strings.TrimSpace(out) != mod+" v1.7.0" {
		t.Errorf("@latest = %q, want v1.7.0", out)
	}
	want := "modvault policy (report): example.com/parser@v1.7.0 would be denied: not reviewed (policy-rule deny example.com/parser >=v1.7.0)"
	if status, h, _ := getHeader(t, mv+"/"+mod+"/@v/v1.7.0.zip"); status != http.StatusOK || h != want {
		t.Errorf("GET v1.7.0.zip: %d, Modvault-Policy %q; want 200 and %q", status, h, want)
	}
	events := policyEvents(t, mv, mod, "report", 3)
	for _, kind := range []string{"info", "mod", "zip"} {
		if !slices.Contains(events, kind+" v1.7.0 "+want) {
			t.Errorf("no report event for the %s: %q", kind, events)
		}
	}
	if denied := allEvents(t, nil, mv, url.Values{"result": {"denied"}}); len(denied) != 0 {
		t.Errorf("report mode denied: %+v", denied)
	}
}

// TestPolicyVulnerability: a version stored before its vulnerability was
// known is refused once modvault mirrors a database that lists it
// (--vuln-action deny), with the ID and the fix; the fixed version is
// served; with warn it is served with the Modvault-Policy header and a
// warned event; and govulncheck reports the vulnerability through
// modvault's /vulndb/, with the database's source gone.
func TestPolicyVulnerability(t *testing.T) {
	const mod = "example.com/vuln"
	files := map[string]string{
		"go.mod":  "module example.com/vuln\n\ngo 1.22\n",
		"vuln.go": "package vuln\n\n// Bad is vulnerable.\nfunc Bad() string { return \"bad\" }\n",
	}
	up := proxytest.New(t,
		proxytest.Module{Path: mod, Version: "v1.2.3", Files: files},
		proxytest.Module{Path: mod, Version: "v1.2.4", Files: files},
	)
	_, storage := fileStore(t)

	// Last year: v1.2.3 enters the store, nothing known against it.
	before := startModvaultWith(t, policyConfig(up, storage, policy.Config{}))
	g := proxytest.NewGo(t, before, up.GOSUMDB())
	g.WriteFile("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/vuln\"\n)\n\nfunc main() { fmt.Println(vuln.Bad()) }\n")
	g.Must("get", mod+"@v1.2.3")

	// Today: the database lists it.
	dbDir := t.TempDir()
	cfg := policyConfig(up, storage, policy.Config{VulnAction: policy.Deny})
	cfg.VulnDB = proxytest.WriteVulnDB(t, dbDir)
	mv := startModvaultWith(t, cfg)
	g2 := proxytest.NewGo(t, mv, up.GOSUMDB())
	out, err := g2.Run("mod", "download", mod+"@v1.2.3")
	want := "modvault policy: example.com/vuln@v1.2.3 denied: GO-2099-0001 (fixed in v1.2.4)"
	if err == nil || !strings.Contains(out, "403 Forbidden") || policyLine(out) != want {
		t.Errorf("go mod download %s@v1.2.3 (stored, now vulnerable): err %v, want 403 and %q:\n%s", mod, err, want, out)
	}
	g2.Must("mod", "download", mod+"@v1.2.4")
	if out := g2.Must("list", "-m", mod+"@latest"); strings.TrimSpace(out) != mod+" v1.2.4" {
		t.Errorf("@latest = %q, want v1.2.4", out)
	}

	// The same with warn: served, with the header and a warned event.
	cfg.Policy.VulnAction = policy.Warn
	warn := startModvaultWith(t, cfg)
	wantWarn := "modvault policy: example.com/vuln@v1.2.3 warning: GO-2099-0001 (fixed in v1.2.4)"
	if status, h, _ := getHeader(t, warn+"/"+mod+"/@v/v1.2.3.zip"); status != http.StatusOK || h != wantWarn {
		t.Errorf("warn: GET v1.2.3.zip: %d, Modvault-Policy %q; want 200 and %q", status, h, wantWarn)
	}
	if events := policyEvents(t, warn, mod, "warned", 1); events[0] != "zip v1.2.3 "+wantWarn {
		t.Errorf("warned events: %q", events)
	}

	// govulncheck reads the mirror through modvault, the source gone.
	if err := os.RemoveAll(dbDir); err != nil {
		t.Fatal(err)
	}
	bin := govulncheckBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-db", mv+"/vulndb", "./...")
	cmd.Dir = g.Dir
	cmd.Env = append(slices.Clone(g.Env), "GOPROXY=off")
	vout, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(vout), "GO-2099-0001") || !strings.Contains(string(vout), "example.com/vuln@v1.2.4") {
		t.Errorf("govulncheck -db %s/vulndb: %v, want exit 3 reporting GO-2099-0001 fixed in v1.2.4:\n%s", mv, err, vout)
	}
}

// govulncheckBinary returns the govulncheck binary: on PATH or in
// GOPATH/bin, where .ci/run installs it.
func govulncheckBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("govulncheck"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "govulncheck")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("govulncheck not found on PATH or in GOPATH/bin: install it with " +
		"go install golang.org/x/vuln/cmd/govulncheck@v1.9.0 (as .ci/run does)")
	return ""
}

// TestPolicyLicenses: private modules fetched from git repositories are
// judged by the licenses of their zips under an MIT/BSD/Apache allow-list
// with license-action deny: an AGPL-licensed module is refused (its zip
// fetched, verified and stored first, then judged), an MIT one served, and
// one without a license file is UNKNOWN, refused too; each refusal is a
// denied event naming the license.
func TestPolicyLicenses(t *testing.T) {
	agplText, err := os.ReadFile(filepath.Join("..", "license", "testdata", "AGPL-3.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	h := proxytest.NewGitHost(t)
	setGitEnv(t, h)
	for name, license := range map[string]string{"agpl": string(agplText), "mit": mitLicense, "none": ""} {
		r := h.Repo(name + ".git")
		files := map[string]string{
			"go.mod":      proxytest.GoMod("example.test/" + name + ".git"),
			name + ".go":  "package " + name + "\n\nconst Name = \"" + name + "\"\n",
			"README.md":   "# " + name + "\n",
			"sub/sub.go":  "package sub\n",
			"sub/LICENSE": mitLicense, // not at the root: does not count for the module
		}
		if license != "" {
			files["LICENSE"] = license
		}
		r.Commit("v1.0.0", files)
		r.Tag("v1.0.0")
	}
	up := proxytest.New(t)
	cfg := policyConfig(up, "mem://", policy.Config{
		LicenseAllow:  []string{"MIT", "BSD-3-Clause", "Apache-2.0"},
		LicenseAction: policy.Deny,
	})
	cfg.GOPRIVATE, cfg.GONOPROXY, cfg.GONOSUMDB = "example.test", "example.test", "example.test"
	cfg.TempDir = t.TempDir()
	cfg.DirectTimeout = 2 * time.Minute
	mv := startModvaultWith(t, cfg)
	g := privateGo(t, mv, up)

	g.Must("mod", "download", "example.test/mit.git@v1.0.0")
	for _, tt := range []struct{ name, want string }{
		{"agpl", "modvault policy: example.test/agpl.git@v1.0.0 denied: license AGPL-3.0 (LICENSE) not allowed"},
		{"none", "modvault policy: example.test/none.git@v1.0.0 denied: no license file at the module root (UNKNOWN)"},
	} {
		mod := "example.test/" + tt.name + ".git"
		out, err := g.Run("mod", "download", mod+"@v1.0.0")
		if err == nil || !strings.Contains(out, "403 Forbidden") || policyLine(out) != tt.want {
			t.Errorf("go mod download %s@v1.0.0: err %v, want a 403 and %q:\n%s", mod, err, tt.want, out)
		}
		// Refused again, now from the licenses recorded.
		if status, _, body := getHeader(t, mv+"/"+mod+"/@v/v1.0.0.zip"); status != http.StatusForbidden || body != tt.want+"\n" {
			t.Errorf("GET %s zip again: %d %q", mod, status, body)
		}
		if events := policyEvents(t, mv, mod, "denied", 1); !slices.Contains(events, "zip v1.0.0 "+tt.want) {
			t.Errorf("denied events of %s: %q", mod, events)
		}
	}
}

// TestPolicyMinimumAge: with a minimum age, versions modvault has just
// seen are held back (refused, left out of the list, no @latest), with
// the time they come of age; an allow rule is the exception.
func TestPolicyMinimumAge(t *testing.T) {
	up := proxytest.New(t, plainModule("example.com/young", "v1.0.0"), plainModule("example.com/trusted", "v1.0.0"))
	mv := startModvaultWith(t, policyConfig(up, "mem://", policy.Config{
		MinAge: 72 * time.Hour,
		Rules:  []policy.Rule{{Module: "example.com/trusted", Action: policy.Allow, Reason: "built in house"}},
	}))
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	start := time.Now().UTC().Truncate(time.Second)

	if out := g.Must("list", "-m", "-versions", "example.com/young"); strings.TrimSpace(out) != "example.com/young" {
		t.Errorf("go list -m -versions = %q, want no version", out)
	}
	out, err := g.Run("mod", "download", "example.com/young@v1.0.0")
	line := policyLine(out)
	if err == nil || !strings.Contains(out, "403 Forbidden") ||
		!strings.HasPrefix(line, "modvault policy: example.com/young@v1.0.0 denied: published ") ||
		!strings.HasSuffix(line, "(minimum age 72h)") {
		t.Fatalf("go mod download a new version: err %v, want a 403 holding it back:\n%s", err, out)
	}
	// It was first seen in the list just now: held back for 72 hours from then.
	var published, until time.Time
	rest := strings.TrimPrefix(line, "modvault policy: example.com/young@v1.0.0 denied: published ")
	p, u, _ := strings.Cut(strings.TrimSuffix(rest, " (minimum age 72h)"), ", held back until ")
	if published, err = time.Parse(time.RFC3339, p); err != nil {
		t.Fatal(err)
	}
	if until, err = time.Parse(time.RFC3339, u); err != nil {
		t.Fatal(err)
	}
	if published.Before(start.Add(-time.Second)) || published.After(time.Now()) || until.Sub(published) != 72*time.Hour {
		t.Errorf("published %v, held back until %v; want first seen in this test (after %v), 72h later", published, until, start)
	}
	if out, err := g.Run("list", "-m", "example.com/young@latest"); err == nil || !strings.Contains(out, "held back until") {
		t.Errorf("@latest of a module with only young versions: err %v:\n%s", err, out)
	}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		if n := up.Requests("/example.com/young/@v/v1.0.0" + ext); n != 0 {
			t.Errorf("the held-back version's %s was fetched %d times", ext, n)
		}
	}

	// The allow rule lets a version as young through.
	g.Must("mod", "download", "example.com/trusted@v1.0.0")
	if out := g.Must("list", "-m", "example.com/trusted@latest"); strings.TrimSpace(out) != "example.com/trusted v1.0.0" {
		t.Errorf("@latest of the allowed module = %q", out)
	}
}
