package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/app"
)

// TestPublicURLOnTheUI: with --public-url, the web UI's home page tells
// clients to use that URL, not the scheme and host the request came with
// (those of a TLS-terminating proxy's inner hop); without it, the
// request's.
func TestPublicURLOnTheUI(t *testing.T) {
	for _, tt := range []struct{ publicURL, want string }{
		{"https://proxy.corp.example/", "https://proxy.corp.example/"},
		{"", "http://10.1.2.3:3000/"},
	} {
		cfg := withCredentials(t.TempDir())
		cfg.DirectTokens = nil
		cfg.PublicURL = tt.publicURL
		a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), "test")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "http://10.1.2.3:3000/ui/", nil)
		w := httptest.NewRecorder()
		a.Handler.ServeHTTP(w, r)
		a.Close()
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, "GOPROXY="+tt.want) {
			t.Errorf("--public-url %q: /ui/ answers %d without GOPROXY=%s:\n%s", tt.publicURL, w.Code, tt.want, body)
		}
		if tt.publicURL != "" && strings.Contains(body, "10.1.2.3") {
			t.Errorf("--public-url %q: /ui/ still shows the request's host", tt.publicURL)
		}
	}
}
