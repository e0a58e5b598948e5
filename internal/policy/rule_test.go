package policy_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/policy"
)

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		rule policy.Rule
		want string // in the error, after `policy-rule 2 (module "...")`
	}{
		{policy.Rule{Module: "", Action: "deny"}, "module: empty pattern"},
		{policy.Rule{Module: "a.com/x,b.com/y", Action: "deny"}, "one pattern per rule"},
		{policy.Rule{Module: "a.com/x/", Action: "deny"}, "without leading, trailing or double slashes"},
		{policy.Rule{Module: "a.com/x@v1.0.0", Action: "deny"}, "no @"},
		{policy.Rule{Module: "a.com/[x", Action: "deny"}, `element "[x"`},
		{policy.Rule{Module: "a.com/x", Action: "block"}, `action "block": want "deny" or "allow"`},
		{policy.Rule{Module: "a.com/x", Action: "deny", Versions: "<1.6.0"}, `"1.6.0" is not a semantic version`},
		{policy.Rule{Module: "a.com/x", Action: "deny", Versions: "~v1.6.0"}, `is not a semantic version`},
		{policy.Rule{Module: "a.com/x", Action: "deny", Versions: "=>v1.6.0"}, `operator "=>"`},
		{policy.Rule{Module: "a.com/x", Action: "deny", Versions: "<"}, `no version after "<"`},
	} {
		rules := []policy.Rule{{Module: "*", Action: "allow"}, tc.rule}
		_, err := policy.ParseRules(rules)
		if err == nil {
			t.Errorf("ParseRules(%+v): no error", tc.rule)
			continue
		}
		prefix := `policy-rule 2 (module "` + tc.rule.Module + `"): `
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRules(%+v) = %q, want %q...%q", tc.rule, err, prefix, tc.want)
		}
	}
}

func TestParseRulesAllErrors(t *testing.T) {
	_, err := policy.ParseRules([]policy.Rule{
		{Module: "a.com/x", Action: "nope"},
		{Module: "a.com/y", Action: "deny"},
		{Module: "a.com/z", Action: "deny", Versions: "vX"},
	})
	if err == nil || !strings.Contains(err.Error(), "policy-rule 1 ") || !strings.Contains(err.Error(), "policy-rule 3 ") || strings.Contains(err.Error(), "policy-rule 2 ") {
		t.Fatalf("ParseRules = %v, want errors for rules 1 and 3 only", err)
	}
}

func TestVersionRanges(t *testing.T) {
	for _, tc := range []struct {
		versions string
		in, out  []string
	}{
		{"", []string{"v0.0.1", "v1.0.0", "v2.0.0+incompatible", "v0.0.0-20240101000000-abcdefabcdef"}, nil},
		{"<v1.6.0", []string{"v1.5.9", "v1.6.0-rc.1", "v1.5.1-0.20240101000000-abcdefabcdef", "v0.1.0"}, []string{"v1.6.0", "v1.6.1", "v2.0.0+incompatible"}},
		{">=v1.2.0 <v1.3.0", []string{"v1.2.0", "v1.2.9"}, []string{"v1.1.9", "v1.2.0-rc.1", "v1.3.0"}},
		{"<=v1.2.0", []string{"v1.2.0", "v1.1.0"}, []string{"v1.2.1"}},
		{">v1.2.0", []string{"v1.2.1", "v1.2.1-pre", "v3.0.0"}, []string{"v1.2.0", "v1.2.0-pre"}},
		{"v1.2.3", []string{"v1.2.3"}, []string{"v1.2.4", "v1.2.2"}},
		{"=v1.2.3", []string{"v1.2.3"}, []string{"v1.2.4"}},
		{">=v2.0.0", []string{"v2.0.0+incompatible", "v2.1.0"}, []string{"v1.9.9"}},
	} {
		e := newEngine(t, policy.Config{Rules: []policy.Rule{{Module: "a.com/x", Versions: tc.versions, Action: "deny"}}}, policy.Sources{})
		for _, v := range tc.in {
			if d := e.Decide(context.Background(), module.Version{Path: "a.com/x", Version: v}); !d.Denied() {
				t.Errorf("versions %q: %s not matched", tc.versions, v)
			}
		}
		for _, v := range tc.out {
			if d := e.Decide(context.Background(), module.Version{Path: "a.com/x", Version: v}); d.Denied() {
				t.Errorf("versions %q: %s matched", tc.versions, v)
			}
		}
	}
}

func TestRulePrecedence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []policy.Rule
		mv    string // path@version
		want  policy.Verdict
		rule  string // the ID of the deciding rule, "" for none
	}{
		{
			name:  "no rule matches",
			rules: []policy.Rule{{Module: "b.com", Action: "deny"}},
			mv:    "a.com/x@v1.0.0", want: policy.Allowed,
		},
		{
			name:  "pattern matches path prefixes",
			rules: []policy.Rule{{Module: "a.com", Action: "deny"}},
			mv:    "a.com/x/v2@v2.0.0", want: policy.Denied, rule: "deny a.com",
		},
		{
			name:  "more path elements win: allow one module under a denied prefix",
			rules: []policy.Rule{{Module: "a.com/*", Action: "deny"}, {Module: "a.com/x/y", Action: "allow"}},
			mv:    "a.com/x/y@v1.0.0", want: policy.Allowed, rule: "allow a.com/x/y",
		},
		{
			name:  "more path elements win: deny one module under an allowed prefix",
			rules: []policy.Rule{{Module: "a.com/x/y", Action: "deny"}, {Module: "a.com", Action: "allow"}},
			mv:    "a.com/x/y@v1.0.0", want: policy.Denied, rule: "deny a.com/x/y",
		},
		{
			name:  "then more literal characters",
			rules: []policy.Rule{{Module: "a.com/*", Action: "deny"}, {Module: "a.com/x*", Action: "allow"}},
			mv:    "a.com/xy@v1.0.0", want: policy.Allowed, rule: "allow a.com/x*",
		},
		{
			name:  "equal specificity: deny over allow, whatever the order",
			rules: []policy.Rule{{Module: "a.com/x", Action: "allow"}, {Module: "a.com/x", Versions: "<v1.6.0", Action: "deny"}},
			mv:    "a.com/x@v1.5.0", want: policy.Denied, rule: "deny a.com/x <v1.6.0",
		},
		{
			name:  "equal specificity, the deny's range does not hold",
			rules: []policy.Rule{{Module: "a.com/x", Action: "allow"}, {Module: "a.com/x", Versions: "<v1.6.0", Action: "deny"}},
			mv:    "a.com/x@v1.6.0", want: policy.Allowed, rule: "allow a.com/x",
		},
		{
			name:  "equal specificity and action: the first listed",
			rules: []policy.Rule{{Module: "a.com/x", Versions: "<v2.0.0", Action: "deny"}, {Module: "a.com/x", Versions: "<v3.0.0", Action: "deny"}},
			mv:    "a.com/x@v1.0.0", want: policy.Denied, rule: "deny a.com/x <v2.0.0",
		},
		{
			name:  "a more specific rule whose range does not hold does not decide",
			rules: []policy.Rule{{Module: "a.com/x", Versions: "v9.9.9", Action: "allow"}, {Module: "a.com", Action: "deny"}},
			mv:    "a.com/x@v1.0.0", want: policy.Denied, rule: "deny a.com",
		},
		{
			name:  "star covers every module",
			rules: []policy.Rule{{Module: "*", Action: "deny"}},
			mv:    "z.org/q@v0.1.0", want: policy.Denied, rule: "deny *",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, policy.Config{Rules: tc.rules}, policy.Sources{})
			d := e.Decide(context.Background(), mv(tc.mv))
			if d.Verdict != tc.want {
				t.Errorf("verdict %v, want %v (%s)", d.Verdict, tc.want, d.Text())
			}
			got := ""
			if len(d.Reasons) > 0 {
				got = d.Reasons[0].ID
			}
			if got != tc.rule {
				t.Errorf("decided by %q, want %q", got, tc.rule)
			}
		})
	}
}

func TestRuleText(t *testing.T) {
	e := newEngine(t, policy.Config{Rules: []policy.Rule{
		{Module: "a.com/x", Versions: "<v1.6.0", Action: "deny", Reason: "CVE-2099-1 in the parser"},
		{Module: "a.com/y", Action: "deny"},
	}}, policy.Sources{})
	for _, tc := range []struct{ mv, want string }{
		{"a.com/x@v1.5.0", "modvault policy: a.com/x@v1.5.0 denied: CVE-2099-1 in the parser (policy-rule deny a.com/x <v1.6.0)"},
		{"a.com/y@v1.0.0", "modvault policy: a.com/y@v1.0.0 denied: policy-rule deny a.com/y"},
	} {
		if got := e.Decide(context.Background(), mv(tc.mv)).Text(); got != tc.want {
			t.Errorf("Text = %q, want %q", got, tc.want)
		}
	}
}
