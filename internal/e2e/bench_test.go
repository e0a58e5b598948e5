package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

// The benchmarks below measure modvault's HTTP hot paths end to end: a real
// net/http client talks to the real handler (app.New, as cmd/modvault builds
// it) over loopback, with a file:// store in a temporary directory and a
// fake upstream (proxytest) on loopback. Allocations and times include the
// client side of each request, which runs in the same process.
//
// The warm benchmarks have a "fileserver" sub-benchmark: http.FileServer
// serving the very same store directory, the in-process counterpart of the
// nginx reference in bench/run.sh. Its numbers are the floor for serving
// those bytes with net/http on this machine, so modvault/fileserver is
// modvault's own overhead.
//
// Run: go test -run='^$' -bench=. -benchmem ./internal/e2e

// benchZipSize is the size of the incompressible file in the zip of the
// warm zip benchmark, so that the zip is in the 100 KB–1 MB range of a
// typical module.
const benchZipSize = 256 << 10

// benchModvault starts modvault in front of upstreamURL with a file:// store
// in a new temporary directory, and returns its base URL and the store's
// directory. Requests are logged as in production, to a discarded writer.
func benchModvault(b *testing.B, upstreamURL, sumdbName string) (baseURL, dir string) {
	b.Helper()
	dir = b.TempDir()
	return benchModvaultOn(b, upstreamURL, sumdbName, dir, ""), dir
}

// benchModvaultOn starts modvault in front of upstreamURL with the file://
// store in dir and the metadata index database (config.DatabaseOff for
// none), and returns its base URL.
func benchModvaultOn(b *testing.B, upstreamURL, sumdbName, dir, database string) string {
	b.Helper()
	return benchModvaultWith(b, upstreamURL, sumdbName, dir, database, func(*config.Serve) {})
}

// benchModvaultWith is benchModvaultOn with a configuration changed by
// change.
func benchModvaultWith(b *testing.B, upstreamURL, sumdbName, dir, database string, change func(*config.Serve)) string {
	b.Helper()
	srv := httptest.NewServer(benchHandler(b, upstreamURL, sumdbName, dir, database, change))
	b.Cleanup(srv.Close)
	return srv.URL
}

// benchHandler returns the handler of a modvault as benchModvaultWith
// starts it, to call in process.
func benchHandler(b *testing.B, upstreamURL, sumdbName, dir, database string, change func(*config.Serve)) http.Handler {
	b.Helper()
	cfg := config.Serve{
		Database:        database,
		Storage:         (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String(),
		Upstream:        upstreamURL,
		SumDB:           []string{sumdbName},
		ListTTL:         time.Minute,
		FillTimeout:     time.Minute,
		TempDir:         b.TempDir(),
		ShutdownTimeout: time.Second,
		VulnDBRefresh:   time.Hour,
		Policy:          policy.Config{VulnAction: policy.Warn, LicenseAction: policy.Warn, Mode: policy.Enforce},
	}
	change(&cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), cfg, log, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a.Handler
}

// get fetches url with c, reads the whole body and returns its length.
func get(b *testing.B, c *http.Client, url string) int64 {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	return n
}

// getWithHeader is get, and returns the Modvault-Policy header too.
func getWithHeader(b *testing.B, c *http.Client, url string) (int64, string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	return n, resp.Header.Get("Modvault-Policy")
}

// writeBenchVulnDB writes a vulnerability database with an entry for
// example.com/bench before v1.0.0, and returns its file:// URL.
func writeBenchVulnDB(b *testing.B) string {
	entry := strings.ReplaceAll(strings.ReplaceAll(proxytest.VulnEntry, "example.com/vuln", "example.com/bench"), `"fixed":"1.2.4"`, `"fixed":"1.0.0"`)
	return proxytest.WriteVulnDBFiles(b, b.TempDir(), map[string]string{
		"ID/GO-2099-0001.json": entry,
		"index/vulns.json":     `[{"id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z"}]`,
		"index/modules.json":   `[{"path":"example.com/bench","vulns":[{"id":"GO-2099-0001","modified":"2099-01-02T00:00:00Z","fixed":"1.0.0"}]}]`,
		"index/db.json":        `{"modified":"2099-01-02T00:00:00Z"}`,
	})
}

// benchWarm fills one version through modvault, whose zip holds a file of
// zipData incompressible bytes, then measures GETs of its file with the
// given extension (".info", ".mod", ".zip"; "list" for the module's version
// list) from modvault and from http.FileServer over the same store (except
// for the list, which modvault does not store: the answer is its
// short-lived copy of the upstream's).
func benchWarm(b *testing.B, ext string, zipData int64) {
	mod := proxytest.Module{
		Path:    "example.com/bench",
		Version: "v1.2.3",
		Files: map[string]string{
			"go.mod":   "module example.com/bench\n\ngo 1.22\n",
			"bench.go": "package bench\n\nconst B = 1\n",
		},
		Large: zipData,
	}
	up := proxytest.New(b, mod)
	mv, dir := benchModvault(b, up.URL, up.SumDBName)
	path := "/example.com/bench/@v/v1.2.3" + ext
	if ext == "list" {
		path = "/example.com/bench/@v/list"
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	// Fill the store through modvault (the .info before the .zip, as the
	// go command does), then check both servers send the same bytes.
	get(b, client, mv+"/example.com/bench/@v/v1.2.3.info")
	size := get(b, client, mv+path)
	fsrv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(fsrv.Close)
	if ext != "list" {
		if n := get(b, client, fsrv.URL+path); n != size {
			b.Fatalf("file server sent %d bytes of %s, modvault %d", n, path, size)
		}
	}
	if before := up.TotalRequests(); before == 0 {
		b.Fatal("the upstream got no request: the store was not filled through modvault")
	}

	// The same store served by a modvault that keeps no metadata index:
	// the cost of the audit trail (events, hit counters) on warm requests.
	noIndex := benchModvaultOn(b, up.URL, up.SumDBName, dir, config.DatabaseOff)
	// And by a modvault with a policy (benchPolicy).
	withPolicy := benchModvaultWith(b, up.URL, up.SumDBName, dir, "", benchPolicy(b))
	if _, h := getWithHeader(b, client, withPolicy+path); h != "" {
		b.Fatalf("the policy is not a plain allow: %s", h)
	}
	for _, s := range []struct{ name, base string }{{"modvault", mv}, {"modvault-noindex", noIndex}, {"modvault-policy", withPolicy}, {"fileserver", fsrv.URL}} {
		if ext == "list" && s.name == "fileserver" {
			continue
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			if ext == ".zip" {
				b.SetBytes(size)
			}
			get(b, client, s.base+path) // a list is fetched once per server
			before := up.TotalRequests()
			for b.Loop() {
				get(b, client, s.base+path)
			}
			if n := up.TotalRequests() - before; n != 0 {
				b.Fatalf("warm GETs caused %d upstream requests", n)
			}
		})
	}
}

// benchPolicy is the policy of the modvault-policy benchmarks: rules and
// a vulnerability database (with an entry for another version of the
// module), with vuln-action deny. The version is allowed: this is the cost
// of judging every request, from the cache of decisions.
func benchPolicy(b *testing.B) func(c *config.Serve) {
	vulndb := writeBenchVulnDB(b)
	return func(c *config.Serve) {
		c.VulnDB = vulndb
		c.Policy.VulnAction = policy.Deny
		c.Policy.Rules = []policy.Rule{
			{Module: "example.com/bench", Versions: "<v1.0.0", Action: policy.Deny, Reason: "too old"},
			{Module: "example.com/other/*", Action: policy.Deny},
			{Module: "example.com/bench/internal", Action: policy.Allow},
		}
	}
}

// BenchmarkWarmInProcess measures modvault's own cost of answering a
// warm .info, .mod and .zip request, without a network or client: the
// handler called in process, with and without a policy, so the difference
// is the policy's cost on the hot path (the HTTP benchmarks above are too
// noisy on a shared machine to show a few percent).
func BenchmarkWarmInProcess(b *testing.B) {
	mod := proxytest.Module{
		Path:    "example.com/bench",
		Version: "v1.2.3",
		Files: map[string]string{
			"go.mod":   "module example.com/bench\n\ngo 1.22\n",
			"bench.go": "package bench\n\nconst B = 1\n",
		},
		Large: benchZipSize,
	}
	up := proxytest.New(b, mod)
	dir := b.TempDir()
	plain := benchHandler(b, up.URL, up.SumDBName, dir, "", func(*config.Serve) {})
	withPolicy := benchHandler(b, up.URL, up.SumDBName, dir, "", benchPolicy(b))
	for _, ext := range []string{".info", ".mod", ".zip"} {
		path := "/example.com/bench/@v/v1.2.3" + ext
		for _, h := range []http.Handler{plain, withPolicy} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if w.Code != http.StatusOK || w.Header().Get("Modvault-Policy") != "" {
				b.Fatalf("GET %s: %d %s", path, w.Code, w.Header().Get("Modvault-Policy"))
			}
		}
		for _, s := range []struct {
			name string
			h    http.Handler
		}{{"modvault", plain}, {"modvault-policy", withPolicy}} {
			b.Run(strings.TrimPrefix(ext, ".")+"/"+s.name, func(b *testing.B) {
				b.ReportAllocs()
				req := httptest.NewRequest("GET", path, nil)
				cpu := processCPU()
				for b.Loop() {
					w := httptest.NewRecorder()
					s.h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatal(w.Code)
					}
				}
				// CPU time, unlike ns/op, does not count the time other
				// processes of a shared machine took the cores.
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// processCPU returns the CPU time (user and system) this process has
// used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkWarmInfo measures GET of a stored .info (a few dozen bytes).
func BenchmarkWarmInfo(b *testing.B) { benchWarm(b, ".info", benchZipSize) }

// BenchmarkWarmMod measures GET of a stored .mod (a few dozen bytes).
func BenchmarkWarmMod(b *testing.B) { benchWarm(b, ".mod", benchZipSize) }

// BenchmarkWarmZip measures GET of a stored 256 KiB .zip.
func BenchmarkWarmZip(b *testing.B) { benchWarm(b, ".zip", benchZipSize) }

// BenchmarkWarmZip32 measures GET of a stored 32 KiB .zip, the size of
// most zips a build downloads.
func BenchmarkWarmZip32(b *testing.B) { benchWarm(b, ".zip", 32<<10) }

// BenchmarkWarmList measures GET of a module's version list within
// --list-ttl of the last fetch from the upstream.
func BenchmarkWarmList(b *testing.B) { benchWarm(b, "list", 0) }

// BenchmarkColdFill measures a miss: each iteration the go command's three
// requests (.info, .mod, .zip) for a module version modvault has not stored,
// which it fetches from the upstream, validates and stores. The upstream is
// on loopback with no delay, so this is modvault's own cost of a fill. The
// versions are published upstream before the timer starts, each as the only
// version of its own module: proxytest sorts a module's versions on every
// request, which would make the cost grow with b.N.
func BenchmarkColdFill(b *testing.B) {
	for _, large := range []int64{0, benchZipSize} {
		b.Run(fmt.Sprintf("zip=%dKiB", large>>10), func(b *testing.B) {
			up := proxytest.New(b)
			mv, _ := benchModvault(b, up.URL, up.SumDBName)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			b.Cleanup(client.CloseIdleConnections)
			sizes := make([]int64, b.N)
			for i := range b.N {
				path := coldModule(i)
				up.Add(proxytest.Module{
					Path:    path,
					Version: "v1.0.0",
					Files: map[string]string{
						"go.mod": "module " + path + "\n\ngo 1.22\n",
						"c.go":   "package cold\n\nconst C = 1\n",
					},
					Large: large,
				})
				sizes[i] = int64(len(up.ZipBytes(path, "v1.0.0")))
			}
			b.SetBytes(sizes[0]) // the sizes differ by a byte or two

			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				base := mv + "/" + coldModule(i) + "/@v/v1.0.0"
				get(b, client, base+".info")
				get(b, client, base+".mod")
				if n := get(b, client, base+".zip"); n != sizes[i] {
					b.Fatalf("zip of %s: got %d bytes, want %d", coldModule(i), n, sizes[i])
				}
			}
			b.StopTimer()
			if got, want := up.Requests("/"+coldModule(0)+"/@v/v1.0.0.zip"), 1; got != want {
				b.Errorf("upstream got %d requests for the first zip, want %d", got, want)
			}
		})
	}
}

// coldModule returns the module path of the i'th iteration of
// BenchmarkColdFill.
func coldModule(i int) string { return fmt.Sprintf("example.com/cold/m%d", i) }

// BenchmarkPrivateColdDownload measures "go mod download" of a private
// module (one tag of a local git repository) with an empty module cache:
// through a modvault with an empty store, which runs the go command against
// version control itself, and, as the reference, the go command fetching
// straight from version control (GOPROXY=direct), as it would without
// modvault. Each iteration starts from nothing stored anywhere.
func BenchmarkPrivateColdDownload(b *testing.B) {
	h := proxytest.NewGitHost(b)
	setGitEnv(b, h)
	privateRepos(b, h)
	const target = "example.test/lib.git@v1.1.0"
	b.Run("modvault", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			cfg := config.Serve{
				Storage: (&url.URL{Scheme: "file", Path: filepath.ToSlash(b.TempDir())}).String(), Upstream: "off",
				GONOPROXY: "example.test", GONOSUMDB: "example.test", TempDir: b.TempDir(),
				ListTTL: time.Minute, FillTimeout: time.Minute, ShutdownTimeout: time.Second,
			}
			a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), "bench")
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(a.Handler)
			g := proxytest.NewGo(b, srv.URL, "off")
			b.StartTimer()
			g.Must("mod", "download", target)
			b.StopTimer()
			srv.Close()
			a.Close()
			b.StartTimer()
		}
	})
	// The client's share: the same download from a modvault that has the
	// version stored already.
	b.Run("modvault-stored", func(b *testing.B) {
		cfg := config.Serve{
			Storage: (&url.URL{Scheme: "file", Path: filepath.ToSlash(b.TempDir())}).String(), Upstream: "off",
			GONOPROXY: "example.test", GONOSUMDB: "example.test", TempDir: b.TempDir(),
			ListTTL: time.Minute, FillTimeout: time.Minute, ShutdownTimeout: time.Second,
		}
		a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), "bench")
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler)
		b.Cleanup(func() { srv.Close(); a.Close() })
		proxytest.NewGo(b, srv.URL, "off").Must("mod", "download", target)
		for b.Loop() {
			b.StopTimer()
			g := proxytest.NewGo(b, srv.URL, "off")
			b.StartTimer()
			g.Must("mod", "download", target)
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			g := proxytest.NewGo(b, "direct", "off")
			g.Env = append(g.Env, "GOPRIVATE=example.test")
			b.StartTimer()
			g.Must("mod", "download", target)
		}
	})
}

// BenchmarkWarmZipS3 measures GET of a stored zip (256 KiB) when the store
// is a MinIO bucket: through modvault (modvault reads the object and sends
// it), through modvault with --zip-redirect (a 302 to a signed URL that the
// client follows to MinIO), and, as the reference, straight from MinIO with
// a signed URL (the limit of what the bucket can serve).
func BenchmarkWarmZipS3(b *testing.B) {
	minio := testserver.MinIO(b)
	testserver.SetEnv(b, minio.Env())
	storage := minio.NewBucket(b)
	mod := proxytest.Module{
		Path:    "example.com/bench",
		Version: "v1.2.3",
		Files:   map[string]string{"go.mod": "module example.com/bench\n\ngo 1.22\n", "bench.go": "package bench\n"},
		Large:   benchZipSize,
	}
	up := proxytest.New(b, mod)
	start := func(redirect time.Duration) string {
		cfg := config.Serve{
			Storage: storage, Upstream: up.URL, SumDB: []string{up.SumDBName},
			ListTTL: time.Minute, FillTimeout: time.Minute, TempDir: b.TempDir(), ShutdownTimeout: time.Second,
			ZipRedirect: redirect,
		}
		a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), "bench")
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler)
		b.Cleanup(func() { srv.Close(); a.Close() })
		return srv.URL
	}
	proxied, redirecting := start(0), start(15*time.Minute)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	const path = "/example.com/bench/@v/v1.2.3.zip"
	get(b, client, proxied+"/example.com/bench/@v/v1.2.3.info")
	size := get(b, client, proxied+path)
	noFollow := &http.Client{Transport: client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(redirecting + path)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	signed := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || signed == "" {
		b.Fatalf("redirecting modvault answered %s", resp.Status)
	}
	for _, s := range []struct{ name, url string }{
		{"modvault", proxied + path},
		{"modvault-redirect", redirecting + path},
		{"minio-signed-url", signed},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				if n := get(b, client, s.url); n != size {
					b.Fatalf("%d bytes, want %d", n, size)
				}
			}
		})
	}
}
