package vault_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/vault"
)

// TestLargeZipMemoryStaysFlat fills and then serves a 100 MiB zip through
// a file store and checks that the Go heap grows by much less than the zip:
// the vault streams, it never holds a zip in memory.
func TestLargeZipMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and moves a 100 MiB zip")
	}
	const size = 100 << 20
	const limit = 32 << 20
	// The zip (one stored, incompressible entry) is written to disk here and
	// served from there, so that only the vault's own memory is measured.
	zipPath := filepath.Join(t.TempDir(), "large.zip")
	wantSum := writeLargeZip(t, zipPath, modM, "v1.0.0", size)
	up := newFakeProxy(t)
	up.version(modM, "v1.0.0", goodMod, nil)
	up.handle(reqPath(modM, "v1.0.0", protocol.Zip), func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, zipPath)
	})
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{TempDir: t.TempDir()})
	fi, err := os.Stat(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	wantSize := fi.Size()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	peak.Store(base)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})

	start := time.Now()
	obj, src, err := v.Open(context.Background(), file(t, modM, "v1.0.0", protocol.Zip))
	if err != nil {
		close(stop)
		t.Fatal(err)
	}
	filled := time.Since(start)
	got := sha256.New()
	n, err := io.Copy(got, obj)
	obj.Close()
	close(stop)
	sampler.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if src != vault.Miss {
		t.Errorf("source = %q, want %q", src, vault.Miss)
	}
	if n != wantSize || !bytes.Equal(got.Sum(nil), wantSum) {
		t.Fatalf("served %d bytes that differ from the upstream's %d", n, wantSize)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("zip %d MiB: fill %v, fill+read %v; heap in use %d MiB at start, peak +%.1f MiB",
		n>>20, filled.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), base>>20, float64(grew)/(1<<20))
	if grew >= limit {
		t.Errorf("filling and serving a %d MiB zip raised the heap by %d MiB, want less than %d MiB", n>>20, grew>>20, limit>>20)
	}
}

// writeLargeZip writes to path a module zip holding go.mod and a file of
// size incompressible bytes, stored uncompressed, without holding either in
// memory, and returns the zip's SHA-256.
func writeLargeZip(t *testing.T, path, mod, ver string, size int64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := sha256.New()
	zw := zip.NewWriter(io.MultiWriter(f, sum))
	prefix := mod + "@" + ver + "/"
	w, err := zw.Create(prefix + "go.mod")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, goodMod)
	w, err = zw.CreateHeader(&zip.FileHeader{Name: prefix + "large.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyBuffer(w, io.LimitReader(mrand.NewChaCha8([32]byte{1}), size), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return sum.Sum(nil)
}
