package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// TestObserveRequestDoesNotAllocate: counting a request on the hot path
// costs no allocation once its series exist.
func TestObserveRequestDoesNotAllocate(t *testing.T) {
	m := New(prometheus.NewRegistry())
	r := server.RequestInfo{Endpoint: route.Zip, Status: http.StatusOK, Source: vault.Hit, Bytes: 1234, Duration: time.Millisecond}
	m.ObserveRequest(r) // makes the series
	if n := testing.AllocsPerRun(100, func() { m.ObserveRequest(r) }); n != 0 {
		t.Errorf("ObserveRequest allocates %v times per call", n)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("zip", "200")); got != 101+1 {
		t.Errorf("requests{zip,200} = %v, want 102", got)
	}
	if got := testutil.ToFloat64(m.responseBytes.WithLabelValues("zip")); got != 102*1234 {
		t.Errorf("response bytes{zip} = %v, want %v", got, 102*1234)
	}
	if got := testutil.ToFloat64(m.cacheResults.WithLabelValues("zip", "hit")); got != 102 {
		t.Errorf("cache results{zip,hit} = %v, want 102", got)
	}
}

// TestObserveRequestLabels: every endpoint, status and source lands in its
// own series; failed answers count no cache result; odd values stay
// bounded.
func TestObserveRequestLabels(t *testing.T) {
	m := New(prometheus.NewRegistry())
	for _, e := range route.Endpoints() {
		m.ObserveRequest(server.RequestInfo{Endpoint: e, Status: 200 + int(e), Source: vault.Miss})
	}
	m.ObserveRequest(server.RequestInfo{Endpoint: route.Info, Status: 404, Source: vault.Hit})
	m.ObserveRequest(server.RequestInfo{Endpoint: route.Info, Status: 799})
	m.ObserveRequest(server.RequestInfo{Endpoint: route.Endpoint(200), Status: 200, Source: "bogus"})
	for _, e := range route.Endpoints() {
		code := fmt.Sprint(200 + int(e))
		want := 1.0
		if e == route.Other && code == "200" {
			want = 2 // and the unknown endpoint
		}
		if got := testutil.ToFloat64(m.requests.WithLabelValues(e.String(), code)); got != want {
			t.Errorf("requests{%s,%s} = %v, want %v", e, code, got, want)
		}
		if got := testutil.ToFloat64(m.cacheResults.WithLabelValues(e.String(), "miss")); got != 1 {
			t.Errorf("cache results{%s,miss} = %v, want 1", e, got)
		}
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("info", "799")); got != 1 {
		t.Errorf("requests{info,799} = %v, want 1", got)
	}
	// One miss per endpoint, and no hit: the 404 counted none.
	if n := testutil.CollectAndCount(m.cacheResults); n != len(route.Endpoints()) {
		t.Errorf("%d cache result series, want %d (one per endpoint)", n, len(route.Endpoints()))
	}
}

func TestFillOutcome(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&upstream.Error{URL: "u", Status: http.StatusNotFound}, "not_found"},
		{&upstream.Error{URL: "u", Status: http.StatusForbidden}, "refused"},
		{&upstream.Error{URL: "u", Status: http.StatusGone}, "not_found"},
		{&upstream.Error{Text: "off"}, "not_found"},
		{&vault.NotFoundError{Msg: "x"}, "not_found"},
		{&upstream.Error{URL: "u", Status: http.StatusBadGateway}, "upstream_error"},
		{fmt.Errorf("x: %w", upstream.ErrUnreachable), "upstream_error"},
		{fmt.Errorf("x: %w", upstream.ErrBadResponse), "upstream_error"},
		{fmt.Errorf("%w: zip", vault.ErrInvalid), "invalid"},
		{&checksumdb.MismatchError{}, "unverified"},
		{fmt.Errorf("%w: x", checksumdb.ErrUnverifiable), "unverified"},
		{checksumdb.ErrSecurity, "unverified"},
		{fmt.Errorf("go mod download: %w after 1s", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("store: writing k: disk full"), "error"},
	} {
		if got := fillOutcome(tt.err); got != tt.want {
			t.Errorf("fillOutcome(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestUpstreamOutcomeAndReport(t *testing.T) {
	m := New(prometheus.NewRegistry())
	now := time.Now()
	if got := m.UpstreamReport(now); got != "upstream: no request yet\n" {
		t.Errorf("report before any request = %q", got)
	}
	m.ObserveUpstream(upstream.TargetProxy, time.Millisecond, nil)
	m.ObserveUpstream(upstream.TargetSumDB, time.Millisecond, &upstream.Error{URL: "u", Status: http.StatusNotFound})
	m.ObserveUpstream(upstream.TargetDirect, time.Millisecond, fmt.Errorf("%w: dial tcp: refused", upstream.ErrUnreachable))
	m.ObserveUpstream(upstream.TargetDirect, time.Millisecond, fmt.Errorf("%w: %w", upstream.ErrUnreachable, context.Canceled))
	report := m.UpstreamReport(time.Now())
	for _, want := range []string{"upstream proxy: ok (last request 0s ago)\n", "upstream sumdb: ok (", "upstream direct: unreachable ("} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	for _, c := range []struct {
		target, outcome string
		want            float64
	}{{"proxy", "ok", 1}, {"sumdb", "not_found", 1}, {"direct", "error", 1}, {"direct", "canceled", 1}} {
		if got := testutil.ToFloat64(m.upstream.WithLabelValues(c.target, c.outcome)); got != c.want {
			t.Errorf("upstream{%s,%s} = %v, want %v", c.target, c.outcome, got, c.want)
		}
	}
}

// BenchmarkObserveRequest measures the cost metrics add to every request.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(prometheus.NewRegistry())
	r := server.RequestInfo{Endpoint: route.Zip, Status: http.StatusOK, Source: vault.Hit, Bytes: 1234, Duration: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(r)
		}
	})
}
