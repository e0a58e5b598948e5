package pattern

import (
	"os"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func TestRank(t *testing.T) {
	for glob, want := range map[string]Specificity{
		"*":                   {1, 0},
		"git.corp.example":    {1, 16},
		"*.corp.example/t?am": {2, 17},
		"a[bc]d":              {1, 2},
		`a\*b`:                {1, 3},
		"[]":                  {1, 0},
	} {
		if got := Rank(glob); got != want {
			t.Errorf("Rank(%q) = %+v, want %+v", glob, got, want)
		}
	}
	if !Rank("a.example/x").MoreThan(Rank("*.example/*")) || Rank("a.example/*").MoreThan(Rank("a.example/x")) || Rank("x").MoreThan(Rank("x")) {
		t.Error("MoreThan: more literal characters, and more elements, must win; a tie must not")
	}
}

func TestCheck(t *testing.T) {
	for p, want := range map[string]string{
		"":               "empty pattern",
		"a.com,b.com":    "one pattern per rule",
		"/a.com":         "module path prefix",
		"a.com//x":       "module path prefix",
		"a.com/x@v1":     "no spaces and no @",
		"a.com/[":        "element",
		"*.corp.example": "",
	} {
		err := Check(p)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Check(%q) = %v, want an error containing %q", p, err, want)
		}
	}
}
