package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

// clusterModules returns n module versions named prefix0…, each with a file
// of random bytes, so that every fill moves some data.
func clusterModules(prefix string, n int) []proxytest.Module {
	var mods []proxytest.Module
	for i := range n {
		path := fmt.Sprintf("example.com/%s%d", prefix, i)
		mods = append(mods, proxytest.Module{
			Path:    path,
			Version: "v1.0.0",
			Files: map[string]string{
				"go.mod": "module " + path + "\n\ngo 1.22\n",
				"m.go":   "package m\n",
			},
			Large: 256 << 10,
		})
	}
	return mods
}

// replica is one modvault process of a cluster.
type replica struct {
	*process
	url string
}

// startCluster starts n modvault replicas on one bucket and one Redis, in
// front of up.
func startCluster(t *testing.T, n int, up *proxytest.Upstream, storage string, extraEnv []string) []*replica {
	t.Helper()
	var rs []*replica
	for range n {
		addr := freeAddr(t)
		env := append(cleanEnv(t.TempDir()), extraEnv...)
		env = append(env,
			"GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB(),
			"MODVAULT_STORAGE="+storage,
			"MODVAULT_LISTEN="+addr,
			"MODVAULT_TEMP_DIR="+t.TempDir(),
			"MODVAULT_LOCK_LEASE=3s",
			"MODVAULT_LOG_LEVEL=warn",
		)
		p := start(t, env)
		rs = append(rs, &replica{process: p, url: "http://" + addr})
	}
	for _, r := range rs {
		// The serving line is logged at info; wait for the port instead.
		waitListening(t, r.url)
	}
	return rs
}

// waitListening waits until url answers /healthz.
func waitListening(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer /healthz in 30s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientResult is what one client saw.
type clientResult struct {
	wrong    []string // files whose bytes differed from the upstream's
	failures []string // non-200 answers from a replica that was alive
}

// runClients runs clients go-command-like clients at once. Each fetches the
// .info, .mod and .zip of every module (in its own random order) from the
// replicas, starting with replica (client mod len(rs)); a request that
// gets no answer at all (a dead replica) is sent to the next replica, as a
// load balancer does. Every answer is compared with the upstream's bytes.
func runClients(t *testing.T, clients int, rs []*replica, up *proxytest.Upstream, mods []proxytest.Module, onRequest func(), failovers *atomic.Int64) []clientResult {
	t.Helper()
	results := make([]clientResult, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			res := &results[c]
			hc := &http.Client{Timeout: 2 * time.Minute}
			order := permutation(len(mods))
			for _, i := range order {
				m := mods[i]
				for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
					if onRequest != nil {
						onRequest()
					}
					path := "/" + protocol.Request{Kind: kind, Module: m.Path, Version: m.Version}.Path()
					var want []byte
					switch kind {
					case protocol.Info:
						want = up.InfoBytes(m.Path, m.Version)
					case protocol.Mod:
						want = up.ModBytes(m.Path, m.Version)
					default:
						want = up.ZipBytes(m.Path, m.Version)
					}
					got, status, err := fetchAny(hc, rs, c, path, failovers)
					switch {
					case err != nil:
						res.failures = append(res.failures, fmt.Sprintf("%s: %v", path, err))
					case status != http.StatusOK:
						res.failures = append(res.failures, fmt.Sprintf("%s: status %d: %.200s", path, status, got))
					case !bytes.Equal(got, want):
						res.wrong = append(res.wrong, path)
					}
				}
			}
		})
	}
	wg.Wait()
	return results
}

// checkResults reports every wrong answer and every failure a client saw.
func checkResults(t *testing.T, results []clientResult) {
	t.Helper()
	for c, r := range results {
		for _, w := range r.wrong {
			t.Errorf("client %d: %s differs from the upstream's bytes", c, w)
		}
		for _, f := range r.failures {
			t.Errorf("client %d: %s", c, f)
		}
	}
}

// fetchAny GETs path from the replicas, starting at rs[start%len(rs)] and
// moving on when a replica does not answer (connection refused or reset).
// failovers counts the requests that a replica did not answer.
func fetchAny(hc *http.Client, rs []*replica, start int, path string, failovers *atomic.Int64) ([]byte, int, error) {
	var lastErr error
	for i := range rs {
		r := rs[(start+i)%len(rs)]
		resp, err := hc.Get(r.url + path)
		if err != nil {
			lastErr = err
			failovers.Add(1)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			// Cut off mid-body by a dying replica: ask another.
			lastErr = err
			failovers.Add(1)
			continue
		}
		return body, resp.StatusCode, nil
	}
	return nil, 0, fmt.Errorf("no replica answered: %w", lastErr)
}

func permutation(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		p[i], p[j.Int64()] = p[j.Int64()], p[i]
	}
	return p
}

// TestClusterOfThreeReplicas runs three modvault processes on one MinIO
// bucket and one Redis, and 200 concurrent clients cold-fetching the same
// 20 versions through all three:
//   - every answer is byte-identical to the upstream's, and each upstream
//     file is fetched exactly once (the Redis lease);
//   - with a second set of 20 versions, one replica is killed with SIGKILL
//     while fills are in flight: the others answer every request, clients
//     of the dead one get their files from the others, and the fills it
//     held are taken over once its leases expire;
//   - with a third set, three new replicas without any lock still answer
//     every request with the upstream's bytes;
//   - and `modvault verify` then finds the bucket free of partial or
//     changed versions.
func TestClusterOfThreeReplicas(t *testing.T) {
	minio := testserver.MinIO(t)
	redis := testserver.RedisServer(t)
	first := clusterModules("first", 20)
	second := clusterModules("second", 20)
	third := clusterModules("third", 20)
	up := proxytest.New(t, slices.Concat(first, second, third)...)
	storage := minio.NewBucket(t)
	env := append(minio.Env(), "MODVAULT_LOCK="+redis.URL())
	rs := startCluster(t, 3, up, storage, env)

	const clients = 200
	t.Run("cold fetches through three replicas", func(t *testing.T) {
		var failovers atomic.Int64
		results := runClients(t, clients, rs, up, first, nil, &failovers)
		if failovers.Load() != 0 {
			t.Errorf("%d requests got no answer from a live replica", failovers.Load())
		}
		checkResults(t, results)
		for _, m := range first {
			for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
				path := "/" + protocol.Request{Kind: kind, Module: m.Path, Version: m.Version}.Path()
				if n := up.Requests(path); n != 1 {
					t.Errorf("the upstream got %d requests for %s, want 1", n, path)
				}
			}
		}
	})

	t.Run("one replica killed mid-fill", func(t *testing.T) {
		// Slow answers keep fills in flight when the replica dies.
		up.SetDelay(300 * time.Millisecond)
		defer up.SetDelay(0)
		var requests atomic.Int64
		var once sync.Once
		killed := make(chan struct{})
		onRequest := func() {
			// Kill replica 0 once the clients are well under way.
			if requests.Add(1) == clients*3 {
				once.Do(func() {
					rs[0].cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				})
			}
		}
		var failovers atomic.Int64
		results := runClients(t, clients, rs, up, second, onRequest, &failovers)
		select {
		case <-killed:
		default:
			t.Fatal("the replica was never killed")
		}
		checkResults(t, results)
		twice := 0
		for _, m := range second {
			for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
				path := "/" + protocol.Request{Kind: kind, Module: m.Path, Version: m.Version}.Path()
				// At most one fetch by the dead replica and one by the
				// replica that took its fill over.
				n := up.Requests(path)
				if n < 1 || n > 2 {
					t.Errorf("the upstream got %d requests for %s, want 1 (2 if the dead replica was filling it)", n, path)
				}
				if n == 2 {
					twice++
				}
			}
		}
		// Evidence that the kill happened mid-flight: clients of the dead
		// replica had to go elsewhere.
		if failovers.Load() == 0 {
			t.Error("no request ever failed over: the replica was not killed while clients used it")
		}
		t.Logf("%d requests failed over to another replica; %d upstream files were fetched twice (fills taken over)", failovers.Load(), twice)
	})

	for _, r := range rs[1:] {
		r.cmd.Process.Signal(syscall.SIGTERM)
	}

	// Correct without coordination: three more replicas on the same
	// bucket with no lock at all. Replicas may fetch the same file more than
	// once, but every answer is still the upstream's bytes.
	t.Run("no lock", func(t *testing.T) {
		unlocked := startCluster(t, 3, up, storage, minio.Env())
		var failovers atomic.Int64
		results := runClients(t, clients, unlocked, up, third, nil, &failovers)
		checkResults(t, results)
		most := 0
		for _, m := range third {
			n := up.Requests("/" + protocol.Request{Kind: protocol.Zip, Module: m.Path, Version: m.Version}.Path())
			most = max(most, n)
		}
		t.Logf("without a lock, the most upstream requests for one zip: %d (at most one per replica)", most)
		if most > 3 {
			t.Errorf("a zip was fetched %d times by 3 replicas", most)
		}
		for _, r := range unlocked {
			r.cmd.Process.Signal(syscall.SIGTERM)
		}
	})

	// Whatever the dead replica left behind: no partial or unverified
	// version in the bucket.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "verify", "--storage", storage, "--gosumdb", up.GOSUMDB())
	cmd.Env = append(cleanEnv(t.TempDir()), minio.Env()...)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("modvault verify: %v\n%s", err, out)
	}
	if err != nil || !strings.Contains(string(out), "60 versions, 60 zips checked") || !strings.Contains(string(out), " 0 problems") {
		t.Errorf("modvault verify on the bucket: %v\n%s", err, out)
	}
	t.Logf("modvault verify: %s", strings.TrimSpace(string(out)))
}

// TestZipRedirectToSignedURL: with --zip-redirect on a MinIO bucket, a zip
// request is answered 302 to a signed URL of the stored object, which the
// go command follows and verifies; on a file:// store the setting stops
// startup with a clear line.
func TestZipRedirectToSignedURL(t *testing.T) {
	minio := testserver.MinIO(t)
	storage := minio.NewBucket(t)
	up := proxytest.New(t, clusterModules("redirect", 1)...)
	addr := freeAddr(t)
	env := append(cleanEnv(t.TempDir()), minio.Env()...)
	env = append(env, "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB(), "MODVAULT_STORAGE="+storage,
		"MODVAULT_LISTEN="+addr, "MODVAULT_ZIP_REDIRECT=5m")
	p := start(t, env)
	p.waitReady(t)
	base := "http://" + addr

	const mod, ver = "example.com/redirect0", "v1.0.0"
	g := proxytest.NewGo(t, base, up.GOSUMDB())
	out := g.Must("mod", "download", "-json", mod+"@"+ver)
	if !strings.Contains(out, up.ZipHash(mod, ver)) {
		t.Errorf("go mod download through the redirect:\n%s", out)
	}
	// The zip itself came from the bucket: modvault answers with a redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(base + "/" + mod + "/@v/" + ver + ".zip")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, minio.Endpoint+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("zip request: %d Location %q, want 302 to a signed URL of %s", resp.StatusCode, loc, minio.Endpoint)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("the redirect is cached as immutable (%q), but its URL expires", cc)
	}
	zresp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	zip, _ := io.ReadAll(zresp.Body)
	zresp.Body.Close()
	if zresp.StatusCode != http.StatusOK || !bytes.Equal(zip, up.ZipBytes(mod, ver)) {
		t.Errorf("the signed URL gave %d and %d bytes, want the zip", zresp.StatusCode, len(zip))
	}
	// Only the first request went upstream.
	if n := up.Requests("/" + mod + "/@v/" + ver + ".zip"); n != 1 {
		t.Errorf("upstream zip requests: %d, want 1", n)
	}

	// A store that cannot sign: startup fails, naming the setting.
	bad := start(t, append(cleanEnv(t.TempDir()), "GOPROXY=off", "GOSUMDB=off", "MODVAULT_LISTEN="+freeAddr(t),
		"MODVAULT_STORAGE=file://"+t.TempDir(), "MODVAULT_ZIP_REDIRECT=5m"))
	if code := bad.wait(t, time.Minute); code == 0 || !strings.Contains(bad.logText(), "zip-redirect") {
		t.Errorf("--zip-redirect on a file:// store: exit %d\n%s", code, bad.logText())
	}
}
