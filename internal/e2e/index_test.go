package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/testserver"
)

// indexWait bounds the wait for the metadata index to show what was
// served: events are written in batches (every 500ms by default), and
// after a database outage at the next retry.
const indexWait = 20 * time.Second

// getAPI decodes the JSON answer of GET base+path into v, and returns the
// HTTP status; v is left alone unless the status is 200.
func getAPI(t *testing.T, client *http.Client, base, path string, v any) int {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding the answer: %v", path, err)
	}
	return resp.StatusCode
}

// waitFor calls check until it returns "" (success) or indexWait has
// passed, and then fails the test with check's last answer.
func waitFor(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(indexWait)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", indexWait, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allEvents returns the events of GET base/api/v1/events?query, every page.
func allEvents(t *testing.T, client *http.Client, base string, query url.Values) []api.Event {
	t.Helper()
	var all []api.Event
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", "1000")
	for {
		var page api.EventsPage
		if status := getAPI(t, client, base, "/api/v1/events?"+q.Encode(), &page); status != http.StatusOK {
			t.Fatalf("/api/v1/events?%s: status %d", q.Encode(), status)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		q.Set("cursor", page.Next)
	}
}

// goSum is the hashes of a go.sum file: "path version" (zip) and
// "path version/go.mod" to their h1: hash.
func goSum(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	sums := make(map[string]string)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("go.sum line %q", line)
		}
		sums[f[0]+" "+f[1]] = f[2]
	}
	return sums
}

// TestAPIHashesEqualGoSum: after the go command fetched modules through
// modvault, /api/v1/versions/<module>@<version> gives, for every line of
// the client's go.sum, the same h1: hash: mod_h1 for a /go.mod line,
// zip_h1 for a module's line. Module paths in the API's URLs are plain,
// uppercase letters included.
func TestAPIHashesEqualGoSum(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.WriteFile("main.go", mainGo)
	g.Must("get", "example.com/a@v1.0.0", "example.com/b/v2@v2.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible")
	g.Must("mod", "download")

	sums := goSum(t, g.Dir)
	zips := 0
	for key, want := range sums {
		path, vers, _ := strings.Cut(key, " ")
		vers, isMod := strings.CutSuffix(vers, "/go.mod")
		if !isMod {
			zips++
		}
		var v api.Version
		waitFor(t, func() string {
			if status := getAPI(t, nil, mv, "/api/v1/versions/"+path+"@"+vers, &v); status != http.StatusOK {
				return fmt.Sprintf("/api/v1/versions/%s@%s: status %d", path, vers, status)
			}
			if !isMod && v.ZipH1 == "" {
				return fmt.Sprintf("%s@%s: no zip_h1 yet", path, vers)
			}
			return ""
		})
		got := v.ZipH1
		if isMod {
			got = v.ModH1
		}
		if got != want {
			t.Errorf("go.sum has %s %s, /api/v1/versions/%s@%s has %s", key, want, path, vers, got)
		}
		if v.Path != path || v.Version != vers {
			t.Errorf("/api/v1/versions/%s@%s answers for %s@%s", path, vers, v.Path, v.Version)
		}
		if v.Proof == nil || !strings.HasPrefix(v.Verified, "checksum database "+up.SumDBName) {
			t.Errorf("%s@%s: verified %q, proof %+v; want the checksum database %s", path, vers, v.Verified, v.Proof, up.SumDBName)
		}
	}
	// Five modules were built, so five zips (and at least their go.mod
	// files) are in go.sum.
	if zips != 5 || len(sums) < 10 {
		t.Errorf("go.sum has %d lines, %d of zips; want 5 zips and their go.mod files:\n%v", len(sums), zips, sums)
	}
}

// serveTLS runs modvault with cfg (which names a certificate) on a new
// loopback port with its own server (app.Serve), and returns its base URL,
// https://127.0.0.1:PORT.
func serveTLS(t *testing.T, cfg config.Serve) string {
	t.Helper()
	cfg.ListTTL, cfg.FillTimeout, cfg.ShutdownTimeout = time.Millisecond, time.Minute, time.Second
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := app.New(context.Background(), cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// tlsClient returns an HTTP client that trusts the CA certificate in
// caFile.
func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestEventsNameTheNetrcUser: with access control on, modvault over TLS
// and the go command's credentials in .netrc, /api/v1/events lists each zip
// the go command downloaded, with the user's name, the zip's size and
// "filled" (then "hit" for a second client, and a second download of the
// version), and a request refused for want of credentials as "denied" for
// anonymous. The API is for whom the
// @catalog rule allows: another user gets a 404.
func TestEventsNameTheNetrcUser(t *testing.T) {
	const alicePassword, bobPassword = "alice-correct-horse", "bob-battery-staple"
	mods := modules()
	up := proxytest.New(t, mods...)
	dir := t.TempDir()
	caFile, certFile, keyFile := proxytest.WriteTestPKI(t, dir)
	var users strings.Builder
	for user, password := range map[string]string{"alice": alicePassword, "bob": bobPassword} {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "%s:%s\n", user, hash)
	}
	usersFile := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, storage := fileStore(t)
	base := serveTLS(t, config.Serve{
		Storage:   storage,
		Upstream:  up.URL,
		SumDB:     []string{up.SumDBName},
		GOSUMDB:   []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		TLSCert:   certFile,
		TLSKey:    keyFile,
		AuthUsers: usersFile,
		AuthRules: []config.AuthRule{
			{Pattern: "*", Allow: []string{"authenticated"}},
			{Pattern: "@catalog", Allow: []string{"alice"}},
		},
		Replica: "replica-a",
	})
	hostPort := strings.TrimPrefix(base, "https://")
	goAs := func(user, password string) *proxytest.Go {
		g := proxytest.NewGo(t, base, up.GOSUMDB())
		netrc := filepath.Join(t.TempDir(), "netrc")
		if err := os.WriteFile(netrc, []byte("machine "+hostPort+" login "+user+" password "+password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		g.Env = append(g.Env, "SSL_CERT_FILE="+caFile, "NETRC="+netrc)
		return g
	}
	downloaded := []string{"example.com/b@v1.1.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible"}
	goAs("alice", alicePassword).Must(append([]string{"mod", "download"}, downloaded...)...)
	goAs("bob", bobPassword).Must("mod", "download", "example.com/b@v1.1.0")

	client := tlsClient(t, caFile)
	// Refused for want of credentials: a denied event, for anonymous.
	resp, err := client.Get(base + "/example.com/b/v2/@v/v2.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a zip without credentials: status %d, want 404", resp.StatusCode)
	}

	// Only alice may read the API.
	alice := "https://alice:" + alicePassword + "@" + hostPort
	bob := "https://bob:" + bobPassword + "@" + hostPort
	for who, url := range map[string]string{"bob": bob, "anonymous": base} {
		if status := getAPI(t, client, url, "/api/v1/events", new(api.EventsPage)); status != http.StatusNotFound {
			t.Errorf("/api/v1/events as %s: status %d, want 404", who, status)
		}
	}

	// The zip events, as "user result module@version".
	zipSize := func(mv string) int64 {
		path, vers, _ := strings.Cut(mv, "@")
		return int64(len(up.ZipBytes(path, vers)))
	}
	want := map[string]bool{"bob hit example.com/b@v1.1.0": true, " denied example.com/b/v2@v2.0.0": true}
	for _, mv := range downloaded {
		want["alice filled "+mv] = true
	}
	waitFor(t, func() string {
		got := make(map[string]bool)
		for _, e := range allEvents(t, client, alice, url.Values{}) {
			if e.Kind != "zip" {
				continue
			}
			mv := e.Module + "@" + e.Version
			got[e.User+" "+e.Result+" "+mv] = true
			if e.Result != "denied" && e.Bytes != zipSize(mv) {
				return fmt.Sprintf("zip event %+v: %d bytes, want %d", e, e.Bytes, zipSize(mv))
			}
			if e.Replica != "replica-a" || e.ClientAddr != "127.0.0.1" {
				return fmt.Sprintf("zip event %+v: want replica-a and client 127.0.0.1", e)
			}
		}
		if !maps.Equal(got, want) {
			return fmt.Sprintf("zip events (user result module@version) %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		return ""
	})

	// Written with the events: b@v1.1.0 was downloaded twice.
	var v api.Version
	if status := getAPI(t, client, alice, "/api/v1/versions/example.com/b@v1.1.0", &v); status != http.StatusOK || v.Downloads != 2 || v.LastDownload.IsZero() {
		t.Errorf("/api/v1/versions/example.com/b@v1.1.0: status %d, downloads %d, last download %v; want 2 downloads", status, v.Downloads, v.LastDownload)
	}

	// The user filter finds alice's downloads, and her name only.
	for _, e := range allEvents(t, client, alice, url.Values{"user": {"alice"}}) {
		if e.User != "alice" {
			t.Errorf("/api/v1/events?user=alice lists %+v", e)
		}
	}
}

// zipEvents returns the zip events of /api/v1/events at base, as
// "replica result module@version".
func zipEvents(t *testing.T, base string) []string {
	t.Helper()
	var out []string
	for _, e := range allEvents(t, nil, base, url.Values{}) {
		if e.Kind == "zip" {
			out = append(out, e.Replica+" "+e.Result+" "+e.Module+"@"+e.Version)
		}
	}
	slices.Sort(out)
	return out
}

// TestReplicasShareOnePostgreSQL: two modvault replicas on one file store
// and one PostgreSQL database (--database postgres://…). A version the go
// command downloads through one is, through the other's /api/v1/, a
// version with its go.sum hashes and a download event naming the first
// replica; and the other way round.
func TestReplicasShareOnePostgreSQL(t *testing.T) {
	pg := testserver.Postgres(t)
	db := pg.NewDatabase(t)
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	replica := func(name string) string {
		return startModvaultWith(t, config.Serve{
			Storage:  storage,
			Upstream: up.URL,
			SumDB:    []string{up.SumDBName},
			GOSUMDB:  []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
			Database: db,
			Replica:  name,
		})
	}
	one, two := replica("one"), replica("two")

	proxytest.NewGo(t, one, up.GOSUMDB()).Must("mod", "download", "example.com/b@v1.1.0")
	waitFor(t, func() string {
		var v api.Version
		if status := getAPI(t, nil, two, "/api/v1/versions/example.com/b@v1.1.0", &v); status != http.StatusOK {
			return fmt.Sprintf("replica two: /api/v1/versions/example.com/b@v1.1.0: status %d", status)
		}
		if v.ZipH1 != up.ZipHash("example.com/b", "v1.1.0") || v.ModH1 != up.ModHash("example.com/b", "v1.1.0") || v.Downloads != 1 {
			return fmt.Sprintf("replica two: example.com/b@v1.1.0 is %+v; want the upstream's hashes and 1 download", v)
		}
		if got, want := zipEvents(t, two), []string{"one filled example.com/b@v1.1.0"}; !slices.Equal(got, want) {
			return fmt.Sprintf("replica two: zip events %q, want %q", got, want)
		}
		return ""
	})

	// Through the second replica: the version it holds in the shared
	// store is a hit, and one it fills is seen through the first.
	proxytest.NewGo(t, two, up.GOSUMDB()).Must("mod", "download", "example.com/b@v1.1.0", "example.com/Upper@v1.0.0-RC1")
	waitFor(t, func() string {
		want := []string{"one filled example.com/b@v1.1.0", "two filled example.com/Upper@v1.0.0-RC1", "two hit example.com/b@v1.1.0"}
		if got := zipEvents(t, one); !slices.Equal(got, want) {
			return fmt.Sprintf("replica one: zip events %q, want %q", got, want)
		}
		var page struct {
			Modules []struct{ Path string }
		}
		if status := getAPI(t, nil, one, "/api/v1/modules?q=example.com/", &page); status != http.StatusOK || len(page.Modules) != 2 {
			return fmt.Sprintf("replica one: /api/v1/modules?q=example.com/: status %d, %+v; want example.com/b and example.com/Upper", status, page.Modules)
		}
		return ""
	})
}

// TestDatabaseOutage: while the PostgreSQL server of the index is down,
// modvault goes on serving (the go command's downloads succeed) and holds
// the events in its buffer; when the server is back, every one of them is
// written: /api/v1/events lists each download, the metrics count as many
// events written as the API lists and none dropped. The versions stored
// during the outage are in the index soon after it, without a restart.
func TestDatabaseOutage(t *testing.T) {
	pg := testserver.Postgres(t)
	db := pg.NewDatabase(t)
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	cfg := config.Serve{
		Storage:  storage,
		Upstream: up.URL,
		SumDB:    []string{up.SumDBName},
		GOSUMDB:  []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		Database: db,
		Replica:  "r",
	}
	mv := startModvaultWith(t, cfg)
	c := metricsClient(t)

	// Before the outage: one download, written.
	proxytest.NewGo(t, mv, up.GOSUMDB()).Must("mod", "download", "example.com/b@v1.0.0")
	waitFor(t, func() string {
		if got := zipEvents(t, mv); len(got) != 1 {
			return fmt.Sprintf("zip events before the outage: %q", got)
		}
		return ""
	})

	pg.Stop()
	during := []string{"example.com/a@v1.0.0", "example.com/b@v1.1.0", "example.com/b/v2@v2.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/old@v2.0.0+incompatible"}
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.Must(append([]string{"mod", "download"}, during...)...)
	g.Must("mod", "download", "example.com/b@v1.0.0") // a hit
	// The writer has tried, failed, and holds the events.
	waitFor(t, func() string {
		m := scrape(t, c, mv)
		if m.value("modvault_index_write_errors_total") == 0 || m.value("modvault_index_buffered_events") < float64(len(during)+1) {
			return fmt.Sprintf("during the outage: %v write errors, %v buffered events; want errors and at least %d events",
				m.value("modvault_index_write_errors_total"), m.value("modvault_index_buffered_events"), len(during)+1)
		}
		return ""
	})
	if status := getAPI(t, nil, mv, "/api/v1/events", new(api.EventsPage)); status != http.StatusServiceUnavailable && status != http.StatusInternalServerError {
		t.Errorf("/api/v1/events with the database down: status %d, want 500 or 503", status)
	}

	pg.Start(t)
	want := []string{"r filled example.com/b@v1.0.0", "r hit example.com/b@v1.0.0"}
	for _, mod := range during {
		want = append(want, "r filled "+mod)
	}
	slices.Sort(want)
	waitFor(t, func() string {
		if got := zipEvents(t, mv); !slices.Equal(got, want) {
			return fmt.Sprintf("zip events after the outage %q, want %q", got, want)
		}
		m := scrape(t, c, mv)
		if n := m.value("modvault_index_buffered_events"); n != 0 {
			return fmt.Sprintf("%v events still buffered", n)
		}
		return ""
	})
	m := scrape(t, c, mv)
	if n := m.value("modvault_index_events_dropped_total"); n != 0 {
		t.Errorf("%v events dropped", n)
	}
	if listed, written := len(allEvents(t, nil, mv, url.Values{})), m.value("modvault_index_events_written_total"); float64(listed) != written {
		t.Errorf("/api/v1/events lists %d events, the metrics count %v written", listed, written)
	}

	// The versions stored during the outage, which the index could not
	// record then, are recorded once it is back, without a restart.
	for _, mod := range during {
		path, vers, _ := strings.Cut(mod, "@")
		waitFor(t, func() string {
			var v api.Version
			if status := getAPI(t, nil, mv, "/api/v1/versions/"+mod, &v); status != http.StatusOK {
				return fmt.Sprintf("/api/v1/versions/%s after the outage: status %d", mod, status)
			}
			if v.ZipH1 != up.ZipHash(path, vers) || v.ModH1 != up.ModHash(path, vers) {
				return fmt.Sprintf("/api/v1/versions/%s after the outage: %+v, want the upstream's hashes", mod, v)
			}
			return ""
		})
	}
}
