package vault_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// stallTimeout is the upstream StallTimeout of these tests.
const stallTimeout = 200 * time.Millisecond

// TestUpstreamFailingHalfWay serves the .mod or the .zip of a version from
// an upstream that answers 200 and then stalls (connection open), resets
// the connection, closes it short of the announced length, or trickles
// slowly but steadily. Alone or before ",", a failing upstream's error is
// the answer at once (a stall within about the stall timeout, not the fill
// timeout), nothing of the file is stored, and no temporary file is left;
// before "|", the next upstream's answer is stored. The trickle is stored
// from the first upstream.
func TestUpstreamFailingHalfWay(t *testing.T) {
	const ver = "v1.0.0"
	zip := moduleZip(t, modM, ver, goodFiles)
	for _, kind := range []protocol.Kind{protocol.Mod, protocol.Zip} {
		for _, how := range []proxytest.Misbehaviour{proxytest.Stall, proxytest.Reset, proxytest.Short, proxytest.Trickle} {
			for _, list := range []string{"A", "A|B", "A,B"} {
				t.Run(kind.String()+" "+string(how)+" "+list, func(t *testing.T) {
					a, b := newFakeProxy(t), newFakeProxy(t)
					a.version(modM, ver, goodMod, zip)
					b.version(modM, ver, goodMod, zip)
					want := []byte(goodMod)
					if kind == protocol.Zip {
						want = zip
					}
					filePath := reqPath(modM, ver, kind)
					a.handle(filePath, proxytest.Misbehave(how, want))
					upList := strings.NewReplacer("A", a.URL, "B", b.URL).Replace(list)
					proxies, _, err := upstream.ParseList(upList)
					if err != nil {
						t.Fatal(err)
					}
					st, dir := fileStore(t)
					tmp := t.TempDir()
					v := vault.New(st, upstream.New(proxies, upstream.Options{StallTimeout: stallTimeout}),
						vault.Options{TempDir: tmp, Logger: slog.New(slog.DiscardHandler)})
					t.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						v.Shutdown(ctx)
					})
					if kind == protocol.Zip {
						mustOpen(t, v, modM, ver, protocol.Info)
					}
					before := proxytest.TreeFiles(t, dir)

					start := time.Now()
					got, _, err := openBytes(v, modM, ver, kind)
					elapsed := time.Since(start)
					fromB := b.requestsFor(filePath)
					if n := a.requestsFor(filePath); n != 1 {
						t.Errorf("upstream A got %d requests for the %s, want 1", n, kind)
					}
					if how == proxytest.Trickle || list == "A|B" {
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("Open %s = %d bytes, %v; want the upstream's %d bytes", kind, len(got), err, len(want))
						}
						wantB := 1
						if how == proxytest.Trickle {
							wantB = 0 // A's answer is good
						}
						if fromB != wantB {
							t.Errorf("upstream B got %d requests for the %s, want %d", fromB, kind, wantB)
						}
						if stored, err := st.ReadAll(context.Background(), key(t, modM, ver, kind)); err != nil || !bytes.Equal(stored, want) {
							t.Errorf("stored %s: %d bytes, %v; want the upstream's", kind, len(stored), err)
						}
						return
					}
					if err == nil {
						t.Fatalf("Open %s returned %d bytes from a failing upstream", kind, len(got))
					}
					t.Logf("after %v: %v", elapsed, err)
					if elapsed > stallTimeout+2*time.Second {
						t.Errorf("Open %s failed after %v, want about the stall timeout %v", kind, elapsed, stallTimeout)
					}
					if fromB != 0 {
						t.Errorf("upstream B got %d requests for the %s after %q", fromB, kind, list)
					}
					if !strings.Contains(err.Error(), a.URL+filePath) {
						t.Errorf("error %q does not name the upstream URL of the %s", err, kind)
					}
					if how == proxytest.Stall {
						if k := fault.Of(err); k != fault.Timeout {
							t.Errorf("error %v has kind %v, want %v", err, k, fault.Timeout)
						}
					} else if !errors.Is(err, upstream.ErrBadResponse) || errors.Is(err, vault.ErrInvalid) {
						t.Errorf("error %v: want a download error (upstream.ErrBadResponse)", err)
					}
					sameTree(t, before, proxytest.TreeFiles(t, dir))
					if tmpFiles := proxytest.TreeFiles(t, tmp); len(tmpFiles) != 0 {
						t.Errorf("the vault's temporary directory still holds %q", sortedKeys(tmpFiles))
					}
				})
			}
		}
	}
}
