package index

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// backend is a kind of database the conformance suite runs against.
type backend struct {
	name string
	// newDSN returns the data source name of a new, empty database.
	newDSN func(t *testing.T) string
	// pg is the PostgreSQL server of the postgres backend.
	pg *testserver.PostgreSQL
}

// backends returns SQLite (a file in a temporary directory) and PostgreSQL
// (a real server, started for the calling test, a new database per DSN).
func backends(t *testing.T) []*backend {
	pg := &backend{name: "postgres"}
	pg.newDSN = func(t *testing.T) string {
		if pg.pg == nil {
			t.Fatal("no PostgreSQL server") // started by the caller of backends
		}
		return pg.pg.NewDatabase(t)
	}
	return []*backend{
		{name: "sqlite", newDSN: func(t *testing.T) string { return filepath.Join(t.TempDir(), "index.sqlite") }},
		pg,
	}
}

// run runs fn for each backend, in a subtest named after it; the
// PostgreSQL server is started once, in the postgres subtest.
func runBackends(t *testing.T, fn func(t *testing.T, b *backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "postgres" {
				b.pg = testserver.Postgres(t)
			}
			fn(t, b)
		})
	}
}

// open opens the index dsn with opts, or fails t, and closes it at the
// end of the test.
func open(t testing.TB, dsn string, opts Options) *Index {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

// dbName returns the database's name in a PostgreSQL URL.
func dbName(t testing.TB, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// sample returns a version recorded from an upstream, verified, with a
// zip, stored at t.
func sample(path, version string, t time.Time) Version {
	h := func(s string) string { return fmt.Sprintf("%064x", len(s)+len(path)+len(version)) }
	return Version{
		Path:     path,
		Version:  version,
		StoredAt: t,
		Source:   Source{Kind: SourceUpstream, Upstream: "http://127.0.0.1:9/proxy"},
		Info:     File{Size: 60, SHA256: h("info")},
		Mod:      File{Size: 30, SHA256: h("mod")},
		Zip:      &File{Size: 1234, SHA256: h("zip")},
		ModH1:    "h1:mod" + version + "=",
		ZipH1:    "h1:zip" + version + "=",
		Proof:    &Proof{DB: "sum.example.test", Record: 42, TreeSize: 1000},
	}
}

// ctx returns a context for one step of a test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}
