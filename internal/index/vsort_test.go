package index

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// compareVersions is internal/catalog's order of versions.
func compareVersions(a, b string) int {
	return cmp.Or(semver.Compare(a, b), strings.Compare(a, b))
}

// TestVersionKeyOrder checks that keys sort as compareVersions does, for
// versions chosen to meet every rule of semantic version precedence, and
// that the version can be read back from its key.
func TestVersionKeyOrder(t *testing.T) {
	vs := []string{
		"v0.0.0", "v0.0.1", "v0.1.0", "v1.0.0", "v1.2.3", "v1.9.0", "v1.10.0", "v1.10.1", "v2.0.0", "v10.0.0", "v9.99.99",
		"v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11",
		"v1.0.0-rc.1", "v1.0.0-0", "v1.0.0-1", "v1.0.0-10", "v1.0.0-2", "v1.0.0-a", "v1.0.0-A", "v1.0.0-a-b", "v1.0.0-a.b.c",
		"v1.0.0-alpha.0", "v1.0.0-alpha.00a", "v1.0.0-x.7.z.92", "v1.0.0-x-y-z.-",
		"v2.0.0+incompatible", "v2.0.1+incompatible", "v2.0.0-rc.1+incompatible",
		"v0.0.0-20191109021931-daa7c04131f5", "v0.0.0-20200101000000-000000000000", "v1.2.4-0.20191109021931-daa7c04131f5",
		"v1.2.3-pre.0.20191109021931-daa7c04131f5", "v12345678901234567890.0.0", "v123456789012345678901.0.0",
		"v1", "v1.2", "bad", "", "v1.0.0-", "vx",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(vs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		byKey := slices.Clone(shuffled)
		slices.SortFunc(byKey, func(a, b string) int { return strings.Compare(versionKey(a), versionKey(b)) })
		want := slices.Clone(shuffled)
		slices.SortFunc(want, compareVersions)
		if !slices.Equal(byKey, want) {
			t.Fatalf("sorted by versionKey:\n%q\nwant (semver order):\n%q", byKey, want)
		}
	}
	for _, v := range vs {
		if got := versionOfKey(versionKey(v)); got != v {
			t.Errorf("versionOfKey(versionKey(%q)) = %q", v, got)
		}
	}
}

func FuzzVersionKey(f *testing.F) {
	f.Add("v1.0.0", "v1.0.0-rc.1")
	f.Add("v1.0.0-1", "v1.0.0-a")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsRune(a, ' ') || strings.ContainsRune(b, ' ') {
			return // no version has a space
		}
		got := strings.Compare(versionKey(a), versionKey(b))
		if want := compareVersions(a, b); got != want {
			t.Errorf("versionKey order of %q, %q = %d, compareVersions = %d", a, b, got, want)
		}
	})
}
