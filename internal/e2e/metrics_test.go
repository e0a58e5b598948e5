package e2e

import (
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

// metricsClient talks to modvault over one connection at a time. The
// server counts a request after its handler returns, and handles the next
// request on a connection only then, so every request is counted by the
// time the client's next one is answered: scrapes see exact numbers.
func metricsClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// fetch GETs url and returns the status and body.
func fetch(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustFetch GETs url, wants status, and returns the body.
func mustFetch(t *testing.T, c *http.Client, url string, status int) string {
	t.Helper()
	got, body := fetch(t, c, url)
	if got != status {
		t.Fatalf("GET %s: %d %s, want %d", url, got, body, status)
	}
	return body
}

// metrics is a scrape of /metrics.
type metrics map[string]*dto.MetricFamily

// scrape reads and parses modvault's /metrics.
func scrape(t *testing.T, c *http.Client, base string) metrics {
	t.Helper()
	body := mustFetch(t, c, base+"/metrics", http.StatusOK)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// series returns the series of family name whose labels include the given
// "name=value" pairs, and whether the family exists.
func (m metrics) series(name string, labels ...string) ([]*dto.Metric, bool) {
	fam, ok := m[name]
	if !ok {
		return nil, false
	}
	var out []*dto.Metric
	for _, s := range fam.GetMetric() {
		have := make(map[string]string)
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out, true
}

// value returns the sum of the counters or gauges (or histogram sample
// counts) of family name whose labels include the given "name=value"
// pairs; 0 where there is none.
func (m metrics) value(name string, labels ...string) float64 {
	ss, _ := m.series(name, labels...)
	sum := 0.0
	for _, s := range ss {
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// delta is what changed between two scrapes.
func delta(before, after metrics, name string, labels ...string) float64 {
	return after.value(name, labels...) - before.value(name, labels...)
}

// check compares the change of each series between two scrapes with what
// the test's requests should have caused.
func check(t *testing.T, before, after metrics, want map[string]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := strings.Fields(k)
		if got := delta(before, after, f[0], f[1:]...); got != want[k] {
			t.Errorf("%s moved by %v, want %v", k, got, want[k])
		}
	}
}

// TestMetricsCountRequestsFillsAndUpstream makes requests of every kind and
// checks that each counter moved by exactly what they should cause,
// against the upstream's own record of what it was asked.
func TestMetricsCountRequestsFillsAndUpstream(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	c := metricsClient(t)

	// modvault follows the checksum database's tree head from its start;
	// let that first request be made before counting.
	before := scrape(t, c, mv)
	for deadline := time.Now().Add(time.Minute); before.value("modvault_upstream_requests_total", "target=sumdb") == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		before = scrape(t, c, mv)
	}
	sumdbBefore := before.value("modvault_upstream_requests_total", "target=sumdb")
	for _, name := range []string{"modvault_fills_in_flight", "modvault_storage_errors_total", "modvault_verification_failures_total"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics lacks %s from the start", name)
		}
	}
	if _, ok := before["modvault_direct_commands_running"]; ok {
		t.Error("modvault_direct_commands_running is exported without direct fetches")
	}

	info := mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusOK) // cold: filled
	if again := mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusOK); again != info {
		t.Fatalf("second .info %q, first %q", again, info)
	}
	zip := mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.zip", http.StatusOK) // cold: filled
	notFound := mustFetch(t, c, mv+"/example.com/nope/@v/v1.0.0.info", http.StatusNotFound)
	list := mustFetch(t, c, mv+"/example.com/b/@v/list", http.StatusOK) // passed through
	// Verified when the version was filled: answered from the store.
	lookup := mustFetch(t, c, mv+"/sumdb/"+up.SumDBName+"/lookup/example.com/b@v1.0.0", http.StatusOK)
	after := scrape(t, c, mv)

	if string(up.ZipBytes("example.com/b", "v1.0.0")) != zip {
		t.Fatal("modvault sent another zip than the upstream's")
	}
	// What the upstream was asked: the module files and the list, and
	// the checksum database's lookup and tiles for the verification.
	proxyPaths := map[string]int{
		"/example.com/b/@v/v1.0.0.info":    1,
		"/example.com/b/@v/v1.0.0.mod":     1,
		"/example.com/b/@v/v1.0.0.zip":     1,
		"/example.com/b/@v/list":           1,
		"/example.com/nope/@v/v1.0.0.info": 1,
	}
	sumdbRequests := 0
	for _, p := range up.RequestPaths() {
		if strings.HasPrefix(p, "/sumdb/") {
			sumdbRequests += up.Requests(p)
		} else if n := up.Requests(p); proxyPaths[p] != n {
			t.Errorf("the upstream got %d requests for %s, want %d", n, p, proxyPaths[p])
		}
	}
	if float64(sumdbRequests) <= sumdbBefore {
		t.Error("the checksum database got no request: nothing was verified")
	}

	check(t, before, after, map[string]float64{
		`modvault_http_requests_total endpoint=info code=200`:             2,
		`modvault_http_requests_total endpoint=info code=404`:             1,
		`modvault_http_requests_total endpoint=zip code=200`:              1,
		`modvault_http_requests_total endpoint=list code=200`:             1,
		`modvault_http_requests_total endpoint=sumdb code=200`:            1,
		`modvault_http_requests_total endpoint=metrics code=200`:          1, // the first scrape
		`modvault_http_requests_total`:                                    7,
		`modvault_http_request_duration_seconds endpoint=info`:            3,
		`modvault_http_request_duration_seconds endpoint=zip`:             1,
		`modvault_http_request_duration_seconds`:                          7,
		`modvault_http_response_bytes_total endpoint=info`:                float64(2*len(info) + len(notFound)),
		`modvault_http_response_bytes_total endpoint=zip`:                 float64(len(zip)),
		`modvault_http_response_bytes_total endpoint=list`:                float64(len(list)),
		`modvault_http_response_bytes_total endpoint=sumdb`:               float64(len(lookup)),
		`modvault_cache_results_total endpoint=info result=miss`:          1,
		`modvault_cache_results_total endpoint=info result=hit`:           1,
		`modvault_cache_results_total endpoint=zip result=miss`:           1,
		`modvault_cache_results_total endpoint=list result=upstream`:      1,
		`modvault_cache_results_total`:                                    4,
		`modvault_upstream_requests_total target=proxy outcome=ok`:        4,
		`modvault_upstream_requests_total target=proxy outcome=not_found`: 1,
		`modvault_upstream_requests_total target=sumdb outcome=ok`:        float64(sumdbRequests) - sumdbBefore,
		`modvault_upstream_requests_total`:                                float64(5+sumdbRequests) - sumdbBefore,
		`modvault_upstream_request_duration_seconds target=proxy`:         5,
		`modvault_upstream_request_duration_seconds target=sumdb`:         float64(sumdbRequests) - sumdbBefore,
		`modvault_fills_total kind=info outcome=ok`:                       1,
		`modvault_fills_total kind=info outcome=not_found`:                1,
		`modvault_fills_total kind=zip outcome=ok`:                        1,
		`modvault_fills_total`:                                            3,
		`modvault_fill_duration_seconds kind=info`:                        2,
		`modvault_fill_duration_seconds kind=zip`:                         1,
		`modvault_storage_errors_total`:                                   0,
		`modvault_verification_failures_total`:                            0,
	})
	if n := after.value("modvault_fills_in_flight"); n != 0 {
		t.Errorf("modvault_fills_in_flight = %v after every request was answered", n)
	}
	// Labels never carry module paths.
	for name, fam := range after {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), "example.com") {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsCountDirectFetches fetches a private module from version
// control and checks the go command counters.
func TestMetricsCountDirectFetches(t *testing.T) {
	h := proxytest.NewGitHost(t)
	setGitEnv(t, h)
	repo := h.Repo("m.git")
	repo.Commit("v1", map[string]string{
		"go.mod": proxytest.GoMod("example.test/m.git"),
		"m.go":   "package m\n\nconst M = 1\n",
	})
	repo.Tag("v1.0.0")
	mv := startModvaultWith(t, config.Serve{
		Storage:       "mem://",
		Upstream:      "off",
		GOPRIVATE:     "example.test",
		GONOPROXY:     "example.test",
		GONOSUMDB:     "example.test",
		TempDir:       t.TempDir(),
		DirectTimeout: 2 * time.Minute,
	})
	c := metricsClient(t)
	before := scrape(t, c, mv)
	if _, ok := before["modvault_direct_commands_running"]; !ok {
		t.Error("/metrics lacks modvault_direct_commands_running")
	}

	// One go mod download for the version's .info, .mod and zip.
	mustFetch(t, c, mv+"/example.test/m.git/@v/v1.0.0.info", http.StatusOK)
	mustFetch(t, c, mv+"/example.test/m.git/@v/v1.0.0.zip", http.StatusOK)
	mustFetch(t, c, mv+"/example.test/m.git/@v/list", http.StatusOK)
	mustFetch(t, c, mv+"/example.test/m.git/@v/main.info", http.StatusOK)
	mustFetch(t, c, mv+"/example.test/none.git/@v/v1.0.0.info", http.StatusNotFound)
	after := scrape(t, c, mv)

	check(t, before, after, map[string]float64{
		`modvault_direct_commands_total command=download outcome=ok`:        1,
		`modvault_direct_commands_total command=download outcome=not_found`: 1,
		`modvault_direct_commands_total command=list outcome=ok`:            1,
		`modvault_direct_commands_total command=query outcome=ok`:           1,
		`modvault_direct_commands_total`:                                    4,
		`modvault_direct_command_duration_seconds command=download`:         2,
		`modvault_direct_command_duration_seconds`:                          4,
		// .info, .mod and .zip from the one download, the list, the
		// query, and the missing version.
		`modvault_upstream_requests_total target=direct outcome=ok`:        5,
		`modvault_upstream_requests_total target=direct outcome=not_found`: 1,
		`modvault_upstream_requests_total`:                                 6,
		`modvault_upstream_request_duration_seconds target=direct`:         6,
		`modvault_fills_total kind=info outcome=ok`:                        1,
		`modvault_fills_total kind=info outcome=not_found`:                 1,
		`modvault_fills_total kind=zip outcome=ok`:                         1,
		`modvault_cache_results_total endpoint=query result=upstream`:      1,
		`modvault_cache_results_total endpoint=list result=upstream`:       1,
	})
	if n := after.value("modvault_direct_commands_running"); n != 0 {
		t.Errorf("modvault_direct_commands_running = %v after every request was answered", n)
	}
}

// TestMetricsCountLockLeases: with a Redis lock, every fill takes a lease,
// and with Redis gone fills go on without one, counted as fallbacks.
func TestMetricsCountLockLeases(t *testing.T) {
	redis := testserver.RedisServer(t)
	up := proxytest.New(t, modules()...)
	mv := startModvaultWith(t, config.Serve{
		Storage:  "mem://",
		Upstream: up.URL,
		SumDB:    []string{up.SumDBName},
		GOSUMDB:  []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		Lock:     redis.URL(),
	})
	c := metricsClient(t)
	before := scrape(t, c, mv)
	mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusOK)
	mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.zip", http.StatusOK)
	mid := scrape(t, c, mv)
	check(t, before, mid, map[string]float64{
		`modvault_lock_acquired_total`:  2, // the .info fill and the zip fill
		`modvault_lock_contended_total`: 0,
		`modvault_lock_fallbacks_total`: 0,
		`modvault_lock_lost_total`:      0,
	})
	redis.Stop()
	mustFetch(t, c, mv+"/example.com/b/@v/v1.1.0.info", http.StatusOK)
	after := scrape(t, c, mv)
	check(t, mid, after, map[string]float64{
		`modvault_lock_acquired_total`:  0,
		`modvault_lock_fallbacks_total`: 1,
	})
}

// TestReadyz: /readyz is 200 while the store answers, whatever the
// upstream does, and reports the upstream as the latest requests found it;
// it is 503 when the store fails.
func TestReadyz(t *testing.T) {
	up := proxytest.New(t, modules()...)
	dir, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	c := metricsClient(t)

	// modvault follows the checksum database's tree head from its start.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		body := mustFetch(t, c, mv+"/readyz", http.StatusOK)
		if strings.HasPrefix(body, "store: ok\nupstream sumdb: ok (last request ") {
			break
		}
		if body != "store: ok\nupstream: no request yet\n" || time.Now().After(deadline) {
			t.Fatalf("/readyz at start: %q, want the checksum database modvault follows from its start", body)
		}
	}
	mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusOK)
	body := mustFetch(t, c, mv+"/readyz", http.StatusOK)
	for _, want := range []string{"store: ok\n", "upstream proxy: ok (last request ", "upstream sumdb: ok (last request "} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz after a fill lacks %q:\n%s", want, body)
		}
	}

	// The upstream goes away: modvault still serves its store, so it
	// stays ready, and says what it found.
	up.Close()
	mustFetch(t, c, mv+"/example.com/b/@v/v1.1.0.info", http.StatusBadGateway)
	body = mustFetch(t, c, mv+"/readyz", http.StatusOK)
	if !strings.HasPrefix(body, "store: ok\n") || !strings.Contains(body, "upstream proxy: unreachable (last request ") {
		t.Errorf("/readyz with the upstream gone:\n%s", body)
	}
	mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusOK) // from the store
	if body := mustFetch(t, c, mv+"/healthz", http.StatusOK); body != "ok\n" {
		t.Errorf("/healthz: %q", body)
	}

	// The store's directory is replaced by a file: every operation on it
	// fails (not "not found"), as on a disk gone bad.
	before := scrape(t, c, mv)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, body := fetch(t, c, mv+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "store: failing: ") || !strings.Contains(body, "not a directory") {
		t.Errorf("/readyz with a broken store: %d\n%s", status, body)
	}
	if !strings.Contains(body, "upstream proxy: unreachable") {
		t.Errorf("/readyz with a broken store does not report the upstream:\n%s", body)
	}
	mustFetch(t, c, mv+"/example.com/b/@v/v1.1.0.mod", http.StatusInternalServerError)
	// The checksum database's answers are read from the store first, then
	// (failing that) asked upstream, which is gone too.
	mustFetch(t, c, mv+"/sumdb/"+up.SumDBName+"/lookup/example.com/b@v1.1.0", http.StatusBadGateway)
	if body := mustFetch(t, c, mv+"/healthz", http.StatusOK); body != "ok\n" {
		t.Errorf("/healthz with a broken store: %q", body)
	}
	after := scrape(t, c, mv)
	check(t, before, after, map[string]float64{
		`modvault_storage_errors_total op=exists`:               1, // the .mod request
		`modvault_storage_errors_total op=read`:                 1, // the lookup
		`modvault_storage_errors_total`:                         2,
		`modvault_http_requests_total endpoint=sumdb code=502`:  1,
		`modvault_http_requests_total endpoint=mod code=500`:    1,
		`modvault_http_requests_total endpoint=ready code=503`:  1,
		`modvault_http_requests_total endpoint=health code=200`: 1,
		`modvault_fills_total`:                                  0,
	})
}

// TestReadyzWithoutUpstream: with --upstream off, /readyz says so.
func TestReadyzWithoutUpstream(t *testing.T) {
	_, storage := fileStore(t)
	mv := startModvaultWith(t, config.Serve{Storage: storage, Upstream: "off"})
	c := metricsClient(t)
	mustFetch(t, c, mv+"/example.com/b/@v/v1.0.0.info", http.StatusNotFound)
	if body := mustFetch(t, c, mv+"/readyz", http.StatusOK); body != "store: ok\nupstream: none (--upstream off): serving from the store alone\n" {
		t.Errorf("/readyz: %q", body)
	}
}
