package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/vault"
)

// gatedZip serves a zip's first half, then waits for release (or for the
// client to go away) before it sends the rest. started is closed when the
// first half is sent.
type gatedZip struct {
	zip     []byte
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGatedZip(t *testing.T, up *fakeProxy, mod, ver string) *gatedZip {
	t.Helper()
	random := make([]byte, 256<<10)
	rand.Read(random)
	g := &gatedZip{
		zip:     moduleZip(t, mod, ver, map[string]string{"go.mod": goodMod, "data.bin": string(random)}),
		started: make(chan struct{}),
		release: make(chan struct{}),
	}
	up.version(mod, ver, goodMod, nil)
	up.handle(reqPath(mod, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(g.zip)))
		w.Write(g.zip[:len(g.zip)/2])
		w.(http.Flusher).Flush()
		g.once.Do(func() { close(g.started) })
		select {
		case <-g.release:
			w.Write(g.zip[len(g.zip)/2:])
		case <-r.Context().Done():
		}
	})
	t.Cleanup(g.open)
	return g
}

// open lets the rest of the zip through.
func (g *gatedZip) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

type openResult struct {
	body []byte
	err  error
}

// openAsync opens a file in the background.
func openAsync(v *vault.Vault, mod, ver string, kind protocol.Kind) <-chan openResult {
	c := make(chan openResult, 1)
	go func() {
		b, _, err := openBytes(v, mod, ver, kind)
		c <- openResult{b, err}
	}()
	return c
}

func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case x := <-c:
		return x
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestShutdownWaitsForFills checks that Shutdown lets a fill in flight
// finish, and that the fill's zip is then stored whole.
func TestShutdownWaitsForFills(t *testing.T) {
	up := newFakeProxy(t)
	g := newGatedZip(t, up, modM, "v1.0.0")
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})

	opened := openAsync(v, modM, "v1.0.0", protocol.Zip)
	waitFor(t, g.started, "the zip download to start")
	shut := make(chan error, 1)
	go func() { shut <- v.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a fill was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	g.open()
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if r := waitFor(t, opened, "Open"); r.err != nil || !bytes.Equal(r.body, g.zip) {
		t.Errorf("Open during Shutdown = %d bytes, %v; want the whole zip", len(r.body), r.err)
	}
	stored, err := st.ReadAll(context.Background(), key(t, modM, "v1.0.0", protocol.Zip))
	if err != nil || !bytes.Equal(stored, g.zip) {
		t.Errorf("after Shutdown, the store holds %d bytes of the zip (%v), want the whole zip", len(stored), err)
	}
}

// TestShutdownTimeoutCancelsFills checks that when Shutdown's context ends
// first, the fill is cancelled and leaves nothing behind.
func TestShutdownTimeoutCancelsFills(t *testing.T) {
	up := newFakeProxy(t)
	g := newGatedZip(t, up, modM, "v1.0.0")
	st, dir := fileStore(t)
	tmp := t.TempDir()
	v := newVault(t, up.URL, st, vault.Options{TempDir: tmp})
	mustOpen(t, v, modM, "v1.0.0", protocol.Info)
	before := proxytest.TreeFiles(t, dir)

	opened := openAsync(v, modM, "v1.0.0", protocol.Zip)
	waitFor(t, g.started, "the zip download to start")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a fill that outlives its context = %v, want context.DeadlineExceeded", err)
	}
	if r := waitFor(t, opened, "Open"); r.err == nil {
		t.Errorf("Open whose fill was cancelled returned %d bytes", len(r.body))
	}
	sameTree(t, before, proxytest.TreeFiles(t, dir))
	if files := proxytest.TreeFiles(t, tmp); len(files) != 0 {
		t.Errorf("the vault's temporary directory still holds %q", sortedKeys(files))
	}

	// After Shutdown, nothing new is fetched.
	n := up.requestsFor(reqPath(modM, "v1.1.0", protocol.Info))
	if _, _, err := v.Open(context.Background(), file(t, modM, "v1.1.0", protocol.Info)); err == nil {
		t.Error("Open of an uncached version after Shutdown succeeded")
	}
	if up.requestsFor(reqPath(modM, "v1.1.0", protocol.Info)) != n {
		t.Error("Open after Shutdown asked the upstream")
	}
}

// TestShutdownDuringRequests shuts the vault down while requests keep
// arriving, as when the HTTP server's own shutdown timed out: no panic, no
// data race, and every request ends.
func TestShutdownDuringRequests(t *testing.T) {
	up := newFakeProxy(t)
	zips := make(map[string][]byte)
	for i := range 20 {
		ver := fmt.Sprintf("v1.0.%d", i)
		zips[ver] = moduleZip(t, modM, ver, goodFiles)
		up.version(modM, ver, goodMod, zips[ver])
	}
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			ver := fmt.Sprintf("v1.0.%d", i)
			if b, _, err := openBytes(v, modM, ver, protocol.Zip); err == nil && !bytes.Equal(b, zips[ver]) {
				t.Errorf("%s: Open returned %d bytes that are not the zip", ver, len(b))
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	v.Shutdown(ctx)
	wg.Wait()

	// Whatever was stored is whole.
	for ver, zip := range zips {
		b, err := st.ReadAll(context.Background(), key(t, modM, ver, protocol.Zip))
		if err == nil && !bytes.Equal(b, zip) {
			t.Errorf("%s: the store holds %d bytes that are not the zip", ver, len(b))
		}
	}
}
