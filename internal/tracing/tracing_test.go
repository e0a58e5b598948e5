package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// collector is a fake OTLP/HTTP collector that keeps the spans it gets.
type collector struct {
	mu    sync.Mutex
	spans map[string]string // span name → trace ID
	kinds map[string]int32
}

func newCollector(t *testing.T) (*collector, string) {
	c := &collector{spans: map[string]string{}, kinds: map[string]int32{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans[s.Name] = hex.EncodeToString(s.TraceId)
					c.kinds[s.Name] = int32(s.Kind)
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// TestSpansReachTheCollector: a served request and the upstream request it
// makes become a server span and a client span of one trace, named by the
// route kind (no module path), and reach the OTLP collector.
func TestSpansReachTheCollector(t *testing.T) {
	col, endpoint := newCollector(t)
	tr, err := New(context.Background(), endpoint, "test")
	if err != nil {
		t.Fatal(err)
	}
	var gotTraceparent string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTraceparent = r.Header.Get("Traceparent")
		io.WriteString(w, "upstream body")
	}))
	defer backend.Close()
	client := &http.Client{Transport: tr.Transport(nil)}
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend.URL+"/example.com/m/@v/v1.0.0.zip", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}), func(*http.Request) string { return "zip" })
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/example.com/m/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, []byte("upstream body")) {
		t.Fatalf("served %q", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	server, ok1 := col.spans["GET zip"]
	client2, ok2 := col.spans["upstream GET"]
	if !ok1 || !ok2 {
		t.Fatalf("the collector got spans %v, want \"GET zip\" and \"upstream GET\"", col.spans)
	}
	if server != client2 {
		t.Errorf("server span trace %s, upstream span trace %s: not one trace", server, client2)
	}
	if gotTraceparent == "" {
		t.Error("the upstream request carried no traceparent header")
	}
	for name := range col.spans {
		if bytes.Contains([]byte(name), []byte("example.com")) {
			t.Errorf("span name %q holds a module path", name)
		}
	}
}

func TestBadEndpoint(t *testing.T) {
	for _, e := range []string{"collector:4318", "ftp://x", "http://"} {
		if _, err := New(context.Background(), e, "test"); err == nil {
			t.Errorf("New(%q): no error", e)
		}
	}
}
