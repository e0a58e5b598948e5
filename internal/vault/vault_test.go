package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/lock"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

const modM = "example.com/m"

// moduleM returns example.com/m@v1.0.0 with files, or a small default module.
func moduleM(files map[string]string) proxytest.Module {
	if files == nil {
		files = map[string]string{
			"go.mod": "module example.com/m\n\ngo 1.22\n",
			"m.go":   "package m\n\nconst V = 1\n",
		}
	}
	return proxytest.Module{Path: modM, Version: "v1.0.0", Files: files}
}

// TestColdMissMakesOneUpstreamRequestPerFile starts many concurrent requests
// for the .info, .mod and .zip of one version that is not stored yet: the
// upstream sees exactly one request for each file, and every caller gets the
// right bytes.
func TestColdMissMakesOneUpstreamRequestPerFile(t *testing.T) {
	m := moduleM(nil)
	m.Large = 256 << 10
	up := proxytest.New(t, m)
	up.SetDelay(50 * time.Millisecond)
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})

	kinds := []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip}
	wantZip := up.ZipBytes(modM, "v1.0.0")
	// The requests arrive over the whole fill (three upstream answers, each
	// delayed), as they would from many clients: some while nothing is
	// stored, some while the fill is storing, some as it ends.
	const n = 100
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		kind := kinds[i%len(kinds)]
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			b, _, err := openBytes(v, modM, "v1.0.0", kind)
			switch {
			case err != nil:
				t.Errorf("Open %s: %v", kind, err)
			case kind == protocol.Info && infoVersion(t, b) != "v1.0.0":
				t.Errorf(".info = %s", b)
			case kind == protocol.Mod && string(b) != m.Files["go.mod"]:
				t.Errorf(".mod = %q", b)
			case kind == protocol.Zip && !bytes.Equal(b, wantZip):
				t.Errorf(".zip: got %d bytes that differ from the upstream's %d", len(b), len(wantZip))
			}
		})
	}
	close(start)
	wg.Wait()
	for _, kind := range kinds {
		if got := up.Requests(reqPath(modM, "v1.0.0", kind)); got != 1 {
			t.Errorf("%d concurrent cold requests made %d upstream requests for the %s, want 1", n, got, kind)
		}
	}
}

// TestColdListAndLatestMakeOneUpstreamRequest does the same for list and
// @latest, which are not stored but cached briefly.
func TestColdListAndLatestMakeOneUpstreamRequest(t *testing.T) {
	up := proxytest.New(t, moduleM(nil), proxytest.Module{Path: modM, Version: "v1.1.0"})
	up.SetDelay(50 * time.Millisecond)
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})

	const n = 100
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(i) * 500 * time.Microsecond) // over the fill
			if i%2 == 0 {
				vers, _, err := v.List(context.Background(), modM)
				if err != nil || !slices.Equal(vers, []string{"v1.0.0", "v1.1.0"}) {
					t.Errorf("List = %q, %v", vers, err)
				}
				return
			}
			body, _, err := v.Latest(context.Background(), modM)
			if err != nil || infoVersion(t, body) != "v1.1.0" {
				t.Errorf("Latest = %s, %v", body, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, p := range []string{"/" + modM + "/@v/list", "/" + modM + "/@latest"} {
		if got := up.Requests(p); got != 1 {
			t.Errorf("%d concurrent cold requests made %d upstream requests for %s, want 1", n/2, got, p)
		}
	}
}

// TestStoredVersionIsImmutable checks that once a version is stored, the
// upstream moving or deleting its tag changes nothing the vault returns.
func TestStoredVersionIsImmutable(t *testing.T) {
	up := proxytest.New(t, moduleM(nil))
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{ListTTL: time.Nanosecond})

	kinds := []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip}
	orig := make(map[protocol.Kind][]byte)
	for _, kind := range kinds {
		orig[kind] = mustOpen(t, v, modM, "v1.0.0", kind)
	}
	before := up.TotalRequests()

	check := func(when string) {
		t.Helper()
		for _, kind := range kinds {
			b, src, err := openBytes(v, modM, "v1.0.0", kind)
			if err != nil {
				t.Fatalf("%s: Open %s: %v", when, kind, err)
			}
			if !bytes.Equal(b, orig[kind]) {
				t.Errorf("%s: the %s changed", when, kind)
			}
			if src != vault.Hit {
				t.Errorf("%s: the %s came from %q, want %q", when, kind, src, vault.Hit)
			}
		}
		if vers, _, err := v.List(context.Background(), modM); err != nil || !slices.Contains(vers, "v1.0.0") {
			t.Errorf("%s: List = %q, %v; want it to include the stored v1.0.0", when, vers, err)
		}
	}

	// The tag moves to a commit with another go.mod and other code.
	up.Add(moduleM(map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.23\n\nrequire example.com/evil v1.0.0\n",
		"m.go":   "package m\n\nconst V = 666\n",
	}))
	check("after the tag moved")
	// The tag is deleted.
	up.Remove(modM, "v1.0.0")
	check("after the tag was deleted")
	if got := up.TotalRequests() - before; got != 2 {
		// Only the two list requests; nothing about v1.0.0 itself.
		t.Errorf("serving a stored version made %d upstream requests, want 2 (the lists)", got)
	}
}

// TestModWithoutInfoIsNotAVersion simulates a crash between the writes of
// a .mod and its .info: the lone .mod is not served, listed or used as
// latest, and a later fill stores the version correctly.
func TestModWithoutInfoIsNotAVersion(t *testing.T) {
	m := moduleM(nil)
	up := proxytest.New(t, m)
	st, _ := fileStore(t)
	ctx := context.Background()
	stale := "module example.com/m\n\ngo 1.21 // written by a fill that crashed\n"
	if err := st.Create(ctx, key(t, modM, "v1.0.0", protocol.Mod), bytes.NewReader([]byte(stale))); err != nil {
		t.Fatal(err)
	}

	// While the upstream fails, the lone .mod is no version.
	up.SetFail(func(*http.Request) (int, bool) { return http.StatusBadGateway, true })
	v := newVault(t, up.URL, st, vault.Options{ListTTL: time.Nanosecond})
	for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
		if b, _, err := openBytes(v, modM, "v1.0.0", kind); err == nil {
			t.Errorf("with only a .mod stored and the upstream failing, Open %s = %q, want an error", kind, b)
		}
	}
	if vers, _, err := v.List(ctx, modM); err == nil && slices.Contains(vers, "v1.0.0") {
		t.Errorf("List = %q: lists a version that has no .info", vers)
	}
	if body, _, err := v.Latest(ctx, modM); err == nil {
		t.Errorf("Latest = %s: answers from a version that has no .info", body)
	}

	// The upstream is back: the version is filled with the upstream's .mod.
	up.SetFail(nil)
	if got := mustOpen(t, v, modM, "v1.0.0", protocol.Mod); string(got) != m.Files["go.mod"] {
		t.Errorf(".mod after the fill = %q, want the upstream's %q", got, m.Files["go.mod"])
	}
	if got := mustOpen(t, v, modM, "v1.0.0", protocol.Info); infoVersion(t, got) != "v1.0.0" {
		t.Errorf(".info after the fill = %s", got)
	}
	if got := mustOpen(t, v, modM, "v1.0.0", protocol.Zip); !bytes.Equal(got, up.ZipBytes(modM, "v1.0.0")) {
		t.Errorf(".zip after the fill differs from the upstream's")
	}
	up.Close()
	if vers, _, err := v.List(ctx, modM); err != nil || !slices.Equal(vers, []string{"v1.0.0"}) {
		t.Errorf("offline List after the fill = %q, %v", vers, err)
	}
}

// Versions for the offline tests: releases, pre-releases, pseudo-versions.
const (
	pseudoLow  = "v0.0.0-20240102030405-abcdefabcdef"
	pseudoHigh = "v1.9.1-0.20240102030405-abcdefabcdef" // above every other version here
)

// TestOffline fills some versions, closes the upstream, and checks what the
// vault still answers from the store alone.
func TestOffline(t *testing.T) {
	mods := map[string][]string{
		"example.com/rel":    {"v1.0.0", "v1.1.0", "v1.2.0-rc.1", pseudoLow, pseudoHigh},
		"example.com/pre":    {"v1.0.0-alpha", "v1.1.0-beta.2", pseudoLow, pseudoHigh},
		"example.com/pseudo": {pseudoLow, pseudoHigh},
	}
	up := proxytest.New(t)
	for mod, vers := range mods {
		for _, ver := range vers {
			up.Add(proxytest.Module{Path: mod, Version: ver})
		}
	}
	// A version the vault never fetched.
	up.Add(proxytest.Module{Path: "example.com/rel", Version: "v1.3.0"})
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{ListTTL: time.Nanosecond})
	for mod, vers := range mods {
		for _, ver := range vers {
			mustOpen(t, v, mod, ver, protocol.Info)
		}
	}
	mustOpen(t, v, "example.com/rel", "v1.0.0", protocol.Mod)

	// An upstream 404 is "not found".
	if _, _, err := v.Open(context.Background(), file(t, "example.com/rel", "v1.4.0", protocol.Info)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a version the upstream does not have = %v, want fs.ErrNotExist", err)
	}
	if _, _, err := v.List(context.Background(), "example.com/nosuch"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a module the upstream does not have = %v, want fs.ErrNotExist", err)
	}

	up.Close()
	ctx := context.Background()
	wantList := map[string][]string{
		"example.com/rel":    {"v1.0.0", "v1.1.0", "v1.2.0-rc.1"},
		"example.com/pre":    {"v1.0.0-alpha", "v1.1.0-beta.2"},
		"example.com/pseudo": nil,
	}
	wantLatest := map[string]string{
		"example.com/rel":    "v1.1.0",        // the highest release, not the higher pre-release or pseudo-version
		"example.com/pre":    "v1.1.0-beta.2", // the highest pre-release, not the higher pseudo-version
		"example.com/pseudo": pseudoHigh,
	}
	for _, mod := range sortedKeys(mods) {
		vers, src, err := v.List(ctx, mod)
		if err != nil {
			t.Errorf("offline List(%s): %v", mod, err)
		} else if !slices.Equal(vers, wantList[mod]) {
			t.Errorf("offline List(%s) = %q, want %q", mod, vers, wantList[mod])
		} else if src != vault.Offline {
			t.Errorf("offline List(%s) source = %q, want %q", mod, src, vault.Offline)
		}
		body, _, err := v.Latest(ctx, mod)
		if err != nil {
			t.Errorf("offline Latest(%s): %v", mod, err)
		} else if got := infoVersion(t, body); got != wantLatest[mod] {
			t.Errorf("offline Latest(%s) = %s, want %s", mod, got, wantLatest[mod])
		}
	}

	// Stored files are served; missing ones are an outage, not "not found".
	if got := mustOpen(t, v, "example.com/rel", "v1.0.0", protocol.Mod); string(got) != "module example.com/rel\n" {
		t.Errorf("offline .mod = %q", got)
	}
	for _, c := range []struct {
		ver  string
		kind protocol.Kind
	}{
		{"v1.3.0", protocol.Info}, // never fetched
		{"v1.3.0", protocol.Mod},
		{"v1.0.0", protocol.Zip}, // .info stored, .zip not
	} {
		_, _, err := v.Open(ctx, file(t, "example.com/rel", c.ver, c.kind))
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("offline Open of the uncached %s %s = %v, want an error that is not fs.ErrNotExist", c.ver, c.kind, err)
		}
	}
	if _, _, err := v.List(ctx, "example.com/nosuch"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("offline List of an unknown module = %v, want an error that is not fs.ErrNotExist", err)
	}
}

// TestListTTL checks that an upstream list answer is reused within ListTTL
// and fetched again after it.
func TestListTTL(t *testing.T) {
	up := proxytest.New(t, moduleM(nil))
	listPath := "/" + modM + "/@v/list"
	latestPath := "/" + modM + "/@latest"
	ctx := context.Background()
	list := func(v *vault.Vault) {
		t.Helper()
		if vers, _, err := v.List(ctx, modM); err != nil || !slices.Equal(vers, []string{"v1.0.0"}) {
			t.Fatalf("List = %q, %v", vers, err)
		}
		if body, _, err := v.Latest(ctx, modM); err != nil || infoVersion(t, body) != "v1.0.0" {
			t.Fatalf("Latest = %s, %v", body, err)
		}
	}

	// Within the TTL, no new upstream request.
	st, _ := fileStore(t)
	long := newVault(t, up.URL, st, vault.Options{ListTTL: time.Hour})
	list(long)
	list(long)
	if l, m := up.Requests(listPath), up.Requests(latestPath); l != 1 || m != 1 {
		t.Errorf("List and Latest twice within the TTL made %d list and %d @latest upstream requests, want 1 and 1", l, m)
	}

	// After the TTL, one new request each.
	short := newVault(t, up.URL, st, vault.Options{ListTTL: time.Millisecond})
	list(short)
	time.Sleep(10 * time.Millisecond)
	list(short)
	if l, m := up.Requests(listPath), up.Requests(latestPath); l != 3 || m != 3 {
		t.Errorf("after two more Lists and Latests, the TTL apart, the upstream got %d list and %d @latest requests in all, want 3 and 3", l, m)
	}
}

// TestLateArrivalsJoinTheFill sends requests for a zip just as its fill is
// ending (the zip has arrived and is being validated and stored): a request
// that found nothing stored and reaches the fill just after it ended must
// not start a second download.
func TestLateArrivalsJoinTheFill(t *testing.T) {
	for round := range 5 {
		ver := fmt.Sprintf("v1.0.%d", round)
		up := newFakeProxy(t)
		zip := moduleZip(t, modM, ver, map[string]string{"go.mod": "module example.com/m\n", "data.txt": strings.Repeat("data\n", 100<<10)})
		up.version(modM, ver, "module example.com/m\n", nil)
		sent := make(chan struct{})
		up.handle(reqPath(modM, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
			w.Write(zip)
			w.(http.Flusher).Flush()
			select {
			case <-sent:
			default:
				close(sent)
			}
		})
		st, _ := fileStore(t)
		v := newVault(t, up.URL, st, vault.Options{})
		mustOpen(t, v, modM, ver, protocol.Info)
		first := openAsync(v, modM, ver, protocol.Zip)
		<-sent
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 50 * time.Microsecond)
				if b, _, err := openBytes(v, modM, ver, protocol.Zip); err != nil || !bytes.Equal(b, zip) {
					t.Errorf("Open: %d bytes, %v", len(b), err)
				}
			})
		}
		wg.Wait()
		if r := <-first; r.err != nil {
			t.Fatal(r.err)
		}
		if n := up.requestsFor(reqPath(modM, ver, protocol.Zip)); n != 1 {
			t.Fatalf("round %d: requests arriving as the fill ended made %d upstream zip requests, want 1", round, n)
		}
	}
}

// TestMissingVersionIsRememberedForTheTTL: the go command asks for the same
// missing versions again and again (it probes every path prefix of an
// import), so an upstream's 404 for a version is reused for ListTTL; after
// it, a version published meanwhile is found.
func TestMissingVersionIsRememberedForTheTTL(t *testing.T) {
	up := proxytest.New(t, moduleM(nil))
	infoPath := "/" + modM + "/@v/v1.2.0.info"
	ctx := context.Background()
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{ListTTL: time.Hour})
	for range 3 {
		if _, _, err := v.Open(ctx, file(t, modM, "v1.2.0", protocol.Info)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open of a missing version = %v, want fs.ErrNotExist", err)
		}
	}
	if n := up.Requests(infoPath); n != 1 {
		t.Errorf("three requests for a missing version within the TTL made %d upstream requests, want 1", n)
	}

	short := newVault(t, up.URL, st, vault.Options{ListTTL: time.Millisecond})
	if _, _, err := short.Open(ctx, file(t, modM, "v1.2.0", protocol.Info)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open before publishing = %v, want fs.ErrNotExist", err)
	}
	time.Sleep(10 * time.Millisecond)
	// The version is published now; once the TTL is over, it is found.
	up.Add(proxytest.Module{Path: modM, Version: "v1.2.0"})
	if _, _, err := short.Open(ctx, file(t, modM, "v1.2.0", protocol.Info)); err != nil {
		t.Errorf("Open after the TTL of a version published meanwhile: %v", err)
	}

	// Without any upstream (cached-only), nothing is remembered: a version
	// stored meanwhile is served at once.
	none := vault.New(st, upstream.New(nil, upstream.Options{}), vault.Options{ListTTL: time.Hour})
	if _, _, err := none.Open(ctx, file(t, modM, "v1.0.0", protocol.Info)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cached-only Open of an unstored version = %v, want fs.ErrNotExist", err)
	}
	if _, _, err := v.Open(ctx, file(t, modM, "v1.0.0", protocol.Info)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := none.Open(ctx, file(t, modM, "v1.0.0", protocol.Info)); err != nil {
		t.Errorf("cached-only Open right after the version was stored: %v", err)
	}
}

// TestFillStopsWhenEveryWaiterHasGone: a fill outlives a client that leaves
// while others still wait for it, and is cancelled (its upstream request
// ended) once the last one has gone, since nobody would get its result.
func TestFillStopsWhenEveryWaiterHasGone(t *testing.T) {
	const ver = "v1.0.0"
	up := newFakeProxy(t)
	up.version(modM, ver, goodMod, nil)
	zip := moduleZip(t, modM, ver, goodFiles)
	release := make(chan struct{})
	cancelled := make(chan struct{}, 1)
	up.handle(reqPath(modM, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			w.Write(zip)
		case <-r.Context().Done():
			cancelled <- struct{}{}
		}
	})
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	mustOpen(t, v, modM, ver, protocol.Info)

	// Two clients wait; one leaves; the fill goes on for the other.
	ctx1, cancel1 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	zipFile := file(t, modM, ver, protocol.Zip)
	go func() {
		_, _, err := v.Open(ctx1, zipFile)
		errc <- err
	}()
	second := openAsync(v, modM, ver, protocol.Zip)
	for up.requestsFor(reqPath(modM, ver, protocol.Zip)) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel1()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client that left got %v, want context.Canceled", err)
	}
	select {
	case <-cancelled:
		t.Fatal("the fill was cancelled while a client still waited for it")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if r := <-second; r.err != nil || !bytes.Equal(r.body, zip) {
		t.Fatalf("the client that stayed got %d bytes, %v", len(r.body), r.err)
	}

	// The only client leaves: the upstream request is cancelled.
	const ver2 = "v1.0.1"
	up.version(modM, ver2, goodMod, nil)
	up.handle(reqPath(modM, ver2, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cancelled <- struct{}{}
	})
	mustOpen(t, v, modM, ver2, protocol.Info)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for up.requestsFor(reqPath(modM, ver2, protocol.Zip)) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, _, err := v.Open(ctx, file(t, modM, ver2, protocol.Zip)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open: %v, want context.Canceled", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request went on after every client had gone")
	}
}

// TestLockerMakesReplicasFetchOnce: two vaults (two replicas) over one store
// share a Locker: concurrent cold requests through both fetch each upstream
// file once. Without the Locker each replica would fetch it.
func TestLockerMakesReplicasFetchOnce(t *testing.T) {
	for _, withLock := range []bool{true, false} {
		t.Run(fmt.Sprintf("lock=%v", withLock), func(t *testing.T) {
			const ver = "v1.0.0"
			up := newFakeProxy(t)
			zip := moduleZip(t, modM, ver, goodFiles)
			up.version(modM, ver, goodMod, nil)
			// Without a Locker, each replica's request waits for the other's
			// (so that a loaded machine cannot make them take turns); with
			// one, the single request waits long enough for both replicas
			// to be waiting on the lease.
			var arrived sync.WaitGroup
			arrived.Add(2)
			both := make(chan struct{})
			go func() { arrived.Wait(); close(both) }()
			up.handle(reqPath(modM, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
				if withLock {
					time.Sleep(200 * time.Millisecond)
				} else {
					arrived.Done()
					select {
					case <-both:
					case <-time.After(10 * time.Second):
					}
				}
				w.Write(zip)
			})
			_, dir := fileStore(t)
			var opts vault.Options
			if withLock {
				opts.Locker = &lock.Local{}
			}
			var replicas []*vault.Vault
			for range 2 {
				st, err := store.Open(context.Background(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				replicas = append(replicas, newVault(t, up.URL, st, opts))
			}
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					b, _, err := openBytes(replicas[i%2], modM, ver, protocol.Zip)
					if err != nil || !bytes.Equal(b, zip) {
						t.Errorf("replica %d: %d bytes, %v", i%2, len(b), err)
					}
				})
			}
			wg.Wait()
			n := up.requestsFor(reqPath(modM, ver, protocol.Zip))
			switch {
			case withLock && n != 1:
				t.Errorf("with a shared Locker, %d upstream zip requests, want 1", n)
			case !withLock && n != 2:
				// The control: this test would not notice a Locker that
				// does nothing if the replicas happened to take turns.
				t.Errorf("without a Locker, %d upstream zip requests, want 2 (one per replica)", n)
			}
		})
	}
}

// TestFillsGoOnWhenTheLockIsDown: with a Redis lock that cannot be reached,
// fills still happen (without the lease) and nothing fails because of it.
func TestFillsGoOnWhenTheLockIsDown(t *testing.T) {
	const ver = "v1.0.0"
	up := newFakeProxy(t)
	zip := moduleZip(t, modM, ver, goodFiles)
	up.version(modM, ver, goodMod, zip)
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	locker, err := lock.NewRedis("redis://"+addr+"/0", lock.RedisOptions{OpTimeout: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close() })
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{Locker: locker})
	start := time.Now()
	for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
		if _, _, err := openBytes(v, modM, ver, kind); err != nil {
			t.Fatalf("%s with the lock down: %v", kind, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("fills with the lock down took %v", d)
	}
	if s := locker.Stats(); s.Fallbacks == 0 {
		t.Errorf("the locker reports no fallback (%+v): was it used?", s)
	}
}
