package config

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/policy"
)

// TestPolicySettings: the [[policy-rule]] tables and the policy's flags
// are read from the file, the environment and flags, and printed back by
// Settings (modvault config) with the rules.
func TestPolicySettings(t *testing.T) {
	file := writeConfig(t, `
vulndb = "file:///srv/vulndb"
vuln-action = "deny"
license-allow = ["MIT", "BSD-3-Clause"]
min-age = "72h"

[[policy-rule]]
module = "github.com/acme/parser"
versions = "<v1.6.0"
action = "deny"
reason = "CVE-2099-1234 in the tokenizer"

[[policy-rule]]
module = "git.corp.example"
action = "allow"
`)
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off", "MODVAULT_LICENSE_ACTION", "deny")}
	c := parse(t, f, "--config", file, "--policy-mode", "report")
	want := policy.Config{
		Rules: []policy.Rule{
			{Module: "github.com/acme/parser", Versions: "<v1.6.0", Action: "deny", Reason: "CVE-2099-1234 in the tokenizer"},
			{Module: "git.corp.example", Action: "allow"},
		},
		VulnAction:    "deny",
		LicenseAllow:  []string{"MIT", "BSD-3-Clause"},
		LicenseAction: "deny",
		MinAge:        72 * time.Hour,
		Mode:          "report",
	}
	if !slices.Equal(c.Policy.Rules, want.Rules) || c.Policy.VulnAction != want.VulnAction ||
		!slices.Equal(c.Policy.LicenseAllow, want.LicenseAllow) || c.Policy.LicenseAction != want.LicenseAction ||
		c.Policy.MinAge != want.MinAge || c.Policy.Mode != want.Mode {
		t.Errorf("policy = %+v\nwant     %+v", c.Policy, want)
	}
	if c.VulnDB != "file:///srv/vulndb" || c.VulnDBRefresh != time.Hour || !c.PolicyOn() {
		t.Errorf("vulndb %q, refresh %v, on %v", c.VulnDB, c.VulnDBRefresh, c.PolicyOn())
	}
	var lines []string
	for _, s := range c.Settings() {
		lines = append(lines, s.Name+" = "+s.Value+" # "+s.Origin)
	}
	got := strings.Join(lines, "\n")
	for _, w := range []string{
		`policy-rule = deny github.com/acme/parser <v1.6.0 (reason "CVE-2099-1234 in the tokenizer") # config ` + file,
		"policy-rule = allow git.corp.example # config " + file,
		"license-allow = MIT,BSD-3-Clause # config " + file,
		"license-action = deny # env MODVAULT_LICENSE_ACTION",
		"policy-mode = report # flag",
		"min-age = 72h0m0s # config " + file,
		"vulndb-refresh = 1h0m0s # default",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("settings lack %q:\n%s", w, got)
		}
	}
	// Nothing configured: no policy.
	if c := parse(t, &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}); c.PolicyOn() {
		t.Errorf("policy on with nothing configured: %+v", c.Policy)
	}
}

// TestPolicyErrors: a bad policy value or rule stops with one line naming
// the setting (or the rule and the file).
func TestPolicyErrors(t *testing.T) {
	for _, tt := range []struct {
		file  string
		args  []string
		words []string
	}{
		{"", []string{"--vuln-action", "block"}, []string{"--vuln-action", `"block"`, "warn or deny"}},
		{"", []string{"--license-action", "maybe"}, []string{"--license-action", `"maybe"`}},
		{"", []string{"--policy-mode", "audit"}, []string{"--policy-mode", `"audit"`, "enforce or report"}},
		{"", []string{"--min-age", "-1h"}, []string{"--min-age", "negative"}},
		{"", []string{"--min-age", "3d"}, []string{"min-age"}},
		{"", []string{"--vulndb-refresh", "0"}, []string{"--vulndb-refresh", "not a positive duration"}},
		{"", []string{"--vulndb", "ftp://x/db"}, []string{"--vulndb", "file:///"}},
		{"", []string{"--vulndb", "https://"}, []string{"--vulndb"}},
		{"", []string{"--database", "off", "--min-age", "72h"}, []string{"--min-age", "metadata index", "--database off"}},
		{"", []string{"--database", "off", "--license-allow", "MIT"}, []string{"--license-allow", "metadata index"}},
		{`vuln-action = "block"`, nil, []string{": vuln-action", `"block"`}},
		{"[[policy-rule]]\nmodule = \"x.test\"\naction = \"block\"\n", nil, []string{"policy-rule 1", `"x.test"`, `action "block"`}},
		{"[[policy-rule]]\nmodule = \"x.test\"\naction = \"deny\"\n[[policy-rule]]\nmodule = \"y.test\"\nversions = \"<1.0\"\naction = \"deny\"\n", nil, []string{"policy-rule 2", `"y.test"`, "versions"}},
		{"[[policy-rule]]\nmodule = \"x.test\"\naction = \"deny\"\nreson = \"typo\"\n", nil, []string{"policy-rule", "reson"}},
		{"[[policy-rule]]\naction = \"deny\"\n", nil, []string{"policy-rule 1", "module"}},
	} {
		args := tt.args
		words := tt.words
		if tt.file != "" {
			file := writeConfig(t, tt.file)
			args = append([]string{"--config", file}, args...)
			words = append(words, file)
		}
		f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
		_, err := ParseServe(context.Background(), args, f.env())
		if err == nil {
			t.Errorf("%q %q: no error", tt.file, tt.args)
			continue
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: error %q does not mention %s", tt.file, tt.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q %q: error is not one line: %q", tt.file, tt.args, err)
		}
	}
}
