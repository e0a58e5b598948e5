package checksumdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

// grow adds records to the database until it holds n, by looking up
// modules in it directly, as other users of the database do.
func (d *testDatabase) grow(t *testing.T, n int64) {
	t.Helper()
	for i := d.size(t); i < n; i++ {
		resp, err := http.Get(fmt.Sprintf("%s/sumdb/%s/lookup/example.com/fill/m%d@v1.0.0", d.URL, testDB, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("lookup in the test database: %s", resp.Status)
		}
	}
}

// latest returns the database's signed tree head, as a client asking it
// directly learns it.
func (d *testDatabase) latest(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get(d.URL + "/sumdb/" + testDB + "/latest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("latest from the test database: %s %v", resp.Status, err)
	}
	return b
}

func (d *testDatabase) size(t *testing.T) int64 {
	t.Helper()
	return treeOf(t, d.vkey, d.latest(t)).N
}

// treeOf opens a signed tree head.
func treeOf(t *testing.T, vkey string, msg []byte) tlog.Tree {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("tree head %q: %v", msg, err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// startVerifyingProxy serves a Proxy for the database with v as its
// verifier, over v's store.
func startVerifyingProxy(t *testing.T, d *testDatabase, v *Verifier) string {
	t.Helper()
	up := upstream.New([]upstream.Proxy{{URL: d.URL}}, upstream.Options{})
	srv := httptest.NewServer(New([]string{testDB}, up, v.ops.store, slog.New(slog.NewTextHandler(io.Discard, nil)), v))
	t.Cleanup(srv.Close)
	return srv.URL
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// goClient is a go command's checksum database client: golang.org/x/mod's
// sumdb.Client reading the database through a proxy (proxyURL), with
// nothing cached but the newest tree head it saw (GOPATH/pkg/sumdb).
type goClient struct {
	proxyURL string
	vkey     string

	mu         sync.Mutex
	latest     []byte
	misbehaved string
}

func (c *goClient) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(c.proxyURL + "/sumdb/" + testDB + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("reading %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, err
}

func (c *goClient) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(c.vkey), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest, nil
}

func (c *goClient) WriteConfig(file string, old, new []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(c.latest, old) {
		return sumdb.ErrWriteConflict
	}
	c.latest = new
	return nil
}

func (c *goClient) ReadCache(file string) ([]byte, error) { return nil, errors.New("no cache") }
func (c *goClient) WriteCache(file string, data []byte)   {}
func (c *goClient) Log(msg string)                        {}
func (c *goClient) SecurityError(msg string)              { c.misbehaved = msg }

// verifiesOffline reports whether a go command that holds the tree head
// head verifies path@version through the proxy at proxyURL.
func verifiesOffline(t *testing.T, proxyURL, vkey string, head []byte, path, version string) error {
	t.Helper()
	c := &goClient{proxyURL: proxyURL, vkey: vkey, latest: head}
	_, err := sumdb.NewClient(c).Lookup(path, version)
	if c.misbehaved != "" {
		t.Errorf("the go command saw a misbehaving database: %s", c.misbehaved)
	}
	return err
}

// TestRefreshKeepsTilesForEveryHeadInBetween: a go command that learned a
// tree head from the database directly, newer than modvault's, and holding
// on to it, verifies what modvault stored once modvault refreshed and the
// upstream is gone, whichever head it holds: modvault stored the tiles
// that changed between the heads it followed, not only the ones proving
// them consistent.
func TestRefreshKeepsTilesForEveryHeadInBetween(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	mv := startVerifyingProxy(t, d, v)
	ctx := context.Background()
	if code, body := httpGet(t, mv+"/sumdb/"+testDB+"/lookup/example.com/m@v1.0.0"); code != http.StatusOK {
		t.Fatalf("lookup through modvault: %d %s", code, body)
	}
	d.grow(t, 150)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	followed := d.latest(t)
	// Heads in other level-0 tiles than modvault's, and a level-1 tile
	// wider than at modvault's last head.
	d.grow(t, 300)
	direct300 := d.latest(t)
	d.grow(t, 450)
	direct450 := d.latest(t)
	d.grow(t, 600)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	newest := d.latest(t)
	if code, body := httpGet(t, mv+"/sumdb/"+testDB+"/latest"); code != http.StatusOK || !bytes.Equal(body, newest) {
		t.Errorf("/latest through modvault: %d %q, want the database's newest head %q", code, body, newest)
	}
	d.srv.Close()

	if code, body := httpGet(t, mv+"/sumdb/"+testDB+"/latest"); code != http.StatusOK || !bytes.Equal(body, newest) {
		t.Errorf("/latest through modvault without the upstream: %d %q, want %q", code, body, newest)
	}
	for _, head := range [][]byte{nil, followed, direct300, direct450, newest} {
		n := int64(0)
		if head != nil {
			n = treeOf(t, d.vkey, head).N
		}
		if err := verifiesOffline(t, mv, d.vkey, head, "example.com/m", "v1.0.0"); err != nil {
			t.Errorf("a go command holding tree#%d, upstream gone: %v", n, err)
		}
	}
}

// TestRefreshRefusesAnInconsistentHead: a newer head that does not extend
// the stored one is a fork: Refresh says so (ErrSecurity), fills stop as
// for a fork a lookup meets, nothing of the forked tree is stored, and
// /latest keeps serving the old verified head.
func TestRefreshRefusesAnInconsistentHead(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	mv := startVerifyingProxy(t, d, v)
	ctx := context.Background()
	d.grow(t, 3)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	old := d.latest(t)
	before := snapshot(t, st)

	d.forked.Store(true)
	d.grow(t, 5) // the other tree, signed with the same key
	if err := v.Refresh(ctx); !errors.Is(err, ErrSecurity) {
		t.Fatalf("Refresh to a forked head = %v, want ErrSecurity", err)
	}
	if after := snapshot(t, st); !maps.Equal(before, after) {
		t.Errorf("the store changed after a forked head was refused:\nbefore %q\nafter  %q", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	if code, body := httpGet(t, mv+"/sumdb/"+testDB+"/latest"); code != http.StatusOK || !bytes.Equal(body, old) {
		t.Errorf("/latest after a forked head: %d %q, want the old head %q", code, body, old)
	}
	if err := v.Check(ctx, "example.com/m", "v1.0.0", "h1:0"+strings.Repeat("A", 42)); !errors.Is(err, ErrSecurity) {
		t.Errorf("Check after a forked head = %v, want ErrSecurity", err)
	}
	if err := v.Refresh(ctx); !errors.Is(err, ErrSecurity) {
		t.Errorf("Refresh after a forked head = %v, want ErrSecurity", err)
	}
}

// TestRefreshRefusesAHeadNotSignedByTheKey: an upstream head signed by
// another key is a bad answer, not a fork: refused, the stored head stays,
// verification goes on.
func TestRefreshRefusesAHeadNotSignedByTheKey(t *testing.T) {
	d := newTestDatabase(t)
	impostor := newTestDatabase(t) // same name, another key
	impostor.grow(t, 3)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.grow(t, 2)
	first := newTestVerifier(t, d, st)
	if err := first.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first.WaitWrites(ctx) // its tiles are written in the background
	before := snapshot(t, st)
	up := upstream.New([]upstream.Proxy{{URL: impostor.URL}}, upstream.Options{})
	v, err := NewVerifier(d.vkey, up, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	err = v.Refresh(ctx)
	if err == nil || errors.Is(err, ErrSecurity) || fault.Of(err) != fault.BadUpstream {
		t.Errorf("Refresh to a head signed by another key = %v, want a bad upstream answer", err)
	}
	if after := snapshot(t, st); !maps.Equal(before, after) {
		t.Errorf("the store changed after a head signed by another key")
	}
	if v.ops.forked.Load() {
		t.Error("a head signed by another key was taken for a fork")
	}
}

// TestFollowStoresTilesOfHeadsPassedInLookups: a lookup that passes a newer
// head on to a client makes Follow refresh soon, so that a go command that
// learned a head in between from the database directly verifies through
// modvault once the upstream is gone.
func TestFollowStoresTilesOfHeadsPassedInLookups(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	mv := startVerifyingProxy(t, d, v)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.Follow(ctx, FollowOptions{Every: time.Hour, Soon: time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the first refresh", func() bool { return d.latests.Load() == 1 })

	d.grow(t, 300)
	direct := d.latest(t)
	d.grow(t, 600)
	if code, body := httpGet(t, mv+"/sumdb/"+testDB+"/lookup/example.com/new@v1.0.0"); code != http.StatusOK {
		t.Fatalf("lookup through modvault: %d %s", code, body)
	}
	waitFor(t, "a refresh after the lookup", func() bool {
		b, err := st.ReadAll(ctx, "sumdb/"+testDB+"/mirrored")
		return err == nil && string(b) == "601"
	})
	d.srv.Close()
	if err := verifiesOffline(t, mv, d.vkey, direct, "example.com/new", "v1.0.0"); err != nil {
		t.Errorf("a go command holding tree#300, upstream gone: %v", err)
	}
}

// TestFollowStopsWhenCtxEnds: Follow refreshes every Every until its
// context ends, then returns, and no refresh happens after.
func TestFollowStopsWhenCtxEnds(t *testing.T) {
	d := newTestDatabase(t)
	st, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, d, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		All{v}.Follow(ctx, FollowOptions{Every: 5 * time.Millisecond})
	}()
	waitFor(t, "three refreshes", func() bool { return d.latests.Load() >= 3 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after its context ended")
	}
	n := d.latests.Load()
	time.Sleep(50 * time.Millisecond)
	if got := d.latests.Load(); got != n {
		t.Errorf("%d refreshes after Follow returned", got-n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// snapshot returns every object in the store.
func snapshot(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	var names []string
	if err := st.Walk(ctx, "", func(e store.Entry) bool { names = append(names, e.Key); return true }); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, k := range names {
		b, err := st.ReadAll(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = string(b)
	}
	return m
}
