package httperr_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/httperr"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// TestPolicyRefusalIsItsOwnLine: a policy refusal is a 403 (never a 404
// or 410, which a client's GOPROXY list falls through on) whose text is
// exactly the policy's line, however the error was wrapped on its way up.
func TestPolicyRefusalIsItsOwnLine(t *testing.T) {
	const line = "modvault policy: example.com/x@v1.2.3 denied: GO-2099-0001 (fixed in v1.2.4)"
	for _, err := range []error{
		fault.New(fault.Policy, line),
		fmt.Errorf("serving example.com/x@v1.2.3: %w", fault.New(fault.Policy, line)),
		fault.New(fault.Policy, line+"\nsecond line"),
	} {
		status, text := httperr.Status(err)
		if status != http.StatusForbidden || text != line {
			t.Errorf("Status(%q) = %d %q, want 403 %q", err, status, text, line)
		}
	}
	// Other refusals keep their prefix.
	if status, text := httperr.Status(fmt.Errorf("%w: h1 mismatch", fault.ErrVerification)); status != http.StatusForbidden || text != "forbidden: verification failed: h1 mismatch" {
		t.Errorf("a verification failure: %d %q", status, text)
	}
}
