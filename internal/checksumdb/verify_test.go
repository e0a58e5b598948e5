package checksumdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

const testDB = "sum.verify.test"

// testDatabase serves one or two checksum databases signed with the same
// key under /sumdb/testDB/; fork switches to the second, whose records
// differ: to a client that saw the first, a forked tree.
type testDatabase struct {
	vkey   string
	dbs    [2]http.Handler
	forked atomic.Bool
	URL    string
	srv    *httptest.Server
	// latests counts the requests for /latest.
	latests atomic.Int64
}

func newTestDatabase(t *testing.T) *testDatabase {
	t.Helper()
	return newNamedTestDatabase(t, testDB, func(string) bool { return true })
}

// newNamedTestDatabase serves database name, which knows the modules
// whose path knows accepts.
func newNamedTestDatabase(t *testing.T, name string, knows func(path string) bool) *testDatabase {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDatabase{vkey: vkey}
	for i := range d.dbs {
		gosum := func(path, vers string) ([]byte, error) {
			if !knows(path) {
				return nil, &fs.PathError{Op: "lookup", Path: path, Err: fs.ErrNotExist}
			}
			// Database i records hash "h1:<i>…" for every version.
			h := fmt.Sprintf("h1:%d%s", i, strings.Repeat("A", 42))
			return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", path, vers, h, path, vers, h), nil
		}
		d.dbs[i] = http.StripPrefix("/sumdb/"+name, sumdb.NewServer(sumdb.NewTestServer(skey, gosum)))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := 0
		if d.forked.Load() {
			i = 1
		}
		if strings.HasSuffix(r.URL.Path, "/latest") {
			d.latests.Add(1)
		}
		d.dbs[i].ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d.URL, d.srv = srv.URL, srv
	return d
}

func newTestVerifier(t *testing.T, d *testDatabase, st *store.Store) *Verifier {
	t.Helper()
	up := upstream.New([]upstream.Proxy{{URL: d.URL}}, upstream.Options{})
	v, err := NewVerifier(d.vkey, up, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifierChecksHashes(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	ctx := context.Background()
	good := "h1:0" + strings.Repeat("A", 42)
	if err := v.Check(ctx, "example.com/m", "v1.0.0", good); err != nil {
		t.Errorf("Check with the recorded hash: %v", err)
	}
	if err := v.Check(ctx, "example.com/m", "v1.0.0/go.mod", good); err != nil {
		t.Errorf("Check of the .mod with the recorded hash: %v", err)
	}
	bad := "h1:" + strings.Repeat("B", 43)
	err = v.Check(ctx, "example.com/m", "v1.0.0", bad)
	var me *MismatchError
	if !errors.As(err, &me) || !errors.Is(err, ErrMismatch) || me.Got != bad || me.Want != good {
		t.Errorf("Check with another hash = %v, want a MismatchError naming both hashes", err)
	}
	// The verified tree head is kept in the store, for the next start.
	if b, err := st.ReadAll(ctx, "sumdb/"+testDB+"/latest"); err != nil || !strings.Contains(string(b), "go.sum database tree") {
		t.Errorf("stored latest tree: %q, %v", b, err)
	}
}

// TestVerifierStopsOnFork: a database that signs a tree inconsistent with
// one the verifier saw before (even before a restart: the tree is kept in
// the store) is reported, and from then on every check fails with
// ErrSecurity; the process does not exit.
func TestVerifierStopsOnFork(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := newTestVerifier(t, d, st)
	if err := first.Check(ctx, "example.com/m", "v1.0.0", "h1:0"+strings.Repeat("A", 42)); err != nil {
		t.Fatal(err)
	}

	// A new verifier (a restart, after the first one's background writes,
	// as modvault's Close waits for them) over the same store meets a
	// forked tree.
	first.WaitWrites(ctx)
	d.forked.Store(true)
	v := newTestVerifier(t, d, st)
	err = v.Check(ctx, "example.com/other", "v1.0.0", "h1:1"+strings.Repeat("A", 42))
	if !errors.Is(err, ErrSecurity) {
		t.Fatalf("Check against a forked tree = %v, want ErrSecurity", err)
	}
	if err := v.Check(ctx, "example.com/third", "v1.0.0", "h1:1"+strings.Repeat("A", 42)); !errors.Is(err, ErrSecurity) {
		t.Errorf("Check after a fork was seen = %v, want ErrSecurity", err)
	}
}

// TestPartialTilesCutFromStoredTiles: with the upstream gone, a partial
// tile the store lacks is cut from a stored full tile, or from a stored
// longer partial tile, whose first hashes are the same; with neither, 404,
// so the go command falls back to the full tile.
func TestPartialTilesCutFromStoredTiles(t *testing.T) {
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	full := make([]byte, 256*32)
	for i := range full {
		full[i] = byte(i * 7)
	}
	put := func(key string, b []byte) {
		if err := st.Create(ctx, "sumdb/"+testDB+"/"+key, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	put("tile/8/0/000", full)
	put("tile/8/1/000.p/9", full[:9*32])
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p := New([]string{testDB}, upstream.New([]upstream.Proxy{{URL: dead.URL}}, upstream.Options{}), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path string
		want []byte // nil: 404
	}{
		{"tile/8/0/000.p/5", full[:5*32]},
		{"tile/8/0/000", full},
		{"tile/8/1/000.p/3", full[:3*32]},
		{"tile/8/1/000.p/12", nil},
		{"tile/8/0/001.p/5", nil},
	} {
		resp, err := http.Get(srv.URL + "/sumdb/" + testDB + "/" + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case c.want == nil && resp.StatusCode == http.StatusOK:
			t.Errorf("%s: 200 with %d bytes, want no answer (nothing stored covers it)", c.path, len(body))
		case c.want != nil && (resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want)):
			t.Errorf("%s: %d with %d bytes, want 200 with the first %d bytes of the stored tile", c.path, resp.StatusCode, len(body), len(c.want))
		}
	}
}

// TestAllNeedsOneRecordAndNoDisagreement: with several databases, a hash
// recorded by one of them passes even if the others have no record; a
// disagreement fails; no record anywhere cannot be verified.
func TestAllNeedsOneRecordAndNoDisagreement(t *testing.T) {
	public := newNamedTestDatabase(t, "sum.public.test", func(p string) bool { return !strings.Contains(p, "private") })
	private := newNamedTestDatabase(t, "sum.private.test", func(p string) bool { return strings.Contains(p, "private") || strings.Contains(p, "both") })
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	all := All{newTestVerifier(t, public, st), newTestVerifier(t, private, st)}
	ctx := context.Background()
	good := "h1:0" + strings.Repeat("A", 42)
	for _, path := range []string{"example.com/public", "example.com/private", "example.com/both"} {
		if err := all.Check(ctx, path, "v1.0.0", good); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if err := all.Check(ctx, "example.com/both", "v1.1.0", "h1:"+strings.Repeat("B", 43)); !errors.Is(err, ErrMismatch) {
		t.Errorf("a hash both databases disagree with: %v, want ErrMismatch", err)
	}
	nobody := newNamedTestDatabase(t, "sum.nobody.test", func(string) bool { return false })
	if err := (All{newTestVerifier(t, nobody, st)}).Check(ctx, "example.com/x", "v1.0.0", good); !errors.Is(err, ErrUnverifiable) {
		t.Errorf("no database has a record: %v, want ErrUnverifiable", err)
	}
}

// TestOnlyVerifiedAnswersAreStored: with a verifier for the database, a
// lookup asked through the proxy is made by the verifier and stored once
// authenticated, while upstream answers the verifier did not check (a tile
// asked for directly) pass through without being stored: the store is the
// verifier's trusted cache.
func TestOnlyVerifiedAnswersAreStored(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	up := upstream.New([]upstream.Proxy{{URL: d.URL}}, upstream.Options{})
	srv := httptest.NewServer(New([]string{testDB}, up, st, slog.New(slog.NewTextHandler(io.Discard, nil)), v))
	t.Cleanup(srv.Close)
	get := func(path string) int {
		resp, err := http.Get(srv.URL + "/sumdb/" + testDB + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx := context.Background()
	// The tree has one record once something was looked up in the test
	// database; ask for its tile before the verifier saw anything.
	if err := v.Check(ctx, "example.com/seed", "v1.0.0", "h1:0"+strings.Repeat("A", 42)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Exists(ctx, "sumdb/"+testDB+"/tile/8/0/000.p/2"); ok {
		t.Fatal("tile stored before it was asked for")
	}
	if code := get("lookup/example.com/m@v1.0.0"); code != http.StatusOK {
		t.Fatalf("lookup through the proxy: %d", code)
	}
	if ok, _ := st.Exists(ctx, "sumdb/"+testDB+"/lookup/example.com/m@v1.0.0"); !ok {
		t.Error("a lookup made through the verifier was not stored")
	}
	if code := get("tile/8/data/000.p/2"); code != http.StatusOK {
		t.Fatalf("tile through the proxy: %d", code)
	}
	if ok, _ := st.Exists(ctx, "sumdb/"+testDB+"/tile/8/data/000.p/2"); ok {
		t.Error("an upstream tile the verifier did not check was stored")
	}
}

// TestCheckedAnswersReachTheStore: the lookups and tiles a Check
// authenticated are written in the background; once WaitWrites returns
// they are in the store, so a later start (or a go command once the
// upstream is gone) has them without asking the upstream, and a new
// verifier over the same store checks without reading any of them again.
func TestCheckedAnswersReachTheStore(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	ctx := context.Background()
	good := "h1:0" + strings.Repeat("A", 42)
	for _, m := range []string{"example.com/a", "example.com/b", "example.com/c"} {
		if err := v.Check(ctx, m, "v1.0.0", good); err != nil {
			t.Fatal(err)
		}
	}
	v.WaitWrites(ctx)
	for _, k := range []string{"sumdb/" + testDB + "/lookup/example.com/a@v1.0.0", "sumdb/" + testDB + "/lookup/example.com/c@v1.0.0"} {
		if ok, err := st.Exists(ctx, k); !ok || err != nil {
			t.Errorf("%s not stored after WaitWrites (%v)", k, err)
		}
	}
	var tiles []string
	if err := st.Walk(ctx, "sumdb/"+testDB+"/tile/", func(e store.Entry) bool { tiles = append(tiles, e.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if len(tiles) == 0 {
		t.Error("no tile stored after WaitWrites")
	}
	d.srv.Close()
	v2 := newTestVerifier(t, d, st)
	if err := v2.Check(ctx, "example.com/b", "v1.0.0", good); err != nil {
		t.Errorf("a new verifier over the same store, upstream gone: %v", err)
	}
}
