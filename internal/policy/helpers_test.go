package policy_test

import (
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/policy"
)

// mv parses "path@version".
func mv(s string) module.Version {
	p, v, _ := strings.Cut(s, "@")
	return module.Version{Path: p, Version: v}
}

func newEngine(t testing.TB, cfg policy.Config, src policy.Sources) *policy.Engine {
	t.Helper()
	e, err := policy.New(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
