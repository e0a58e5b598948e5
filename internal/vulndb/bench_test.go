package vulndb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

// bigMirror mirrors a database the size of the Go database (4000
// entries over 1000 modules, each module in 4 entries of two ranges) into
// a new store.
func bigMirror(b *testing.B) *store.Store {
	b.Helper()
	var entries []string
	for i := range 4000 {
		mod := fmt.Sprintf("example.com/m%d", i%1000)
		entries = append(entries, fmt.Sprintf(`{"schema_version":"1.3.1","id":"GO-2099-%04d","modified":"2099-01-02T00:00:00Z","published":"2099-01-01T00:00:00Z","aliases":["CVE-2099-%04d"],"summary":"Vulnerability %d","details":"Details.","affected":[{"package":{"name":%q,"ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.%d.0"},{"introduced":"2.0.0"},{"fixed":"2.%d.1"}]}],"ecosystem_specific":{"imports":[{"path":%q,"symbols":["F"]}]}}],"database_specific":{"url":"https://example.com/GO-2099-%04d"}}`,
			i, i, i, mod, i/1000+1, i/1000, mod, i))
	}
	dir := writeDB(b, b.TempDir(), entries...)
	st, err := store.Open(context.Background(), fileURL(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := vulndb.Mirror(context.Background(), fileURL(dir), st); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkVulns measures the check a request makes.
func BenchmarkVulns(b *testing.B) {
	st := bigMirror(b)
	db, err := vulndb.Load(context.Background(), st, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, mod, version string }{
		{"affected", "example.com/m7", "v1.0.0"},
		{"not-affected", "example.com/m7", "v2.9.9"},
		{"module-not-in-db", "example.com/other", "v1.0.0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				db.Vulns(bc.mod, bc.version)
			}
		})
	}
}

// BenchmarkLoad measures loading the whole mirror, and reloading it with
// the previous DB when nothing changed.
func BenchmarkLoad(b *testing.B) {
	st := bigMirror(b)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := vulndb.Load(ctx, st, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	prev, err := vulndb.Load(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reuse", func(b *testing.B) {
		for b.Loop() {
			if _, err := vulndb.Load(ctx, st, prev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
