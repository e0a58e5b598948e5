package ui_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/ui"
)

// Shape of the index BenchmarkPages fills: 10,000 modules of 10 versions
// (100,000 versions), 200,000 events, 2,000 of them downloads of one
// version.
const (
	benchModules  = 10_000
	benchVersions = 10
	benchEvents   = 200_000
	benchHot      = 2_000
)

func benchPath(i int) string { return fmt.Sprintf("github.com/org%d/project-%d", i%500, i) }

// BenchmarkPages measures the server time of each page over an index of
// 100,000 versions, behind access control (every module and event is
// checked against the rules; corp.example/team is alice's): the handler
// is called directly, without a network. Home uses the totals behind its
// counts as read last (they are read again in the background every 10
// seconds); Totals is that background read.
//
//	go test -run XXX -bench Pages -benchtime 50x ./internal/ui/
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	x, err := index.Open(ctx, filepath.Join(b.TempDir(), "index.sqlite"), index.Options{Replica: "r1", BufferSize: benchEvents})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	start := time.Now()
	t0 := time.Now().Add(-365 * 24 * time.Hour)
	vs := make([]index.Version, 0, benchModules*benchVersions)
	for i := range benchModules {
		path := benchPath(i)
		if i%100 == 0 {
			path = fmt.Sprintf("corp.example/team/private-%d", i)
		}
		for j := range benchVersions {
			v := version(path, fmt.Sprintf("v1.%d.0", j), t0.Add(time.Duration(i*benchVersions+j)*time.Second))
			v.Private = i%100 == 0
			vs = append(vs, v)
		}
	}
	if err := x.RecordVersions(ctx, vs); err != nil {
		b.Fatal(err)
	}
	hot := module.Version{Path: benchPath(4242), Version: "v1.9.0"}
	for i := range benchEvents {
		e := index.Event{Time: time.Now().Add(-time.Duration(benchEvents-i) * 10 * time.Second), User: fmt.Sprintf("user%d", i%50),
			ClientAddr: "192.0.2.1", Module: benchPath(i % benchModules), Version: "v1.0.0", Kind: index.KindZip, Result: index.ResultHit, Bytes: 2048}
		if i%10 == 0 {
			e.Result, e.Reason = index.ResultDenied, "no rule matches"
		}
		if i < benchHot {
			e.Module, e.Version = hot.Path, hot.Version
		}
		x.Record(e)
		if i%10_000 == 0 {
			if err := x.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := x.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := x.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d versions and %d events in %v", len(vs), benchEvents, time.Since(start).Round(time.Millisecond))

	log := slog.New(slog.DiscardHandler)
	guard, err := auth.New(auth.Config{Rules: []auth.Rule{
		{Pattern: "*", Allow: []string{auth.Anyone}},
		{Pattern: auth.CatalogPattern, Allow: []string{auth.Anyone}},
		{Pattern: "corp.example/team", Allow: []string{auth.Authenticated}},
	}, Tokens: writeTokens(b)}, log)
	if err != nil {
		b.Fatal(err)
	}
	handler := func(ttl time.Duration) http.Handler {
		return route.Handler(guard.Handler(ui.New(ui.Options{Index: x, Log: log, CanRead: guard.CanRead, TotalsTTL: ttl,
			ReadMod: func(_ context.Context, mv module.Version) ([]byte, error) {
				return []byte("module " + mv.Path + "\n\ngo 1.22\n\nrequire example.com/dep v1.0.0\n"), nil
			}})))
	}
	cached := handler(0)
	b.Run("Totals", func(b *testing.B) {
		for b.Loop() {
			if _, err := x.ModuleTotals(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Wait for the totals the handler started reading.
	for {
		w := httptest.NewRecorder()
		cached.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ui/", nil))
		if strings.Contains(w.Body.String(), "modules</li>") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []struct {
		name string
		h    http.Handler
		path string
	}{
		{"Home", cached, "/ui/"},
		{"Search/common", cached, "/ui/search?q=project"},
		{"Search/rare", cached, "/ui/search?q=project-9999"},
		{"Search/none", cached, "/ui/search?q=no-such-module"},
		{"Module", cached, "/ui/" + hot.Path},
		{"Version", cached, "/ui/" + hot.Path + "@" + hot.Version},
		{"Events", cached, "/ui/events"},
		{"Events/module", cached, "/ui/events?module=" + hot.Path},
		{"Events/user+result", cached, "/ui/events?user=user7&result=denied"},
		{"Events/since", cached, "/ui/events?since=" + time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339)},
	} {
		b.Run(p.name, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				w := httptest.NewRecorder()
				t := time.Now()
				p.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p.path, nil))
				worst = max(worst, time.Since(t))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}

// writeTokens writes an empty tokens file, so that "authenticated" is a
// valid rule, and returns its path.
func writeTokens(b *testing.B) string {
	p := filepath.Join(b.TempDir(), "tokens")
	if err := writeFile(p, ""); err != nil {
		b.Fatal(err)
	}
	return p
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
