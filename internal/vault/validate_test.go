package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

const goodMod = "module example.com/m\n\ngo 1.22\n"

var goodFiles = map[string]string{"go.mod": goodMod, "m.go": "package m\n"}

// TestInvalidInfoOrModIsNotStored serves a bad .info or .mod: the vault
// refuses it with vault.ErrInvalid and stores nothing.
func TestInvalidInfoOrModIsNotStored(t *testing.T) {
	goodInfo := `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`
	for _, c := range []struct {
		name, info, mod string
	}{
		{"mod names another module", goodInfo, "module example.com/other\n\ngo 1.22\n"},
		{"mod has no module line", goodInfo, "go 1.22\n"},
		{"info names another version", `{"Version":"v1.0.1","Time":"2024-01-02T03:04:05Z"}`, goodMod},
		{"info names a non-canonical version", `{"Version":"v1.0","Time":"2024-01-02T03:04:05Z"}`, goodMod},
		{"info is not JSON", `Version: v1.0.0`, goodMod},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newFakeProxy(t)
			up.version(modM, "v1.0.0", c.mod, moduleZip(t, modM, "v1.0.0", goodFiles))
			up.set(reqPath(modM, "v1.0.0", protocol.Info), []byte(c.info))
			st, dir := fileStore(t)
			v := newVault(t, up.URL, st, vault.Options{})
			for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
				_, _, err := v.Open(context.Background(), file(t, modM, "v1.0.0", kind))
				if !errors.Is(err, vault.ErrInvalid) {
					t.Errorf("Open %s = %v, want an error wrapping vault.ErrInvalid", kind, err)
				}
			}
			if files := proxytest.TreeFiles(t, dir); len(files) != 0 {
				t.Errorf("store holds %q after refusing the upstream's answer", sortedKeys(files))
			}
		})
	}
}

// TestInvalidZipIsNotStored serves a good .info and .mod and then a bad zip:
// the vault refuses the zip and leaves the store exactly as it was, and
// keeps nothing in its temporary directory.
func TestInvalidZipIsNotStored(t *testing.T) {
	const ver = "v1.0.0"
	prefix := modM + "@" + ver + "/"
	valid := moduleZip(t, modM, ver, goodFiles)
	corrupt := rawZip(t,
		zipEntry{prefix + "go.mod", goodMod},
		zipEntry{prefix + "m.go", "package m\n\nconst Data = \"" + strings.Repeat("x", 1000) + "\"\n"})
	// Flip one byte of m.go's stored data: the zip's structure is intact,
	// but the entry's CRC-32 no longer matches.
	i := bytes.Index(corrupt, []byte("xxxxxxxxxx"))
	corrupt[i] = 'y'

	random := make([]byte, 8<<10)
	rand.Read(random)
	big := rawZip(t, zipEntry{prefix + "go.mod", goodMod}, zipEntry{prefix + "big.bin", string(random)})

	for _, c := range []struct {
		name    string
		mod     string // the .mod; goodMod if ""
		zip     []byte
		handler http.HandlerFunc // serves the zip instead, if set
		opts    vault.Options
		invalid bool // the error wraps vault.ErrInvalid (else: a download error)
	}{
		{name: "entries lack the module@version/ prefix", invalid: true,
			zip: rawZip(t, zipEntry{"go.mod", goodMod}, zipEntry{"m.go", "package m\n"})},
		{name: "entries of another version", invalid: true,
			zip: moduleZip(t, modM, "v1.0.1", goodFiles)},
		{name: "case-colliding file names", invalid: true,
			zip: rawZip(t, zipEntry{prefix + "go.mod", goodMod}, zipEntry{prefix + "a.go", "package m\n"}, zipEntry{prefix + "A.go", "package m\n"})},
		{name: "go.mod in a subdirectory", invalid: true,
			zip: rawZip(t, zipEntry{prefix + "go.mod", goodMod}, zipEntry{prefix + "sub/go.mod", "module example.com/m/sub\n"})},
		{name: "zip's go.mod differs from the stored .mod", invalid: true,
			zip: moduleZip(t, modM, ver, map[string]string{"go.mod": "module example.com/m\n\ngo 1.23\n\nrequire example.com/evil v1.0.0\n", "m.go": "package m\n"})},
		{name: "zip has no go.mod but the stored .mod is a real one", invalid: true,
			zip: moduleZip(t, modM, ver, map[string]string{"m.go": "package m\n"})},
		{name: "not a zip", invalid: true,
			zip: []byte("<html>this is not the zip you are looking for</html>")},
		{name: "zip truncated by the upstream", invalid: true,
			zip: valid[:len(valid)*2/3]},
		{name: "entry data corrupted (CRC mismatch)", invalid: true,
			zip: corrupt},
		{name: "connection cut mid-body", handler: func(w http.ResponseWriter, r *http.Request) {
			// Promise the whole zip, send part, and end the connection.
			w.Header().Set("Content-Length", fmt.Sprint(len(valid)))
			w.Write(valid[:len(valid)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
		{name: "zip larger than MaxZipSize, with Content-Length", invalid: true,
			zip: big, opts: vault.Options{MaxZipSize: 4 << 10}},
		{name: "zip larger than MaxZipSize, chunked", invalid: true, opts: vault.Options{MaxZipSize: 4 << 10},
			handler: func(w http.ResponseWriter, r *http.Request) {
				for chunk := range chunks(big, 1000) {
					w.Write(chunk)
					w.(http.Flusher).Flush()
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newFakeProxy(t)
			mod := c.mod
			if mod == "" {
				mod = goodMod
			}
			up.version(modM, ver, mod, c.zip)
			if c.handler != nil {
				up.handle(reqPath(modM, ver, protocol.Zip), c.handler)
			}
			st, dir := fileStore(t)
			tmp := t.TempDir()
			c.opts.TempDir = tmp
			v := newVault(t, up.URL, st, c.opts)
			mustOpen(t, v, modM, ver, protocol.Info)
			before := proxytest.TreeFiles(t, dir)

			b, _, err := openBytes(v, modM, ver, protocol.Zip)
			switch {
			case err == nil:
				t.Fatalf("Open .zip succeeded and returned %d bytes", len(b))
			case c.invalid && !errors.Is(err, vault.ErrInvalid):
				t.Errorf("Open .zip = %v, want an error wrapping vault.ErrInvalid", err)
			case !c.invalid && (errors.Is(err, vault.ErrInvalid) || errors.Is(err, fs.ErrNotExist)):
				t.Errorf("Open .zip = %v, want a download error", err)
			}
			t.Logf("Open .zip: %v", err)
			sameTree(t, before, proxytest.TreeFiles(t, dir))
			if tmpFiles := proxytest.TreeFiles(t, tmp); len(tmpFiles) != 0 {
				t.Errorf("the vault's temporary directory still holds %q", sortedKeys(tmpFiles))
			}

			// A refused zip is not remembered: once the upstream serves a
			// good one, it is filled.
			if mod == goodMod {
				up.set(reqPath(modM, ver, protocol.Zip), valid)
				if got := mustOpen(t, v, modM, ver, protocol.Zip); !bytes.Equal(got, valid) {
					t.Errorf("after the upstream was fixed, the zip differs from the upstream's")
				}
			}
		})
	}
}

// chunks yields b in pieces of at most n bytes.
func chunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// TestIncompatibleZipWithoutGoMod checks that an +incompatible version,
// whose .mod is synthesized, is stored although its zip has no go.mod.
func TestIncompatibleZipWithoutGoMod(t *testing.T) {
	const mod, ver = "example.com/old", "v2.0.0+incompatible"
	up := newFakeProxy(t)
	zip := moduleZip(t, mod, ver, map[string]string{"old.go": "package old\n"})
	up.version(mod, ver, "module example.com/old\n", zip)
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	if got := mustOpen(t, v, mod, ver, protocol.Zip); !bytes.Equal(got, zip) {
		t.Error("zip differs from the upstream's")
	}
}

// TestLegacyZipWithoutGoMod checks that a version without go.mod, whose
// .mod the upstream synthesized as "module path", is stored.
func TestLegacyZipWithoutGoMod(t *testing.T) {
	up := newFakeProxy(t)
	zip := moduleZip(t, modM, "v1.0.0", map[string]string{"m.go": "package m\n"})
	up.version(modM, "v1.0.0", "module example.com/m\n", zip)
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	if got := mustOpen(t, v, modM, "v1.0.0", protocol.Zip); !bytes.Equal(got, zip) {
		t.Error("zip differs from the upstream's")
	}
}

// TestNeverAPartialZip fills a zip that arrives slowly while readers keep
// asking for it: each reader waits for the fill and gets the whole zip (or
// an error), never a truncated one, and the store shows no .zip until the
// zip has arrived whole and been validated.
func TestNeverAPartialZip(t *testing.T) {
	const ver = "v1.0.0"
	random := make([]byte, 1<<20)
	rand.Read(random)
	zip := moduleZip(t, modM, ver, map[string]string{"go.mod": goodMod, "data.bin": string(random)})

	up := newFakeProxy(t)
	up.version(modM, ver, goodMod, nil)
	var sent atomic.Bool // the upstream has sent the last byte
	up.handle(reqPath(modM, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(zip)))
		all := slices.Collect(chunks(zip, 16<<10))
		for i, chunk := range all {
			if i == len(all)-1 {
				// Mark before the last write: the vault may finish as soon
				// as the last byte leaves, before this handler goes on.
				sent.Store(true)
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
		}
	})
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	mustOpen(t, v, modM, ver, protocol.Info)

	prefix, err := protocol.VersionsPrefix(modM)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	var sawZip atomic.Bool
	watcher.Go(func() {
		for {
			for _, k := range listKeys(t, st, prefix) {
				if strings.HasSuffix(k, ".zip") {
					if !sent.Load() {
						t.Errorf("the store lists %s before the upstream sent the whole zip", k)
					}
					b, err := st.ReadAll(context.Background(), k)
					if err != nil || !bytes.Equal(b, zip) {
						t.Errorf("the store lists %s, but it does not hold the whole zip (%d bytes, %v)", k, len(b), err)
					}
					sawZip.Store(true)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	const readers = 30
	var wg sync.WaitGroup
	var whole, failed atomic.Int32
	for i := range readers {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 5 * time.Millisecond) // during the fill and after it
			b, _, err := openBytes(v, modM, ver, protocol.Zip)
			switch {
			case err != nil:
				failed.Add(1)
				t.Logf("reader %d: %v", i, err)
			case !bytes.Equal(b, zip):
				t.Errorf("reader %d got %d bytes that are not the zip (%d bytes)", i, len(b), len(zip))
			default:
				whole.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()
	if !sawZip.Load() {
		t.Error("the watcher never saw the stored zip")
	}
	if whole.Load() == 0 {
		t.Errorf("no reader got the zip (%d errors)", failed.Load())
	}
	if n := up.requestsFor(reqPath(modM, ver, protocol.Zip)); n != 1 {
		t.Errorf("%d readers made %d upstream zip requests, want 1", readers, n)
	}
}

// TestFailedFillLeavesReadersWithErrors cuts the connection of a slow zip
// download while readers wait: they all get an error, and nothing is stored.
func TestFailedFillLeavesReadersWithErrors(t *testing.T) {
	const ver = "v1.0.0"
	random := make([]byte, 1<<20)
	rand.Read(random)
	zip := moduleZip(t, modM, ver, map[string]string{"go.mod": goodMod, "data.bin": string(random)})
	up := newFakeProxy(t)
	up.version(modM, ver, goodMod, nil)
	up.handle(reqPath(modM, ver, protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(zip)))
		for chunk := range chunks(zip[:len(zip)-100], 64<<10) {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		panic(http.ErrAbortHandler)
	})
	st, dir := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	mustOpen(t, v, modM, ver, protocol.Info)
	before := proxytest.TreeFiles(t, dir)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			b, _, err := openBytes(v, modM, ver, protocol.Zip)
			if err == nil {
				t.Errorf("reader %d got %d bytes from a fill whose download failed", i, len(b))
			} else if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("reader %d: %v; a failed download is not \"not found\"", i, err)
			}
		})
	}
	wg.Wait()
	sameTree(t, before, proxytest.TreeFiles(t, dir))
}

// TestUpstreamErrorsPassThrough checks how upstream failures reach the
// caller: 404 and 410 as fs.ErrNotExist, others as *upstream.Error that
// is not.
func TestUpstreamErrorsPassThrough(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			up := newFakeProxy(t)
			up.handle(reqPath(modM, "v1.0.0", protocol.Info), func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", status)
			})
			st, dir := fileStore(t)
			v := newVault(t, up.URL, st, vault.Options{})
			_, _, err := v.Open(context.Background(), file(t, modM, "v1.0.0", protocol.Info))
			var ue *upstream.Error
			if !errors.As(err, &ue) || ue.Status != status {
				t.Fatalf("Open = %v, want an *upstream.Error with status %d", err, status)
			}
			notFound := status == http.StatusNotFound || status == http.StatusGone
			if errors.Is(err, fs.ErrNotExist) != notFound {
				t.Errorf("Open = %v: errors.Is(err, fs.ErrNotExist) = %v, want %v", err, !notFound, notFound)
			}
			if files := proxytest.TreeFiles(t, dir); len(files) != 0 {
				t.Errorf("store holds %q", sortedKeys(files))
			}
		})
	}
}
