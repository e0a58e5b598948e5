package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// TestStalledUpstreamAnswersTheGoCommandFast: the go command downloads a
// module whose zip the first upstream stalls on (headers and part of the
// body, then nothing, connection open). It gets its answer within seconds,
// not after the fill timeout: with "first|second", the zip from the second
// upstream; with the first alone, a 504.
func TestStalledUpstreamAnswersTheGoCommandFast(t *testing.T) {
	const stallTimeout = 200 * time.Millisecond
	good := proxytest.New(t, proxytest.Module{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{
		"go.mod": gomod("example.com/m", ""),
		"m.go":   "package m\n",
	}})
	goodURL, err := url.Parse(good.URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(goodURL)
	stalling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			proxytest.Misbehave(proxytest.Stall, bytes.Repeat([]byte("z"), 64<<10))(w, r)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(stalling.Close)

	for _, tt := range []struct {
		name, list string
		ok         bool
	}{
		{"fall through after |", stalling.URL + "|" + good.URL, true},
		{"alone", stalling.URL, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxies, _, err := upstream.ParseList(tt.list)
			if err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			log := slog.New(slog.DiscardHandler)
			// The fill timeout, which bounded a stall before, is far
			// longer than this test may take.
			v := vault.New(st, upstream.New(proxies, upstream.Options{StallTimeout: stallTimeout}),
				vault.Options{FillTimeout: 2 * time.Minute, TempDir: t.TempDir(), Logger: log})
			cachedOnly := vault.New(st, upstream.New(nil, upstream.Options{}), vault.Options{Logger: log})
			srv := httptest.NewServer(server.New(v, cachedOnly, nil, log, server.Options{}))
			t.Cleanup(srv.Close)

			g := proxytest.NewGo(t, srv.URL, "off")
			start := time.Now()
			out, err := g.Run("mod", "download", "-json", "example.com/m@v1.0.0")
			elapsed := time.Since(start)
			t.Logf("go mod download after %v: %v\n%s", elapsed, err, out)
			if elapsed > 30*time.Second {
				t.Errorf("the go command got its answer after %v", elapsed)
			}
			switch {
			case tt.ok && err != nil:
				t.Errorf("go mod download failed; want the second upstream's zip")
			case !tt.ok && err == nil:
				t.Errorf("go mod download succeeded from a stalled upstream")
			case !tt.ok && !strings.Contains(out, "504 Gateway Timeout"):
				t.Errorf("go mod download failed without a 504")
			}
		})
	}
}
