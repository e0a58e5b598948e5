// Package metrics counts what a modvault server does, for Prometheus:
// requests by endpoint and status, how answers were obtained (cache hits and
// misses), upstream requests, fills, storage failures, checksum verification
// failures, go commands run for version control and the Redis lock.
//
// A [Metrics] registers on the registry it is given (one per App); its
// methods are the hooks of the packages it watches (server.Options.Observe,
// vault.Options.FillDone, upstream.Options.Observe, …), so none of them
// depends on Prometheus. Labels take values from small fixed sets: never a
// module path.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/lock"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// Outcomes of upstream requests, fills and go commands.
const (
	outcomeOK            = "ok"
	outcomeNotFound      = "not_found"      // the upstream does not have it
	outcomeInvalid       = "invalid"        // the upstream sent content that failed validation
	outcomeUnverified    = "unverified"     // checksum-database verification failed
	outcomeUpstreamError = "upstream_error" // the upstream failed or could not be reached
	outcomeRefused       = "refused"        // the upstream refused it (403 and other 4xx but 404 and 410)
	outcomeDenied        = "denied"         // modvault's policy refused it
	outcomeTimeout       = "timeout"
	outcomeCanceled      = "canceled" // nobody waited for it any longer, or shutdown
	outcomeError         = "error"    // anything else: modvault's own failures
)

// Metrics holds a modvault server's metrics. Create it with [New].
type Metrics struct {
	reg prometheus.Registerer

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	responseBytes  *prometheus.CounterVec
	cacheResults   *prometheus.CounterVec
	upstream       *prometheus.CounterVec
	upstreamSecs   *prometheus.HistogramVec
	fills          *prometheus.CounterVec
	fillSeconds    *prometheus.HistogramVec
	storageErrors  *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	commands       *prometheus.CounterVec
	commandSeconds *prometheus.HistogramVec

	endpoints []endpointMetrics // by route.Endpoint

	mu           sync.Mutex
	lastUpstream map[upstream.Target]lastRequest
}

// endpointMetrics are the children of the request metrics for one
// endpoint, made on first use, so that a request costs no label lookup and
// no allocation, and endpoints never asked for export nothing.
type endpointMetrics struct {
	name    string
	seconds lazy[prometheus.Observer]
	bytes   lazy[prometheus.Counter]
	codes   [maxCode - minCode]lazy[prometheus.Counter]
	sources []lazy[prometheus.Counter] // by sourceIndex
}

// The status codes whose request counters are kept in endpointMetrics;
// others (net/http allows up to 999) are looked up.
const (
	minCode = 100
	maxCode = 600
)

// sourceIndex returns the index of src in vault.Sources(), or -1.
func sourceIndex(src vault.Source) int { return slices.Index(vault.Sources(), src) }

// lastRequest is the outcome of the latest upstream request to a target.
type lastRequest struct {
	at    time.Time
	state string // "ok", or what went wrong
}

// New returns Metrics registered on reg.
func New(reg prometheus.Registerer) *Metrics {
	// Request durations span answers from memory (well under a
	// millisecond) to fills of large zips (minutes); upstream requests, a
	// nearby proxy to a slow clone; go commands, a quick ls-remote to
	// their default ten-minute limit.
	requestBuckets := prometheus.ExponentialBuckets(0.00025, 4, 10) // 250µs … 65s
	upstreamBuckets := prometheus.ExponentialBuckets(0.005, 4, 9)   // 5ms … 5.5min
	commandBuckets := prometheus.ExponentialBuckets(0.1, 3, 9)      // 100ms … 11min
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_http_requests_total",
			Help: "HTTP requests answered, by endpoint (list, latest, info, mod, zip, query, sumdb, health, ready, metrics, other) and status code (499: the client went away first).",
		}, []string{"endpoint", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modvault_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, until its whole body was written, by endpoint.",
			Buckets: requestBuckets,
		}, []string{"endpoint"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_http_response_bytes_total",
			Help: "Response body bytes written, by endpoint (not counting zips answered with a redirect to the store).",
		}, []string{"endpoint"}),
		cacheResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_cache_results_total",
			Help: "Successful module proxy answers by endpoint and how they were obtained: hit (from the store), miss (filled from the upstream now), upstream (passed through, not stored), cached (the short-lived copy of an upstream answer), offline (from the store because the upstream failed).",
		}, []string{"endpoint", "result"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_upstream_requests_total",
			Help: "Requests to the upstream, by target (proxy: a module proxy; direct: version control, through the go command; sumdb: a checksum database, directly or through a proxy) and outcome (ok, not_found, error, canceled).",
		}, []string{"target", "outcome"}),
		upstreamSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modvault_upstream_request_duration_seconds",
			Help:    "Time an upstream request took until the answer's headers (for version control, until the go command's files were ready), by target.",
			Buckets: upstreamBuckets,
		}, []string{"target"}),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_fills_total",
			Help: "Fills of the store from the upstream, by kind (info: a version's .info and .mod; zip) and outcome (ok, not_found, invalid, unverified, upstream_error, timeout, canceled, error).",
		}, []string{"kind", "outcome"}),
		fillSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modvault_fill_duration_seconds",
			Help:    "Time a fill took, by kind (info, zip), whatever its outcome.",
			Buckets: upstreamBuckets,
		}, []string{"kind"}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_storage_errors_total",
			Help: "Failed store operations of requests and fills (module files and checksum-database answers), by operation (open, exists, read, write, list). Missing objects and refused create-once writes are no failures.",
		}, []string{"op"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_verification_failures_total",
			Help: "Module files refused because their checksum-database verification failed, by reason: mismatch, unverifiable (database unreachable or without a record) or security (database misbehavior).",
		}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modvault_direct_commands_total",
			Help: "go commands run to fetch from version control, by command (list, query, download) and outcome (ok, not_found, timeout, canceled, error).",
		}, []string{"command", "outcome"}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modvault_direct_command_duration_seconds",
			Help:    "Time a go command fetching from version control ran, by command (list, query, download).",
			Buckets: commandBuckets,
		}, []string{"command"}),
		lastUpstream: make(map[upstream.Target]lastRequest),
	}
	reg.MustRegister(m.requests, m.requestSeconds, m.responseBytes, m.cacheResults,
		m.upstream, m.upstreamSecs, m.fills, m.fillSeconds, m.storageErrors, m.verifyFailures,
		m.commands, m.commandSeconds)
	// Failures are exported as zeros from the start, so that alerts on
	// their increase work from the first failure.
	for _, r := range []string{"mismatch", "unverifiable", "security"} {
		m.verifyFailures.WithLabelValues(r)
	}
	for _, op := range []string{"open", "exists", "read", "write", "list"} {
		m.storageErrors.WithLabelValues(op)
	}
	for _, e := range route.Endpoints() {
		m.endpoints = append(m.endpoints, endpointMetrics{name: e.String(), sources: make([]lazy[prometheus.Counter], len(vault.Sources()))})
	}
	return m
}

// ObserveRequest counts an answered request. It is server.Options.Observe.
func (m *Metrics) ObserveRequest(r server.RequestInfo) {
	if int(r.Endpoint) >= len(m.endpoints) {
		r.Endpoint = route.Other
	}
	e := &m.endpoints[r.Endpoint]
	if minCode <= r.Status && r.Status < maxCode {
		e.codes[r.Status-minCode].get(func() prometheus.Counter {
			return m.requests.WithLabelValues(e.name, strconv.Itoa(r.Status))
		}).Inc()
	} else {
		m.requests.WithLabelValues(e.name, strconv.Itoa(r.Status)).Inc()
	}
	e.seconds.get(func() prometheus.Observer { return m.requestSeconds.WithLabelValues(e.name) }).Observe(r.Duration.Seconds())
	if r.Bytes > 0 {
		e.bytes.get(func() prometheus.Counter { return m.responseBytes.WithLabelValues(e.name) }).Add(float64(r.Bytes))
	}
	if i := sourceIndex(r.Source); i >= 0 && r.Status < 400 {
		e.sources[i].get(func() prometheus.Counter {
			return m.cacheResults.WithLabelValues(e.name, string(r.Source))
		}).Inc()
	}
}

// StoreFailed counts a failed store operation. It is
// vault.Options.StoreFailed, server.Options.StoreFailed and
// checksumdb.Proxy.StoreFailed.
func (m *Metrics) StoreFailed(op string, _ error) {
	m.storageErrors.WithLabelValues(op).Inc()
}

// VerifyFailed counts a failed checksum verification by its reason. It is
// vault.Options.VerifyFailed.
func (m *Metrics) VerifyFailed(err error) {
	reason := "unverifiable"
	switch {
	case errors.Is(err, checksumdb.ErrMismatch):
		reason = "mismatch"
	case errors.Is(err, checksumdb.ErrSecurity):
		reason = "security"
	}
	m.verifyFailures.WithLabelValues(reason).Inc()
}

// FillDone counts a fill. It is vault.Options.FillDone.
func (m *Metrics) FillDone(kind string, d time.Duration, err error) {
	if kind != "info" && kind != "zip" {
		kind = "other"
	}
	m.fills.WithLabelValues(kind, fillOutcome(err)).Inc()
	m.fillSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// ObserveUpstream counts an upstream request and remembers its outcome for
// [Metrics.UpstreamReport]. It is upstream.Options.Observe.
func (m *Metrics) ObserveUpstream(target upstream.Target, d time.Duration, err error) {
	switch target {
	case upstream.TargetProxy, upstream.TargetDirect, upstream.TargetSumDB:
	default:
		target = "other"
	}
	outcome := upstreamOutcome(err)
	m.upstream.WithLabelValues(string(target), outcome).Inc()
	m.upstreamSecs.WithLabelValues(string(target)).Observe(d.Seconds())
	if outcome == outcomeCanceled {
		return // says nothing about the upstream
	}
	state := "ok"
	if outcome == outcomeError {
		state = failure(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastUpstream[target] = lastRequest{at: time.Now(), state: state}
}

// ObserveDirect counts a go command run for version control. It is
// direct.Options.Observe.
func (m *Metrics) ObserveDirect(command string, d time.Duration, err error) {
	outcome := directOutcome(err)
	m.commands.WithLabelValues(command, outcome).Inc()
	m.commandSeconds.WithLabelValues(command).Observe(d.Seconds())
}

// WatchFills exports inFlight (vault.Vault.Busy) as the gauge
// modvault_fills_in_flight.
func (m *Metrics) WatchFills(inFlight func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "modvault_fills_in_flight",
		Help: "Fills from the upstream running now, and list and latest requests to the upstream that clients wait for.",
	}, func() float64 { return float64(inFlight()) }))
}

// WatchDirect exports running (direct.Fetcher.Running) as the gauge
// modvault_direct_commands_running.
func (m *Metrics) WatchDirect(running func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "modvault_direct_commands_running",
		Help: "go commands fetching from version control running now (not counting those waiting for a slot).",
	}, func() float64 { return float64(running()) }))
}

// WatchLock exports the counters of a Redis lock (lock.Redis.Stats).
func (m *Metrics) WatchLock(stats func() lock.Stats) {
	counter := func(name, help string, value func(lock.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(value(stats())) })
	}
	m.reg.MustRegister(
		counter("modvault_lock_acquired_total", "Fill leases taken in Redis.",
			func(s lock.Stats) uint64 { return s.Acquired }),
		counter("modvault_lock_contended_total", "Fill leases taken in Redis after waiting for another replica that held them.",
			func(s lock.Stats) uint64 { return s.Contended }),
		counter("modvault_lock_fallbacks_total", "Fills that went on without a lease because Redis failed or was slow.",
			func(s lock.Stats) uint64 { return s.Fallbacks }),
		counter("modvault_lock_lost_total", "Leases found taken by another replica when their holder renewed them.",
			func(s lock.Stats) uint64 { return s.Lost }),
	)
}

// WatchIndex exports the counters of the metadata index's writer of events
// and hits (index.Index.Stats), and the index writes of fills that failed
// (indexFailed).
func (m *Metrics) WatchIndex(stats func() index.Stats, indexFailed func() uint64) {
	counter := func(name, help string, value func(index.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(value(stats())) })
	}
	gauge := func(name, help string, value func(index.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(value(stats())) })
	}
	m.reg.MustRegister(
		gauge("modvault_index_buffered_events", "Audit events waiting in memory to be written to the index database.",
			func(s index.Stats) int { return s.BufferedEvents }),
		gauge("modvault_index_buffered_hit_counters", "Hit counters waiting in memory to be written to the index database.",
			func(s index.Stats) int { return s.BufferedHits }),
		counter("modvault_index_events_written_total", "Audit events written to the index database.",
			func(s index.Stats) uint64 { return s.WrittenEvents }),
		counter("modvault_index_events_dropped_total", "Audit events dropped: the buffer was full (database down or slow), or they could not be written at shutdown.",
			func(s index.Stats) uint64 { return s.DroppedEvents }),
		counter("modvault_index_hits_dropped_total", "Hits of .info and .mod files dropped, likewise.",
			func(s index.Stats) uint64 { return s.DroppedHits }),
		counter("modvault_index_batches_total", "Transactions that wrote events and hits to the index database.",
			func(s index.Stats) uint64 { return s.Batches }),
		counter("modvault_index_write_errors_total", "Failed attempts to write a batch of events and hits (retried).",
			func(s index.Stats) uint64 { return s.WriteErrors }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "modvault_index_version_write_failures_total",
			Help: "Stored versions that a fill could not record in the index (a reconcile at start adds them)."},
			func() float64 { return float64(indexFailed()) }),
	)
}

// UpstreamReport describes the outcome of the latest request to each
// upstream target, one line each ("upstream proxy: ok (last request 12s
// ago)"), for
// /readyz. It asks no upstream: it reports what requests found.
func (m *Metrics) UpstreamReport(now time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, t := range []upstream.Target{upstream.TargetProxy, upstream.TargetDirect, upstream.TargetSumDB, "other"} {
		if l, ok := m.lastUpstream[t]; ok {
			fmt.Fprintf(&b, "upstream %s: %s (last request %v ago)\n", t, l.state, now.Sub(l.at).Round(time.Second))
		}
	}
	if b.Len() == 0 {
		return "upstream: no request yet\n"
	}
	return b.String()
}

// outcomes maps each fault.Kind to the outcome label of a fill: the one
// place where an error's meaning becomes a label. Upstream requests and
// direct commands use a coarser projection of it.
var outcomes = map[fault.Kind]string{
	fault.Internal:     outcomeError,
	fault.NotFound:     outcomeNotFound,
	fault.Gone:         outcomeNotFound,
	fault.Invalid:      outcomeInvalid,
	fault.Refused:      outcomeRefused,
	fault.Unavailable:  outcomeUpstreamError,
	fault.BadUpstream:  outcomeInvalid,
	fault.TooLarge:     outcomeInvalid,
	fault.Verification: outcomeUnverified,
	fault.Unverifiable: outcomeUnverified,
	fault.Security:     outcomeUnverified,
	fault.Timeout:      outcomeTimeout,
	fault.Canceled:     outcomeCanceled,
	fault.Policy:       outcomeDenied,
}

// fillOutcome classifies the error of a fill.
func fillOutcome(err error) string {
	if err == nil {
		return outcomeOK
	}
	if o, ok := outcomes[fault.Of(err)]; ok {
		return o
	}
	return outcomeError
}

// upstreamOutcome classifies the error of an upstream request: ok,
// not_found (the upstream answered that it does not have it), refused (it
// answered with another 4xx), canceled (no one waited for it any longer)
// or error.
func upstreamOutcome(err error) string {
	switch o := fillOutcome(err); o {
	case outcomeOK, outcomeNotFound, outcomeRefused, outcomeCanceled:
		return o
	}
	return outcomeError
}

// directOutcome classifies the error of a go command run for version
// control: ok, not_found, timeout, canceled or error.
func directOutcome(err error) string {
	switch o := fillOutcome(err); o {
	case outcomeOK, outcomeNotFound, outcomeTimeout, outcomeCanceled:
		return o
	}
	return outcomeError
}

// failure says briefly what went wrong with an upstream request, without
// module paths or URLs.
func failure(err error) string {
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue):
		return fmt.Sprintf("failing (answered %d %s)", ue.Status, http.StatusText(ue.Status))
	case errors.Is(err, context.DeadlineExceeded):
		return "failing (timed out)"
	case errors.Is(err, upstream.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, upstream.ErrBadResponse):
		return "failing (bad response)"
	}
	return "failing"
}

// lazy holds a value made on first use, without a lock.
type lazy[T any] struct {
	p atomic.Pointer[T]
}

// get returns the value, making it with newValue if there is none yet.
// newValue may run more than once when callers race; it must return equal values
// (as a metric vector's WithLabelValues does).
func (l *lazy[T]) get(newValue func() T) T {
	if p := l.p.Load(); p != nil {
		return *p
	}
	v := newValue()
	l.p.Store(&v)
	return v
}
