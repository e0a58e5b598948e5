package app

// The steps of New, in the order it runs them. Each builds one part of the
// App from its configuration, or checks one setting against the world, and
// registers with onClose what releases the part.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/catalog"
	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/direct"
	"github.com/modvault/modvault/internal/lock"
	"github.com/modvault/modvault/internal/metrics"
	"github.com/modvault/modvault/internal/redact"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/tlsfiles"
	"github.com/modvault/modvault/internal/tracing"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
	"github.com/modvault/modvault/internal/vulndb"
)

// parseUpstream reads the upstream list.
func (a *App) parseUpstream() error {
	proxies, warnings, err := upstream.ParseList(a.cfg.Upstream)
	if err != nil {
		// The message quotes the entry, credentials included.
		return errors.New("upstream: " + redact.Text(err.Error()))
	}
	for _, w := range warnings {
		a.log.Warn(redact.Text(w))
	}
	if len(proxies) == 0 {
		a.log.Warn("no upstream proxy: serving only what the store holds")
	}
	a.proxies = proxies
	return nil
}

// checkTempDir checks that --temp-dir, if given, is a directory.
func (a *App) checkTempDir() error {
	if a.cfg.TempDir == "" {
		return nil
	}
	if fi, err := os.Stat(a.cfg.TempDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("temp-dir: %q is not a directory", a.cfg.TempDir)
	}
	return nil
}

// openStore opens the store.
func (a *App) openStore(ctx context.Context) error {
	st, err := store.Open(ctx, a.cfg.Storage)
	if err != nil {
		return err
	}
	a.store = st
	a.onClose(st.Close)
	return nil
}

// newMetrics makes the Prometheus registry and modvault's metrics in it.
func (a *App) newMetrics() error {
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = metrics.New(a.registry)
	return nil
}

// newDirect makes the fetcher from version control, with its credential
// files, when something is fetched that way: private modules, or a
// "direct" entry in the upstream list.
func (a *App) newDirect() error {
	cfg := a.cfg
	inUpstream := slices.ContainsFunc(a.proxies, func(p upstream.Proxy) bool { return p.Direct })
	if cfg.GONOPROXY == "" && !inUpstream {
		return nil
	}
	var creds []direct.Credential
	var hosts []string
	for _, t := range cfg.DirectTokens {
		creds = append(creds, direct.Credential{Host: t.Host, Username: t.Username, Password: t.Secret})
		hosts = append(hosts, t.Host)
	}
	private := cfg.GOPRIVATE
	if private == "" {
		private = cfg.GONOPROXY
	}
	f, err := direct.New(direct.Options{
		TempDir:     cfg.TempDir,
		Concurrency: cfg.DirectLimit,
		Timeout:     cfg.DirectTimeout,
		Private:     private,
		Credentials: creds,
		Logger:      a.log,
		Observe:     a.metrics.ObserveDirect,
	})
	if err != nil {
		return err
	}
	a.direct = f
	a.onClose(f.Close)
	a.metrics.WatchDirect(f.Running)
	a.log.Info("fetching from version control", "private", cfg.GONOPROXY, "direct_in_upstream", inUpstream,
		"limit", cfg.DirectLimit, "timeout", cfg.DirectTimeout, "credentials_for", hosts)
	return nil
}

// newTracer starts exporting traces, with --otlp-endpoint.
func (a *App) newTracer(ctx context.Context, version string) error {
	if a.cfg.OTLPEndpoint == "" {
		return nil
	}
	tracer, err := tracing.New(ctx, a.cfg.OTLPEndpoint, version)
	if err != nil {
		return fmt.Errorf("otlp-endpoint: %s", redact.Text(err.Error()))
	}
	a.tracer = tracer
	a.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tracer.Shutdown(ctx)
	})
	a.log.Info("tracing requests", "otlp_endpoint", redact.URL(a.cfg.OTLPEndpoint))
	return nil
}

// newUpstream makes the client of the upstream list, which hands the
// "direct" entry and private modules to the direct fetcher.
func (a *App) newUpstream(version string) error {
	opts := upstream.Options{
		UserAgent:    "modvault/" + version,
		Private:      a.cfg.GONOPROXY,
		SumDBURLs:    make(map[string]string),
		Observe:      a.metrics.ObserveUpstream,
		StallTimeout: a.cfg.StallTimeout,
	}
	for _, db := range a.cfg.GOSUMDB {
		if db.URL != "" {
			opts.SumDBURLs[db.Name] = db.URL
		}
	}
	if a.tracer != nil {
		opts.HTTPClient = &http.Client{Transport: a.tracer.Transport(upstream.NewTransport())}
	}
	if a.direct != nil {
		opts.Direct = a.direct // a nil *Fetcher in the interface would not be nil
	}
	a.upstream = upstream.New(a.proxies, opts)
	a.noUpstream = a.direct == nil && (len(a.proxies) == 0 || a.proxies[0].Off)
	return nil
}

// verifierWritesTimeout bounds how long Close waits for a verifier's
// background writes; what is not written then is fetched again later.
const verifierWritesTimeout = 10 * time.Second

// newVerifiers makes a verifier for each checksum database with a key.
func (a *App) newVerifiers() error {
	for _, db := range a.cfg.GOSUMDB {
		if db.Key == "" {
			a.log.Warn("no key for a checksum database: it cannot verify; give GOSUMDB as name+key", "gosumdb", db.Name)
			continue
		}
		v, err := checksumdb.NewVerifier(db.Key, a.upstream, a.store, a.log)
		if err != nil {
			return fmt.Errorf("gosumdb: %w", err)
		}
		a.verifiers = append(a.verifiers, v)
		// Before the store closes: the tiles and lookups the verifier
		// authenticated are written in the background.
		a.onClose(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), verifierWritesTimeout)
			defer cancel()
			v.WaitWrites(ctx)
			return nil
		})
		a.log.Info("verifying modules before storing them", "sumdb", v.Name(), "not_verified", a.cfg.GONOSUMDB)
	}
	if len(a.verifiers) == 0 {
		a.log.Warn("no checksum database (GOSUMDB off or without a key): modules are stored without verification")
	}
	return nil
}

// newAccessControl reads the users, tokens and rules of access control,
// when any is configured.
func (a *App) newAccessControl() error {
	cfg := a.cfg
	if cfg.AuthUsers == "" && cfg.AuthTokens == "" && len(cfg.AuthRules) == 0 {
		return nil
	}
	acfg := auth.Config{Users: cfg.AuthUsers, Tokens: cfg.AuthTokens}
	for _, r := range cfg.AuthRules {
		acfg.Rules = append(acfg.Rules, auth.Rule{Pattern: r.Pattern, Allow: r.Allow})
	}
	guard, err := auth.New(acfg, a.log)
	if err != nil {
		return fmt.Errorf("access control: %w", err)
	}
	if a.index != nil {
		guard.Denied = a.denied
	}
	a.guard = guard
	if cfg.TLSCert == "" {
		a.log.Warn("access control is on without --tls-cert: the go command sends credentials over HTTPS only, so terminate TLS in front of modvault")
	}
	a.log.Info("access control on", "rules", len(acfg.Rules), "users", cfg.AuthUsers, "tokens", cfg.AuthTokens)
	return nil
}

// newLock connects to the lock shared by the replicas, with --lock.
func (a *App) newLock() error {
	if a.cfg.Lock == "" {
		return nil
	}
	locker, err := lock.NewRedis(a.cfg.Lock, lock.RedisOptions{Lease: a.cfg.LockLease, Logger: a.log})
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	a.lock = locker
	a.onClose(locker.Close)
	a.metrics.WatchLock(locker.Stats)
	a.log.Info("fills are coordinated with the other replicas", "lock", redact.URL(a.cfg.Lock), "lease", a.cfg.LockLease)
	return nil
}

// checkZipRedirect checks, with --zip-redirect, that the store can sign
// URLs.
func (a *App) checkZipRedirect(ctx context.Context) error {
	if a.cfg.ZipRedirect <= 0 {
		return nil
	}
	if _, err := a.store.SignedURL(ctx, "modvault-signing-probe", a.cfg.ZipRedirect); err != nil {
		return fmt.Errorf("zip-redirect: the store cannot sign URLs: %w", err)
	}
	return nil
}

// loadTLS reads the certificate and key, with --tls-cert.
func (a *App) loadTLS() error {
	if a.cfg.TLSCert == "" {
		return nil
	}
	rl, err := tlsfiles.New(a.cfg.TLSCert, a.cfg.TLSKey, a.log)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	a.tls = rl
	return nil
}

// newVault makes the vault that fills the store from the upstream.
func (a *App) newVault() error {
	m := a.metrics
	opts := vault.Options{
		ListTTL:      a.cfg.ListTTL,
		FillTimeout:  a.cfg.FillTimeout,
		TempDir:      a.cfg.TempDir,
		Logger:       a.log,
		NoVerify:     a.cfg.GONOSUMDB,
		VerifyFailed: m.VerifyFailed,
		FillDone:     m.FillDone,
		StoreFailed:  m.StoreFailed,
	}
	if a.recorder != nil {
		opts.Stored = a.recorder.Stored
	}
	if a.index != nil {
		// First sights are recorded with or without a minimum age, so
		// that turning one on later dates the versions seen until then.
		opts.Seen = a.seen
	}
	if a.policy != nil {
		opts.Policy = a.policy
	}
	switch len(a.verifiers) {
	case 0:
	case 1:
		opts.Checker = a.verifiers[0]
	default:
		opts.Checker = checksumdb.All(a.verifiers)
	}
	if a.lock != nil {
		opts.Locker = a.lock
	}
	a.vault = vault.New(a.store, a.upstream, opts)
	m.WatchFills(a.vault.Busy)
	return nil
}

// newHandler makes the HTTP API: the module proxy, its cached-only twin,
// the checksum database proxy, metrics, health and catalog, behind access
// control and tracing when they are on.
func (a *App) newHandler() error {
	m := a.metrics
	opts := server.Options{
		ZipRedirect: a.cfg.ZipRedirect,
		Sign:        a.store.SignedURL,
		Observe:     m.ObserveRequest,
		StoreFailed: m.StoreFailed,
		Metrics:     promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
		Ready:       a.ready,
	}
	if a.index != nil {
		opts.Served = a.served
		// /catalog, /index and the JSON API read the metadata index: a
		// page costs the same whatever the store's size. They show each
		// viewer only what the UI would.
		h := api.New(api.Options{Index: a.index, Log: a.log, CanRead: a.canRead()})
		opts.Catalog, opts.API = h, h
		opts.UI = a.newUI()
	} else {
		c := catalog.New(a.store, a.log)
		c.CanRead = a.canRead()
		opts.Catalog = c
	}
	copts := vault.Options{Logger: a.log, StoreFailed: m.StoreFailed}
	if a.policy != nil {
		copts.Policy = a.policy // stored versions are judged on every request
	}
	cachedOnly := vault.New(a.store, upstream.New(nil, upstream.Options{}), copts)
	opts.VulnDB = vulndb.Handler(a.store, a.log)
	var sumdb server.SumDB
	if len(a.cfg.SumDB) > 0 {
		p := checksumdb.New(a.cfg.SumDB, a.upstream, a.store, a.log, a.verifiers...)
		p.NoLookup = a.cfg.GONOSUMDB
		p.StoreFailed = m.StoreFailed
		sumdb = p
	}
	if a.guard != nil {
		opts.User = auth.Principal
	}
	var h http.Handler = server.New(a.vault, cachedOnly, sumdb, a.log, opts)
	if a.guard != nil {
		h = a.guard.Handler(h)
	}
	if a.tracer != nil {
		h = a.tracer.Handler(h, func(r *http.Request) string { return route.Of(r).Endpoint.String() })
	}
	if a.guard != nil || a.tracer != nil {
		// More than the server reads the route: parse it once for all.
		h = route.Handler(h)
	}
	a.Handler = h
	return nil
}

// followSumDBs keeps the verified checksum databases' tree heads current
// while the upstream is reachable (checksumdb.Verifier.Follow), until
// Close. It runs last, so that nothing is left running when an earlier
// step fails.
func (a *App) followSumDBs(ctx context.Context) error {
	if len(a.verifiers) == 0 || a.noUpstream {
		return nil
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		checksumdb.All(a.verifiers).Follow(fctx, checksumdb.FollowOptions{Every: a.cfg.SumDBRefresh})
	}()
	a.onClose(func() error { cancel(); <-done; return nil })
	return nil
}
