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
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/direct"
	"github.com/modvault/modvault/internal/lock"
	"github.com/modvault/modvault/internal/metrics"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/tlsfiles"
	"github.com/modvault/modvault/internal/tracing"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// App is an assembled modvault server.
type App struct {
	cfg     config.Serve
	log     *slog.Logger
	store   *store.Store
	vault   *vault.Vault
	direct  *direct.Fetcher // nil without direct fetches
	lock    *lock.Redis     // nil without --lock
	metrics *metrics.Metrics
	tracer  *tracing.Tracer // nil without --otlp-endpoint
	// stopFollowing stops following the checksum databases' tree heads
	// and waits for it; nil without a verifying database.
	stopFollowing func()
	// noUpstream is set when nothing is ever fetched: --upstream off and
	// no private modules.
	noUpstream bool
	// Handler serves the whole HTTP API.
	Handler http.Handler
}

// readyTimeout bounds the store operation of a /readyz request.
const readyTimeout = 2 * time.Second

// readyProbePrefix is the prefix listed by /readyz: no key starts with it,
// so the listing is empty, but the store must answer it (a missing bucket
// or an unreadable directory fails it).
const readyProbePrefix = "modvault-readiness-probe"

// New opens the store and assembles the server described by cfg. version
// goes into the User-Agent of upstream requests.
func New(ctx context.Context, cfg config.Serve, log *slog.Logger, version string) (*App, error) {
	proxies, warnings, err := upstream.ParseList(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if len(proxies) == 0 {
		log.Warn("no upstream proxy: serving only what the store holds")
	}
	if cfg.TempDir != "" {
		if fi, err := os.Stat(cfg.TempDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("temp-dir: %q is not a directory", cfg.TempDir)
		}
	}
	st, err := store.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	var fetcher *direct.Fetcher
	if cfg.GONOPROXY != "" || slices.ContainsFunc(proxies, func(p upstream.Proxy) bool { return p.Direct }) {
		var creds []direct.Credential
		for _, t := range cfg.DirectTokens {
			creds = append(creds, direct.Credential{Host: t.Host, Username: t.Username, Password: t.Secret})
		}
		private := cfg.GOPRIVATE
		if private == "" {
			private = cfg.GONOPROXY
		}
		fetcher, err = direct.New(direct.Options{
			TempDir:     cfg.TempDir,
			Concurrency: cfg.DirectLimit,
			Timeout:     cfg.DirectTimeout,
			Private:     private,
			Credentials: creds,
			Logger:      log,
			Observe:     m.ObserveDirect,
		})
		if err != nil {
			st.Close()
			return nil, err
		}
		m.WatchDirect(fetcher.Running)
		log.Info("fetching from version control", "private", cfg.GONOPROXY, "direct_in_upstream", slices.ContainsFunc(proxies, func(p upstream.Proxy) bool { return p.Direct }),
			"limit", cfg.DirectLimit, "timeout", cfg.DirectTimeout, "credentials_for", tokenHosts(cfg.DirectTokens))
	}
	sumdbURLs := make(map[string]string)
	for db := range strings.SplitSeq(cfg.GOSUMDB, ",") {
		if f := strings.Fields(db); len(f) == 2 {
			sumdbURLs[config.SumDBName(db)] = f[1]
		}
	}
	upOpts := upstream.Options{UserAgent: "modvault/" + version, Private: cfg.GONOPROXY, SumDBURLs: sumdbURLs, Observe: m.ObserveUpstream}
	var tracer *tracing.Tracer
	if cfg.OTLPEndpoint != "" {
		if tracer, err = tracing.New(ctx, cfg.OTLPEndpoint, version); err != nil {
			closeAll(fetcher, st)
			return nil, fmt.Errorf("otlp-endpoint: %w", err)
		}
		upOpts.HTTPClient = &http.Client{Transport: tracer.Transport(upstream.NewTransport())}
		log.Info("tracing requests", "otlp_endpoint", cfg.OTLPEndpoint)
	}
	if fetcher != nil {
		upOpts.Direct = fetcher // a nil *Fetcher in the interface would not be nil
	}
	up := upstream.New(proxies, upOpts)
	opts := vault.Options{
		ListTTL:      cfg.ListTTL,
		FillTimeout:  cfg.FillTimeout,
		TempDir:      cfg.TempDir,
		Logger:       log,
		NoVerify:     cfg.GONOSUMDB,
		VerifyFailed: m.VerifyFailed,
		FillDone:     m.FillDone,
		StoreFailed:  m.StoreFailed,
	}
	var verifiers []*checksumdb.Verifier
	for db := range strings.SplitSeq(cfg.GOSUMDB, ",") {
		switch key := config.SumDBKey(db); {
		case key != "":
			verifier, err := checksumdb.NewVerifier(key, up, st, log)
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("gosumdb: %w", err)
			}
			verifiers = append(verifiers, verifier)
			log.Info("verifying modules before storing them", "sumdb", verifier.Name(), "not_verified", cfg.GONOSUMDB)
		case config.SumDBName(db) != "":
			log.Warn("no key for a checksum database: it cannot verify; give GOSUMDB as name+key", "gosumdb", strings.TrimSpace(db))
		}
	}
	switch len(verifiers) {
	case 0:
		log.Warn("no checksum database (GOSUMDB off or without a key): modules are stored without verification")
	case 1:
		opts.Checker = verifiers[0]
	default:
		opts.Checker = checksumdb.All(verifiers)
	}
	var guard *auth.Auth
	if cfg.AuthUsers != "" || cfg.AuthTokens != "" || len(cfg.AuthRules) > 0 {
		acfg := auth.Config{Users: cfg.AuthUsers, Tokens: cfg.AuthTokens}
		for _, r := range cfg.AuthRules {
			acfg.Rules = append(acfg.Rules, auth.Rule{Pattern: r.Pattern, Allow: r.Allow})
		}
		if err := acfg.Validate(); err != nil {
			closeAll(fetcher, st)
			return nil, fmt.Errorf("access control: %w", err)
		}
		if guard, err = auth.New(acfg, log); err != nil {
			closeAll(fetcher, st)
			return nil, fmt.Errorf("access control: %w", err)
		}
		if cfg.TLSCert == "" {
			log.Warn("access control is on without --tls-cert: the go command sends credentials over HTTPS only, so terminate TLS in front of modvault")
		}
		log.Info("access control on", "rules", len(acfg.Rules), "users", cfg.AuthUsers, "tokens", cfg.AuthTokens)
	}
	var locker *lock.Redis
	if cfg.Lock != "" {
		if locker, err = lock.NewRedis(cfg.Lock, lock.RedisOptions{Lease: cfg.LockLease, Logger: log}); err != nil {
			closeAll(fetcher, st)
			return nil, fmt.Errorf("lock: %w", err)
		}
		opts.Locker = locker
		m.WatchLock(locker.Stats)
		log.Info("fills are coordinated with the other replicas", "lock", upstream.RedactList(cfg.Lock), "lease", cfg.LockLease)
	}
	srvOpts := server.Options{
		ZipRedirect: cfg.ZipRedirect,
		Sign:        st.SignedURL,
		Observe:     m.ObserveRequest,
		StoreFailed: m.StoreFailed,
		Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	if cfg.ZipRedirect > 0 {
		if _, err := st.SignedURL(ctx, "modvault-signing-probe", cfg.ZipRedirect); err != nil {
			if locker != nil {
				locker.Close()
			}
			closeAll(fetcher, st)
			return nil, fmt.Errorf("zip-redirect: the store cannot sign URLs: %w", err)
		}
	}
	v := vault.New(st, up, opts)
	m.WatchFills(v.InFlight)
	cachedOnly := vault.New(st, upstream.New(nil, upstream.Options{}), vault.Options{Logger: log, StoreFailed: m.StoreFailed})
	var sumdb http.Handler
	if len(cfg.SumDB) > 0 {
		p := checksumdb.New(cfg.SumDB, up, st, log, verifiers...)
		p.NoLookup = cfg.GONOSUMDB
		p.StoreFailed = m.StoreFailed
		sumdb = p
	}
	a := &App{
		cfg:        cfg,
		log:        log,
		store:      st,
		vault:      v,
		direct:     fetcher,
		lock:       locker,
		metrics:    m,
		noUpstream: fetcher == nil && (len(proxies) == 0 || proxies[0].Off),
	}
	if len(verifiers) > 0 {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			checksumdb.All(verifiers).Follow(fctx, checksumdb.FollowOptions{})
		}()
		a.stopFollowing = func() { cancel(); <-done }
	}
	srvOpts.Ready = a.ready
	srvOpts.Catalog = catalog.New(st, log)
	if guard != nil {
		srvOpts.User = auth.Principal
	}
	var h http.Handler = server.New(v, cachedOnly, sumdb, log, srvOpts)
	if guard != nil {
		h = guard.Handler(h)
	}
	if tracer != nil {
		h = tracer.Handler(h, routeName)
		a.tracer = tracer
	}
	a.Handler = h
	return a, nil
}

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
	if a.cfg.TLSCert != "" {
		rl, err := tlsfiles.New(a.cfg.TLSCert, a.cfg.TLSKey, a.log)
		if err != nil {
			a.Close()
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = rl.TLSConfig()
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
		"storage", store.Redact(a.cfg.Storage),
		"storage_from", a.cfg.Origins["storage"],
		"upstream", upstream.RedactList(a.cfg.Upstream),
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

// Close releases the store and removes the direct fetches' temporary
// files. Use it when the App is not run with Serve.
func (a *App) Close() error {
	if a.stopFollowing != nil {
		a.stopFollowing()
	}
	var errs []error
	if a.direct != nil {
		errs = append(errs, a.direct.Close())
	}
	if a.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, a.tracer.Shutdown(ctx))
		cancel()
	}
	if a.lock != nil {
		errs = append(errs, a.lock.Close())
	}
	return errors.Join(append(errs, a.store.Close())...)
}

// routeName names a request for traces by its kind, never its module path.
func routeName(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/cached-only")
	switch {
	case strings.HasPrefix(p, "/sumdb/"):
		return "sumdb"
	case p == "/healthz" || p == "/readyz" || p == "/metrics" || p == "/catalog" || p == "/index":
		return strings.TrimPrefix(p, "/")
	}
	req, err := protocol.Parse(p)
	if err != nil {
		return "other"
	}
	if req.Kind == protocol.Info && !req.Canonical() {
		return "query"
	}
	return req.Kind.String()
}

// closeAll releases what New opened before it failed.
func closeAll(fetcher *direct.Fetcher, st *store.Store) {
	if fetcher != nil {
		fetcher.Close()
	}
	st.Close()
}

// tokenHosts returns the hosts that have credentials, for logs.
func tokenHosts(tokens []config.Token) []string {
	var hosts []string
	for _, t := range tokens {
		hosts = append(hosts, t.Host)
	}
	return hosts
}
