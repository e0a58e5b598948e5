// Package app assembles a modvault server from its configuration: store,
// upstream, vault, checksum-database proxy and HTTP handler, and runs it
// until its context ends, shutting down gracefully.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/direct"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/indexer"
	"github.com/modvault/modvault/internal/lock"
	"github.com/modvault/modvault/internal/metrics"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/redact"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/tlsfiles"
	"github.com/modvault/modvault/internal/tracing"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
	"github.com/modvault/modvault/internal/vulndb"
)

// App is an assembled modvault server.
type App struct {
	cfg config.Serve
	log *slog.Logger

	// The parts, in the order New builds them; each is nil until built.
	proxies   []upstream.Proxy
	store     *store.Store
	index     *index.Index
	recorder  *indexer.Recorder
	missed    chan struct{} // a fill the recorder could not record: reconcile
	registry  *prometheus.Registry
	metrics   *metrics.Metrics
	direct    *direct.Fetcher // nil without direct fetches
	tracer    *tracing.Tracer // nil without --otlp-endpoint
	upstream  *upstream.Client
	verifiers []*checksumdb.Verifier
	guard     *auth.Auth         // nil without access control
	lock      *lock.Redis        // nil without --lock
	tls       *tlsfiles.Reloader // nil without --tls-cert
	vulndb    *vulndb.Updater    // the vulnerability database mirror
	// vulndbFresh is set when New mirrored the vulnerability database
	// already (nothing was stored).
	vulndbFresh bool
	policy      *policy.Engine // nil without a policy
	vault       *vault.Vault
	// noUpstream is set when nothing is ever fetched: --upstream off and
	// no private modules.
	noUpstream bool
	// Handler serves the whole HTTP API.
	Handler http.Handler

	// undo releases what the steps built, in the order built; Close runs
	// it backwards.
	undo []func() error
}

// readyTimeout bounds the store operation of a /readyz request.
const readyTimeout = 2 * time.Second

// readyProbePrefix is the prefix listed by /readyz: no key starts with it,
// so the listing is empty, but the store must answer it (a missing bucket
// or an unreadable directory fails it).
const readyProbePrefix = "modvault-readiness-probe"

// New assembles the server described by cfg, one part at a time. version
// goes into the User-Agent of upstream requests and into traces. If a part
// fails, New releases every part built before it (the store, the direct
// fetcher's credential files, the lock, the tracer) and returns the error.
func New(ctx context.Context, cfg config.Serve, log *slog.Logger, version string) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err == nil {
			return
		}
		if cerr := a.Close(); cerr != nil {
			log.Warn("releasing what was built before the failure", "err", cerr)
		}
	}()
	for _, step := range []func() error{
		a.parseUpstream,
		a.checkTempDir,
		func() error { return a.openStore(ctx) },
		func() error { return a.openIndex(ctx) },
		func() error { return a.loadVulnDB(ctx) },
		a.newMetrics,
		a.newRecorder,
		a.newPolicy,
		a.newDirect,
		func() error { return a.newTracer(ctx, version) },
		func() error { return a.newUpstream(version) },
		a.newVerifiers,
		a.newAccessControl,
		a.newLock,
		func() error { return a.checkZipRedirect(ctx) },
		a.loadTLS,
		a.newVault,
		a.newHandler,
		func() error { return a.followSumDBs(ctx) },
		func() error { return a.reconcileIndex(ctx) },
		func() error { return a.refreshVulnDB(ctx) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// onClose registers f to be run by Close.
func (a *App) onClose(f func() error) { a.undo = append(a.undo, f) }

// ready answers /readyz: modvault is ready when its store answers a
// listing within readyTimeout. The upstream's state is reported, as the
// latest upstream requests found it, but never makes modvault unready: it
// serves what it stored without the upstream, and probing the upstream here
// would cost a request per probe.
func (a *App) ready(ctx context.Context) (report string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var b strings.Builder
	ok = true
	err := a.store.List(ctx, readyProbePrefix, func(store.Entry) bool { return false })
	switch {
	case err == nil:
		b.WriteString("store: ok\n")
	case ctx.Err() != nil:
		ok = false
		fmt.Fprintf(&b, "store: no answer within %v\n", readyTimeout)
	default:
		ok = false
		fmt.Fprintf(&b, "store: failing: %v\n", err)
	}
	if a.noUpstream {
		b.WriteString("upstream: none (--upstream off): serving from the store alone\n")
	} else {
		b.WriteString(a.metrics.UpstreamReport(time.Now()))
	}
	return b.String(), ok
}

// Serve serves on ln until ctx ends, then stops accepting requests, waits up
// to the shutdown timeout for requests and fills in flight, and closes the
// store.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if a.tls != nil {
		srv.TLSConfig = a.tls.TLSConfig()
		scheme = "https"
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	a.log.Info("modvault serving",
		"addr", ln.Addr().String(),
		"scheme", scheme,
		"storage", redact.URL(a.cfg.Storage),
		"storage_from", a.cfg.Origins["storage"],
		"upstream", redact.List(a.cfg.Upstream),
		"upstream_from", a.cfg.Origins["upstream"],
		"sumdb", a.cfg.SumDB,
		"sumdb_from", a.cfg.Origins["sumdb"],
		"gonoproxy", a.cfg.GONOPROXY,
		"gonoproxy_from", a.cfg.Origins["gonoproxy"],
		"gonosumdb", a.cfg.GONOSUMDB,
		"gonosumdb_from", a.cfg.Origins["gonosumdb"])
	select {
	case err := <-errc:
		a.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if verr := a.vault.Shutdown(sctx); err == nil {
		err = verr
	}
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// Close releases what New built: the lock, the tracer (flushing its
// spans), the direct fetches' temporary and credential files, and the
// store, in the reverse order of their building. It copes with an App that
// New built only in part, and does nothing the second time. Use it when the
// App is not run with Serve.
func (a *App) Close() error {
	var errs []error
	for i := len(a.undo) - 1; i >= 0; i-- {
		errs = append(errs, a.undo[i]())
	}
	a.undo = nil
	return errors.Join(errs...)
}
