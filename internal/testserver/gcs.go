package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

var fakeGCSBinary = binary{
	name:    "fake-gcs-server",
	env:     "MODVAULT_FAKE_GCS_SERVER",
	dirs:    goBinDirs,
	install: "go install github.com/fsouza/fake-gcs-server@v1.56.1",
}

// GCS is a running fake-gcs-server, an emulator of Google Cloud Storage's
// JSON API, storing objects in a temporary directory.
type GCS struct {
	// Host is the server's address, 127.0.0.1:PORT, as STORAGE_EMULATOR_HOST
	// wants it.
	Host string

	proc    *process
	buckets atomic.Int64
}

// FakeGCS starts a fake-gcs-server.
func FakeGCS(t testing.TB) *GCS {
	t.Helper()
	path := fakeGCSBinary.find(t)
	dir := t.TempDir()
	args := func(ports []int) []string {
		host := "127.0.0.1:" + itoa(ports[0])
		return []string{"-scheme", "http", "-host", "127.0.0.1", "-port", itoa(ports[0]),
			"-backend", "filesystem", "-filesystem-root", filepath.Join(dir, "data"),
			"-public-host", host, "-external-url", "http://" + host,
			"-log-level", "warn"}
	}
	ready := func(ctx context.Context, ports []int) error {
		return wantStatus(fmt.Sprintf("http://127.0.0.1:%d/storage/v1/b", ports[0]), 200)(ctx)
	}
	p, ports := launch(t, "fake-gcs-server", path, 1, args, nil, dir, ready)
	return &GCS{Host: fmt.Sprintf("127.0.0.1:%d", ports[0]), proc: p}
}

// NewBucket creates a new, empty bucket and returns its storage URL,
// gs://NAME. Opening it needs [GCS.Env] in the environment.
func (g *GCS) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("modvault-%d-%s", g.buckets.Add(1), randomHex(3))
	body, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+g.Host+"/storage/v1/b", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("testserver: creating GCS bucket %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		t.Fatalf("testserver: creating GCS bucket %s: %s: %s", name, resp.Status, b)
	}
	return "gs://" + name
}

// Env returns the environment variable that points the Google Cloud
// Storage client at the server: STORAGE_EMULATOR_HOST=127.0.0.1:PORT.
func (g *GCS) Env() []string {
	return []string{"STORAGE_EMULATOR_HOST=" + g.Host}
}
