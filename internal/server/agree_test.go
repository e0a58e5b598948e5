package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/route"
)

// TestAccessControlAndServerAgree sends every path of the request corpus
// (and the handler fuzz corpus) to a modvault whose rules let anyone read
// example.com/m (and what lies under it) and /metrics, and nobody anything
// else. Access control must decide on exactly the module the server then
// serves: a path it denies reaches no upstream, a path it allows fetches
// only allowed modules, and what it allows or denies is what the one route
// table says.
func TestAccessControlAndServerAgree(t *testing.T) {
	const allowed = "example.com/m"
	up := proxytest.New(t, modules()...)
	users := filepath.Join(t.TempDir(), "users")
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, fmt.Appendf(nil, "nobody:%s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Serve{
		Storage:         "mem://",
		Upstream:        up.URL,
		SumDB:           []string{up.SumDBName},
		ListTTL:         time.Nanosecond,
		FillTimeout:     time.Minute,
		TempDir:         t.TempDir(),
		ShutdownTimeout: time.Second,
		AuthUsers:       users,
		AuthRules: []config.AuthRule{
			{Pattern: "*", Allow: []string{"nobody"}},
			{Pattern: allowed, Allow: []string{auth.Anyone}},
			{Pattern: auth.MetricsPattern, Allow: []string{auth.Anyone}},
		},
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })

	paths := append(proxytest.RequestPaths(), fuzzCorpus(t)...)
	paths = append(paths, "/sumdb/"+up.SumDBName+"/lookup/example.com/m@v1.0.0", "/sumdb/"+up.SumDBName+"/lookup/example.com/old@v1.0.0")
	checked := 0
	for _, p := range paths {
		before := up.RequestPaths()
		r := rawRequest(t, srv.URL, http.MethodGet, p)
		fetched := newPaths(before, up.RequestPaths())
		denied := r.status == http.StatusNotFound && string(r.body) == auth.NotFound

		u, err := url.ParseRequestURI(p) // as net/http reads the request line
		if err != nil || !strings.HasPrefix(p, "/") || r.status == http.StatusBadRequest && !denied && len(fetched) == 0 && strings.ContainsAny(p, " \x00") {
			// The HTTP server refused the request line itself.
			if len(fetched) > 0 {
				t.Errorf("GET %q: refused request line, yet the upstream was asked %v", p, fetched)
			}
			continue
		}
		rt := route.Parse(u.Path)
		var wantAllowed bool
		switch rt.Access() {
		case route.Open, route.MetricsAccess:
			wantAllowed = true
		case route.ModuleAccess:
			wantAllowed = module.MatchPrefixPatterns(allowed, rt.Module())
		}
		checked++
		if denied == wantAllowed {
			t.Errorf("GET %q: denied=%v, but the route (%v, module %q, access %d) says allowed=%v", p, denied, rt.Endpoint, rt.Module(), rt.Access(), wantAllowed)
		}
		if denied && len(fetched) > 0 {
			t.Errorf("GET %q: denied, yet the upstream was asked %v", p, fetched)
		}
		for _, f := range fetched {
			if mod := upstreamModule(f); mod == "" || !module.MatchPrefixPatterns(allowed, mod) {
				t.Errorf("GET %q (allowed for module %q): the server fetched %q, module %q", p, rt.Module(), f, mod)
			}
		}
	}
	if checked < len(proxytest.RequestPaths())/2 {
		t.Errorf("only %d paths checked", checked)
	}
}

// newPaths returns the paths of after that are not in before.
func newPaths(before, after []string) []string {
	var out []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}

// upstreamModule returns the module an upstream request path is about: a
// module proxy path or a checksum database lookup; "" for tiles and others.
func upstreamModule(p string) string {
	rt := route.Parse(p)
	if rt.Endpoint == route.SumDB {
		return rt.DB.Module
	}
	if req, err := protocol.Parse(p); err == nil {
		return req.Module
	}
	return ""
}

// fuzzCorpus returns the request paths of the handler fuzz test's seed
// corpus (testdata/fuzz/FuzzHandler), if there is one.
func fuzzCorpus(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzHandler", "*"))
	var paths []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1 files hold one string(...) line per argument.
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if s, ok := strings.CutPrefix(line, "string("); ok {
				var p string
				if _, err := fmt.Sscanf(strings.TrimSuffix(s, ")"), "%q", &p); err == nil {
					paths = append(paths, p)
				}
			}
		}
	}
	return paths
}
