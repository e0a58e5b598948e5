package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
)

// TestUIShowsPolicy: through the real app, the web UI shows what the
// policy decides of versions stored before it was turned on: a deny
// rule's verdict and reason, a vulnerability of the mirrored database
// with its ID and link, the license detected in the zip (--license-allow),
// and the policy's warned and denied events.
func TestUIShowsPolicy(t *testing.T) {
	const mod = "example.com/vuln"
	up := proxytest.New(t, plainModule(mod, "v1.2.3"), plainModule(mod, "v1.2.4"), plainModule(mod, "v1.3.0"))
	_, storage := fileStore(t)

	// Before the policy: every version is stored. (The second modvault
	// has an index of its own: it records them from the store at start.)
	before := startModvaultWith(t, policyConfig(up, storage, policy.Config{}))
	for _, v := range []string{"v1.2.3", "v1.2.4", "v1.3.0"} {
		for _, ext := range []string{".info", ".mod", ".zip"} {
			if status, _, body := getHeader(t, before+"/"+mod+"/@v/"+v+ext); status != http.StatusOK {
				t.Fatalf("GET %s%s before the policy: %d %s", v, ext, status, body)
			}
		}
	}
	// Without a policy, a vulnerability database or --license-allow, the
	// page claims nothing of them.
	_, _, plain := getHeader(t, before+"/ui/"+mod+"@v1.2.3")
	for _, absent := range []string{`id="licenses"`, `id="vulns"`, `id="policy"`} {
		if strings.Contains(plain, absent) {
			t.Errorf("without a policy, the page of v1.2.3 has the section %s", absent)
		}
	}

	cfg := policyConfig(up, storage, policy.Config{
		Rules:        []policy.Rule{{Module: mod, Versions: "v1.3.0", Action: policy.Deny, Reason: "breaks the <b>parser</b>"}},
		LicenseAllow: []string{"MIT"},
	})
	cfg.VulnDB = proxytest.WriteVulnDB(t, t.TempDir())
	mv := startModvaultWith(t, cfg)
	if status, _, _ := getHeader(t, mv+"/"+mod+"/@v/v1.2.3.zip"); status != http.StatusOK {
		t.Errorf("GET v1.2.3.zip (vulnerable, warn): %d, want 200", status)
	}
	if status, _, _ := getHeader(t, mv+"/"+mod+"/@v/v1.3.0.zip"); status != http.StatusForbidden {
		t.Errorf("GET v1.3.0.zip (denied by a rule): %d, want 403", status)
	}

	const (
		denyReason = `breaks the &lt;b&gt;parser&lt;/b&gt; (policy-rule deny example.com/vuln v1.3.0)`
		deny       = `<span class="verdict deny">deny</span><br><small>` + denyReason + `</small>`
		vulnLink   = `<a href="https://example.com/vuln/GO-2099-0001" rel="noreferrer">GO-2099-0001</a> <small>CVE-2099-0001</small>: Bad does bad things in example.com/vuln <em>Fixed in v1.2.4.</em>`
		mit        = `<ul><li>MIT <small>(LICENSE)</small></li></ul>`
	)
	// The licenses are detected in the background at start (Reconcile).
	v123 := waitForPage(t, mv+"/ui/"+mod+"@v1.2.3", mit)
	for _, want := range []string{vulnLink, `<span class="verdict warn">warn</span><br><small>GO-2099-0001 (fixed in v1.2.4)</small>`} {
		if !strings.Contains(v123, want) {
			t.Errorf("the page of v1.2.3 lacks %s", want)
		}
	}
	v130 := waitForPage(t, mv+"/ui/"+mod+"@v1.3.0", mit)
	for _, want := range []string{deny, `<p class="ok">No known vulnerabilities.</p>`} {
		if !strings.Contains(v130, want) {
			t.Errorf("the page of v1.3.0 lacks %s", want)
		}
	}
	_, _, modPage := getHeader(t, mv+"/ui/"+mod)
	if !strings.Contains(modPage, `<th scope="col">Policy</th>`) || !strings.Contains(modPage, `v1.3.0</a></td>`) ||
		!strings.Contains(modPage, deny) || !strings.Contains(modPage, `<span class="verdict allow">allow</span>`) {
		t.Errorf("the module page lacks the policy column with v1.3.0 denied and v1.2.4 allowed:\n%s", modPage)
	}

	// The events: the refusal highlighted, the warning with the policy's line.
	events := waitForPage(t, mv+"/ui/events?module="+mod+"&result=warned", `<span class="result warned">warned</span>`)
	if !strings.Contains(events, "modvault policy: example.com/vuln@v1.2.3 warning: GO-2099-0001 (fixed in v1.2.4)") {
		t.Errorf("the warned event lacks the policy's line:\n%s", events)
	}
	denied := waitForPage(t, mv+"/ui/events?module="+mod+"&result=denied", `<span class="result denied">denied</span>`)
	if !strings.Contains(denied, `<tr class="refused">`) || !strings.Contains(denied, "modvault policy: example.com/vuln@v1.3.0 denied: "+denyReason) {
		t.Errorf("the denied event lacks the highlight or the rule:\n%s", denied)
	}
}

// waitForPage GETs u until it answers 200 holding want, and returns it.
func waitForPage(t *testing.T, u, want string) string {
	t.Helper()
	var body string
	waitFor(t, func() string {
		var status int
		status, _, body = getHeader(t, u)
		if status != http.StatusOK || !strings.Contains(body, want) {
			return u + " lacks " + want
		}
		return ""
	})
	return body
}
