// Package vault is modvault's cache: it answers module proxy requests from
// the store, fills the store from the upstream on a miss, validates
// everything before storing it, and keeps answering from the store when the
// upstream is gone. It knows nothing about HTTP.
//
// The store layout mirrors the protocol: $module/@v/$version.{info,mod,zip}.
// A version exists in the store once its .info is stored; the .mod is written
// before the .info, so a stored .info always has its .mod. The .zip is filled
// on its first request (the go command fetches the .mod of many versions it
// never builds), validated on a temporary file and written in one atomic
// step, so a stored .zip is always whole and valid. No stored object is ever
// replaced.
package vault

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
	"golang.org/x/sync/singleflight"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

// Limits on what an upstream may send. Options.MaxZipSize limits zips.
const (
	maxInfoSize = 64 << 10
	maxListSize = 16 << 20
	maxModSize  = modzip.MaxGoMod
)

// ErrInvalid is wrapped by errors about upstream content that failed
// validation; nothing of it was stored.
var ErrInvalid = errors.New("invalid upstream content")

// NotFoundError says that something is not available. It matches
// fs.ErrNotExist.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }

// Is reports whether target is fs.ErrNotExist.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

func notFound(msg string) error { return &NotFoundError{Msg: msg} }

// Source says how an answer was obtained, for logs and metrics.
type Source string

// The sources of an answer.
const (
	Hit      Source = "hit"      // from the store, no upstream request
	Miss     Source = "miss"     // filled from the upstream now
	Upstream Source = "upstream" // passed through from the upstream, not stored
	Cached   Source = "cached"   // from the short-lived cache of upstream answers
	Offline  Source = "offline"  // from the store alone because the upstream failed
)

// Options configures a [Vault].
type Options struct {
	// ListTTL is how long an upstream list or latest answer is reused.
	// Zero means one minute.
	ListTTL time.Duration
	// FillTimeout bounds one fill from the upstream. Zero means ten minutes.
	FillTimeout time.Duration
	// TempDir holds zips while they are validated; "" means os.TempDir().
	TempDir string
	// Logger receives fill events; nil means slog.Default().
	Logger *slog.Logger
	// MaxZipSize is the largest zip accepted from the upstream, in bytes.
	// Zero means golang.org/x/mod/zip.MaxZipFile, the go command's limit.
	MaxZipSize int64
	// Checker, if not nil, verifies the .mod and .zip of every module
	// whose path does not match NoVerify before they are stored.
	Checker Checker
	// NoVerify is a GONOSUMDB-style list of module path patterns
	// (module.MatchPrefixPatterns) that are not verified.
	NoVerify string
	// VerifyFailed, if not nil, is called with every error of the Checker,
	// for example to count them.
	VerifyFailed func(error)
	// FillDone, if not nil, is called after every fill from the upstream
	// with its kind ("info": a version's .info and .mod; "zip"), how long it
	// took (waiting for the Locker included) and its error, for metrics.
	FillDone func(kind string, d time.Duration, err error)
	// StoreFailed, if not nil, is called with every store operation that
	// failed ("open", "exists", "read", "write" or "list") and its error,
	// for metrics. Answers that an object is missing or already exists are
	// no failures, nor are errors of operations whose context has ended.
	StoreFailed func(op string, err error)
	// Locker, if not nil, is held around every fill, so that replicas
	// sharing a store fetch a cold file from the upstream once. Correctness
	// never depends on it: a fill that did not get the lease still stores
	// only whole, validated objects, create-once.
	Locker Locker
}

// Locker hands out leases shared by every replica (package lock).
type Locker interface {
	// Acquire waits until it holds the lease on key, or gives up (held is
	// false: the caller goes on without it); err is set only when ctx
	// ended. release is never nil.
	Acquire(ctx context.Context, key string) (release func(), held bool, err error)
}

// Prefetcher is a Checker that can start looking up a version's hashes
// ahead of the Check calls that need them.
type Prefetcher interface {
	Prefetch(path, version string)
}

// Checker verifies module hashes, typically against a checksum database.
type Checker interface {
	// Check reports whether hash (an "h1:" hash) is the right one for
	// path@version, where version ends in "/go.mod" for a .mod file.
	Check(ctx context.Context, path, version, hash string) error
}

// Vault serves module versions from a store and fills it from an upstream.
type Vault struct {
	store observedStore
	up    *upstream.Client
	opts  Options
	log   *slog.Logger

	fills singleflight.Group
	base  context.Context
	stop  context.CancelFunc

	mu        sync.Mutex
	committed map[string]struct{}   // keys of .info and .zip objects known to be stored (they never change)
	answers   map[string]cachedList // upstream list and latest answers
	flights   map[string]*flight    // work in progress, by key
	inflight  int                   // fills running
	idle      chan struct{}         // closed when inflight drops to zero, if Shutdown waits
}

type cachedList struct {
	body    []byte
	err     error
	expires time.Time
}

// maxMemo bounds the in-memory maps; they are cleared when full.
const maxMemo = 1 << 16

// New returns a vault over st that fills from up.
func New(st *store.Store, up *upstream.Client, opts Options) *Vault {
	if opts.ListTTL == 0 {
		opts.ListTTL = time.Minute
	}
	if opts.FillTimeout == 0 {
		opts.FillTimeout = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxZipSize == 0 {
		opts.MaxZipSize = modzip.MaxZipFile
	}
	base, stop := context.WithCancel(context.Background())
	return &Vault{
		store:     observedStore{Store: st, failed: opts.StoreFailed},
		up:        up,
		opts:      opts,
		log:       opts.Logger,
		base:      base,
		stop:      stop,
		committed: make(map[string]struct{}),
		answers:   make(map[string]cachedList),
		flights:   make(map[string]*flight),
	}
}

// Shutdown waits for the fills in flight to finish, so none is cut off
// half-way (a cut-off fill stores nothing, but its work is lost). If ctx ends
// first, the fills are cancelled and Shutdown returns ctx's error.
func (v *Vault) Shutdown(ctx context.Context) error {
	v.mu.Lock()
	if v.inflight == 0 {
		v.mu.Unlock()
		v.stop()
		return nil
	}
	if v.idle == nil {
		v.idle = make(chan struct{})
	}
	idle := v.idle
	v.mu.Unlock()
	select {
	case <-idle:
		v.stop()
		return nil
	case <-ctx.Done():
		v.stop()
		<-idle
		return ctx.Err()
	}
}

// InFlight returns the number of fills, and of list and latest requests to
// the upstream, running now.
func (v *Vault) InFlight() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.inflight
}

// fillStarted and fillDone count the fills in flight for Shutdown. Unlike a
// sync.WaitGroup, the count may rise from zero while Shutdown waits, as
// requests still in progress start fills (which fail once Shutdown
// cancels them).
func (v *Vault) fillStarted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inflight++
}

func (v *Vault) fillDone() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inflight--
	if v.inflight == 0 && v.idle != nil {
		close(v.idle)
		v.idle = nil
	}
}

// Open returns the stored .info, .mod or .zip of a canonical version,
// filling it from the upstream first if needed. The caller closes the object.
func (v *Vault) Open(ctx context.Context, mod, version string, kind protocol.Kind) (store.Object, Source, error) {
	key, err := versionKey(mod, version, kind)
	if err != nil {
		return store.Object{}, "", err
	}
	src := Hit
	if kind == protocol.Zip {
		obj, err := v.store.Open(ctx, key)
		if err == nil {
			return obj, Hit, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return store.Object{}, "", err
		}
		if err := v.ensureZip(ctx, mod, version, key); err != nil {
			return store.Object{}, "", err
		}
		src = Miss
	} else {
		filled, err := v.ensureInfo(ctx, mod, version)
		if err != nil {
			return store.Object{}, "", err
		}
		if filled {
			src = Miss
		}
	}
	obj, err := v.store.Open(ctx, key)
	if err != nil {
		return store.Object{}, "", err
	}
	return obj, src, nil
}

// ZipURL makes sure the zip of a canonical version is stored, filling it
// first if needed, and returns a URL of the stored object that is valid for
// expiry, made by sign (a store's signed URL). It returns sign's error, such
// as one matching errors.ErrUnsupported for a store that cannot sign.
func (v *Vault) ZipURL(ctx context.Context, mod, version string, expiry time.Duration, sign func(ctx context.Context, key string, expiry time.Duration) (string, error)) (string, Source, error) {
	key, err := versionKey(mod, version, protocol.Zip)
	if err != nil {
		return "", "", err
	}
	src := Hit
	// Stored zips never change: once seen, the store need not be asked
	// again (signing is local, so a redirect then costs no store request).
	v.mu.Lock()
	_, ok := v.committed[key]
	v.mu.Unlock()
	if !ok {
		if ok, err = v.store.Exists(ctx, key); err != nil {
			return "", "", err
		}
	}
	if !ok {
		if err := v.ensureZip(ctx, mod, version, key); err != nil {
			return "", "", err
		}
		src = Miss
	}
	v.markCommitted(key)
	u, err := sign(ctx, key, expiry)
	return u, src, err
}

// versionKey checks that version is a canonical version of mod (anything
// else is "not found") and returns the key of its file of kind.
func versionKey(mod, version string, kind protocol.Kind) (string, error) {
	if err := module.Check(mod, version); err != nil {
		return "", notFound(err.Error())
	}
	if module.CanonicalVersion(version) != version {
		return "", notFound(fmt.Sprintf("%s@%s: not a canonical version", mod, version))
	}
	return protocol.Key(mod, version, kind)
}

// ensureZip fills the zip of a version, stored at key, once for all
// concurrent callers.
func (v *Vault) ensureZip(ctx context.Context, mod, version, key string) error {
	return v.fill(ctx, "zip "+key, func(ctx context.Context) error { return v.fillZip(ctx, mod, version) })
}

// ensureInfo makes sure the .info (and so the .mod) of a version is stored,
// and reports whether it had to be filled.
func (v *Vault) ensureInfo(ctx context.Context, mod, version string) (filled bool, err error) {
	infoKey, err := protocol.Key(mod, version, protocol.Info)
	if err != nil {
		return false, err
	}
	v.mu.Lock()
	_, ok := v.committed[infoKey]
	v.mu.Unlock()
	if ok {
		return false, nil
	}
	ok, err = v.store.Exists(ctx, infoKey)
	if err != nil {
		return false, err
	}
	if !ok {
		// The upstream's "no such version" is reused for ListTTL, as the go
		// command probes the same missing versions (path prefixes) often.
		missing := "missing " + infoKey
		if c, ok := v.cachedAnswer(missing); ok {
			return false, c.err
		}
		err = v.fill(ctx, "info "+infoKey, func(ctx context.Context) error { return v.fillInfo(ctx, mod, version) })
		if upstreamNotFound(err) {
			v.remember(missing, nil, err)
		}
		if err != nil {
			return false, err
		}
	}
	v.markCommitted(infoKey)
	return !ok, nil
}

func (v *Vault) markCommitted(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.committed) >= maxMemo {
		clear(v.committed)
	}
	v.committed[key] = struct{}{}
}

// fill runs fn once for all concurrent callers with the same key and logs
// its outcome.
func (v *Vault) fill(ctx context.Context, key string, fn func(context.Context) error) error {
	_, err := v.shared(ctx, key, func(fctx context.Context) (any, error) {
		start := time.Now()
		if v.opts.Locker != nil {
			// Another replica may be filling the same file: wait for it.
			// fn checks the store first, so it then finds the file there.
			release, _, err := v.opts.Locker.Acquire(fctx, "fill "+key)
			if err != nil {
				return nil, err
			}
			defer release()
		}
		err := fn(fctx)
		if v.opts.FillDone != nil {
			kind, _, _ := strings.Cut(key, " ")
			v.opts.FillDone(kind, time.Since(start), err)
		}
		if err != nil {
			level := slog.LevelWarn
			if errors.Is(err, fs.ErrNotExist) {
				level = slog.LevelDebug // the go command probes many paths that are no modules
			}
			v.log.Log(fctx, level, "fill failed", "what", key, "duration", time.Since(start), "err", err)
		} else {
			v.log.Info("filled", "what", key, "duration", time.Since(start))
		}
		return nil, err
	})
	return err
}

// flight is the context of the work shared by the callers with one key.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
}

// shared runs fn once for all concurrent callers with the same key. fn runs
// detached from each caller's context, so a client that goes away does not
// cut off work that others wait for; it is bounded by FillTimeout and by
// Shutdown, and cancelled when every caller waiting for it has gone (then
// nobody would get its result, and a fetch from version control would go on
// running subprocesses for nothing).
func (v *Vault) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	for attempt := 0; ; attempt++ {
		f := v.join(key)
		ch := v.fills.DoChan(key, func() (any, error) {
			v.fillStarted()
			defer v.fillDone()
			return fn(f.ctx)
		})
		select {
		case r := <-ch:
			v.leave(key, f)
			// A caller that joined just as the last one left may get
			// the cancelled work's error: it tries once more.
			if attempt == 0 && errors.Is(r.Err, context.Canceled) && ctx.Err() == nil && v.base.Err() == nil {
				continue
			}
			return r.Val, r.Err
		case <-ctx.Done():
			v.leave(key, f)
			return nil, ctx.Err()
		}
	}
}

// join registers a caller of the work with key and returns its flight.
func (v *Vault) join(key string) *flight {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.flights[key]
	if !ok {
		ctx, cancel := context.WithTimeout(v.base, v.opts.FillTimeout)
		f = &flight{ctx: ctx, cancel: cancel}
		v.flights[key] = f
	}
	f.waiters++
	return f
}

// leave unregisters a caller; the last one to leave cancels the flight,
// which stops the work if it is still running.
func (v *Vault) leave(key string, f *flight) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if v.flights[key] == f {
			delete(v.flights, key)
		}
	}
}

// Info is the JSON document of a .info file.
type Info struct {
	Version string
	Time    time.Time `json:",omitzero"`
}

// parseInfo validates an upstream .info document for mod.
func parseInfo(mod string, body []byte) (Info, error) {
	var info Info
	if err := json.Unmarshal(body, &info); err != nil {
		return Info{}, fmt.Errorf("%w: .info is not valid JSON: %v", ErrInvalid, err)
	}
	if err := protocol.CheckVersion(mod, info.Version); err != nil || module.CanonicalVersion(info.Version) != info.Version {
		return Info{}, fmt.Errorf("%w: .info names version %q, which is not a canonical version of %s", ErrInvalid, info.Version, mod)
	}
	// A pseudo-version's .info Time is not checked against the time in the
	// version: real upstreams answer with times seconds apart from it (for
	// example google.golang.org/genproto/googleapis/rpc@v0.0.0-20260904194346-…
	// has Time 19:43:54), and the go command accepts them.
	return info, nil
}

func (v *Vault) fillInfo(ctx context.Context, mod, version string) error {
	infoKey, _ := protocol.Key(mod, version, protocol.Info)
	modKey, _ := protocol.Key(mod, version, protocol.Mod)
	// A caller that found nothing stored may join the singleflight group
	// just after an earlier fill finished; then that fill stored it.
	if ok, err := v.store.Exists(ctx, infoKey); err != nil || ok {
		return err
	}
	infoBody, err := v.up.GetBytes(ctx, infoKey, maxInfoSize)
	if err != nil {
		return err
	}
	info, err := parseInfo(mod, infoBody)
	if err != nil {
		return err
	}
	if info.Version != version {
		return fmt.Errorf("%w: upstream answered .info for %s instead of requested version %s", ErrInvalid, info.Version, version)
	}
	if p, ok := v.opts.Checker.(Prefetcher); ok && !module.MatchPrefixPatterns(v.opts.NoVerify, mod) {
		// The version exists: look its hashes up while the .mod downloads.
		p.Prefetch(mod, version)
	}
	modBody, err := v.up.GetBytes(ctx, modKey, maxModSize)
	if err != nil {
		return err
	}
	if got := modfile.ModulePath(modBody); got != mod {
		return fmt.Errorf("%w: %s@%s: go.mod declares module path %q, want %q", ErrInvalid, mod, version, got, mod)
	}
	if err := v.verify(ctx, mod, version+"/go.mod", func() (string, error) {
		return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(modBody)), nil
		})
	}); err != nil {
		return err
	}
	if err := v.createOnce(ctx, modKey, modBody, infoKey); err != nil {
		return err
	}
	if err := v.store.Create(ctx, infoKey, bytes.NewReader(infoBody)); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// createOnce stores body at key unless key already holds it. An object left
// by a fill that died before it stored commitKey is replaced; a committed
// one is kept as it is.
func (v *Vault) createOnce(ctx context.Context, key string, body []byte, commitKey string) error {
	err := v.store.Create(ctx, key, bytes.NewReader(body))
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	old, err := v.store.ReadAll(ctx, key)
	if err != nil || bytes.Equal(old, body) {
		return err
	}
	committed, err := v.store.Exists(ctx, commitKey)
	if err != nil || committed {
		return err
	}
	return v.store.Put(ctx, key, bytes.NewReader(body))
}

func (v *Vault) fillZip(ctx context.Context, mod, version string) error {
	if _, err := v.ensureInfo(ctx, mod, version); err != nil {
		return err
	}
	zipKey, _ := protocol.Key(mod, version, protocol.Zip)
	modKey, _ := protocol.Key(mod, version, protocol.Mod)
	// As in fillInfo, an earlier fill may have stored it just now.
	if ok, err := v.store.Exists(ctx, zipKey); err != nil || ok {
		return err
	}

	f, err := os.CreateTemp(v.opts.TempDir, "modvault-fill-*.zip")
	if err != nil {
		// Not wrapped: a missing temporary directory is modvault's own
		// failure, not a "not found" for the client.
		return fmt.Errorf("creating temporary file for %s: %v", zipKey, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	n, err := v.up.GetFile(ctx, zipKey, f, v.opts.MaxZipSize)
	if errors.Is(err, upstream.ErrTooLarge) {
		return fmt.Errorf("%w: %s@%s: zip: %v", ErrInvalid, mod, version, err)
	}
	if err != nil {
		return err
	}
	mv := module.Version{Path: mod, Version: version}
	if _, err := modzip.CheckZip(mv, f.Name()); err != nil {
		return fmt.Errorf("%w: %s@%s: %v", ErrInvalid, mod, version, err)
	}
	storedMod, err := v.store.ReadAll(ctx, modKey)
	if err != nil {
		return err
	}
	if err := checkZipContents(f, n, mv, storedMod); err != nil {
		return err
	}
	if err := v.verify(ctx, mod, version, func() (string, error) { return dirhash.HashZip(f.Name(), dirhash.Hash1) }); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding %s: %w", f.Name(), err)
	}
	if err := v.store.Create(ctx, zipKey, f); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// verify checks the hash of a module file with the Checker, unless there
// is none or the module matches NoVerify.
func (v *Vault) verify(ctx context.Context, mod, version string, hash func() (string, error)) error {
	if v.opts.Checker == nil || module.MatchPrefixPatterns(v.opts.NoVerify, mod) {
		return nil
	}
	h, err := hash()
	if err != nil {
		return fmt.Errorf("%w: hashing %s@%s: %v", ErrInvalid, mod, version, err)
	}
	if err := v.opts.Checker.Check(ctx, mod, version, h); err != nil {
		v.log.Error("verification failed: nothing stored", "module", mod, "version", version, "err", err)
		if v.opts.VerifyFailed != nil {
			v.opts.VerifyFailed(err)
		}
		return err
	}
	return nil
}

// checkZipContents reads every file in a zip that passed modzip.CheckZip,
// which looks only at the zip's directory, so that archive/zip checks each
// file's size and CRC-32. It also checks that the zip's go.mod (or, without
// one, the go.mod the go command synthesizes) is the stored .mod, so a zip
// fetched after its tag moved cannot pair with the .mod of the old commit.
func checkZipContents(f *os.File, size int64, mv module.Version, storedMod []byte) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, mv, err)
	}
	goModName := mv.Path + "@" + mv.Version + "/go.mod"
	var zipMod []byte
	hasGoMod := false
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %v", ErrInvalid, mv, zf.Name, err)
		}
		if zf.Name == goModName {
			// CheckZip has bounded go.mod's size, and archive/zip fails on
			// more data than the directory declares.
			hasGoMod = true
			zipMod, err = io.ReadAll(rc)
		} else {
			_, err = io.Copy(io.Discard, rc)
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %v", ErrInvalid, mv, zf.Name, err)
		}
	}
	if strings.HasSuffix(mv.Version, "+incompatible") {
		return nil // the .mod of an +incompatible version is synthesized
	}
	if !hasGoMod {
		// As cmd/go's modfetch.LegacyGoMod.
		zipMod = fmt.Appendf(nil, "module %s\n", modfile.AutoQuote(mv.Path))
	}
	if !bytes.Equal(zipMod, storedMod) {
		what := "the zip's go.mod"
		if !hasGoMod {
			what = "the zip has no go.mod, so its .mod"
		}
		return fmt.Errorf("%w: %s: %s differs from the stored .mod (did the upstream content change?)", ErrInvalid, mv, what)
	}
	return nil
}

// Query resolves a version query that is not a canonical version ("main",
// a commit hash, "v1.2") through the upstream and returns its .info. Queries
// are not stored: their answers change.
func (v *Vault) Query(ctx context.Context, mod, query string) ([]byte, error) {
	key, err := protocol.Key(mod, query, protocol.Info)
	if err != nil {
		return nil, notFound(fmt.Sprintf("%s@%s: invalid version query", mod, query))
	}
	body, err := v.up.GetBytes(ctx, key, maxInfoSize)
	if err != nil {
		return nil, err
	}
	if _, err := parseInfo(mod, body); err != nil {
		return nil, err
	}
	return body, nil
}

// List returns the versions of mod: the union of the upstream's list and the
// stored versions, without pseudo-versions, sorted. When the upstream fails,
// the store answers alone.
func (v *Vault) List(ctx context.Context, mod string) ([]string, Source, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, "", notFound(err.Error())
	}
	listPath := protocol.Request{Kind: protocol.List, Module: mod}.Path()
	body, src, upErr := v.cachedGet(ctx, listPath, maxListSize)
	stored, err := v.storedVersions(ctx, mod)
	if err != nil {
		return nil, "", err
	}
	seen := make(map[string]bool)
	var out []string
	add := func(ver string) {
		if !seen[ver] && module.CanonicalVersion(ver) == ver && !module.IsPseudoVersion(ver) && protocol.CheckVersion(mod, ver) == nil {
			seen[ver] = true
			out = append(out, ver)
		}
	}
	if upErr == nil {
		for line := range strings.Lines(string(body)) {
			if f := strings.Fields(line); len(f) > 0 {
				add(f[0])
			}
		}
	}
	for _, ver := range stored {
		add(ver)
	}
	if upErr != nil {
		if len(stored) == 0 {
			return nil, "", upErr
		}
		src = Offline
		if errors.Is(upErr, fs.ErrNotExist) {
			src = Hit
		}
	}
	semver.Sort(out)
	return out, src, nil
}

// Latest returns the .info of the latest version of mod: the upstream's
// @latest answer, or else the highest stored release, pre-release or
// pseudo-version, in that order.
func (v *Vault) Latest(ctx context.Context, mod string) ([]byte, Source, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, "", notFound(err.Error())
	}
	latestPath := protocol.Request{Kind: protocol.Latest, Module: mod}.Path()
	body, src, upErr := v.cachedGet(ctx, latestPath, maxInfoSize)
	if upErr == nil {
		if _, err := parseInfo(mod, body); err == nil {
			return body, src, nil
		} else {
			upErr = err
		}
	}
	stored, err := v.storedVersions(ctx, mod)
	if err != nil {
		return nil, "", err
	}
	best := ""
	for _, ver := range stored {
		if best == "" || latestRank(ver) > latestRank(best) ||
			(latestRank(ver) == latestRank(best) && semver.Compare(ver, best) > 0) {
			best = ver
		}
	}
	if best == "" {
		return nil, "", upErr
	}
	infoKey, _ := protocol.Key(mod, best, protocol.Info)
	body, err = v.store.ReadAll(ctx, infoKey)
	if err != nil {
		return nil, "", err
	}
	src = Offline
	if errors.Is(upErr, fs.ErrNotExist) {
		src = Hit
	}
	return body, src, nil
}

// latestRank orders kinds of versions for @latest: releases over
// pre-releases over pseudo-versions.
func latestRank(v string) int {
	switch {
	case module.IsPseudoVersion(v):
		return 0
	case semver.Prerelease(v) != "":
		return 1
	}
	return 2
}

// storedVersions lists the versions of mod whose .info is stored.
func (v *Vault) storedVersions(ctx context.Context, mod string) ([]string, error) {
	prefix, err := protocol.VersionsPrefix(mod)
	if err != nil {
		return nil, err
	}
	var vers []string
	err = v.store.List(ctx, prefix, func(e store.Entry) bool {
		esc, ok := strings.CutSuffix(strings.TrimPrefix(e.Key, prefix), ".info")
		if !ok {
			return true
		}
		ver, err := module.UnescapeVersion(esc)
		if err == nil && protocol.CheckVersion(mod, ver) == nil && module.CanonicalVersion(ver) == ver {
			vers = append(vers, ver)
		}
		return true
	})
	return vers, err
}

// cachedGet fetches a small upstream answer (list or latest), reusing an
// answer, success or not-found, for ListTTL. Concurrent callers share one
// upstream request. Other failures are not remembered.
func (v *Vault) cachedGet(ctx context.Context, path string, limit int64) ([]byte, Source, error) {
	if c, ok := v.cachedAnswer(path); ok {
		return c.body, Cached, c.err
	}
	val, err := v.shared(ctx, "get "+path, func(fctx context.Context) (any, error) {
		// An earlier flight may have ended just before this one started.
		if c, ok := v.cachedAnswer(path); ok {
			return c.body, c.err
		}
		body, err := v.up.GetBytes(fctx, path, limit)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			v.remember(path, body, err)
		}
		return body, err
	})
	body, _ := val.([]byte)
	return slices.Clip(body), Upstream, err
}

// remember caches an upstream answer for ListTTL.
func (v *Vault) remember(key string, body []byte, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.answers) >= maxMemo {
		clear(v.answers)
	}
	v.answers[key] = cachedList{body: body, err: err, expires: time.Now().Add(v.opts.ListTTL)}
}

// upstreamNotFound reports whether err is an upstream's 404 or 410 answer
// (not the absence of any upstream, which is no news about the version).
func upstreamNotFound(err error) bool {
	var ue *upstream.Error
	return errors.As(err, &ue) && ue.URL != "" && errors.Is(ue, fs.ErrNotExist)
}

// cachedAnswer returns the unexpired cached upstream answer for path.
func (v *Vault) cachedAnswer(path string) (cachedList, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.answers[path]
	return c, ok && time.Now().Before(c.expires)
}

// observedStore is the vault's store, with the failures of its operations
// reported to Options.StoreFailed.
type observedStore struct {
	*store.Store
	failed func(op string, err error)
}

// check reports err if it is a failure of the store.
func (s observedStore) check(ctx context.Context, op string, err error) {
	if err != nil && s.failed != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
		s.failed(op, err)
	}
}

// Open is store.Store.Open, observed.
func (s observedStore) Open(ctx context.Context, key string) (store.Object, error) {
	o, err := s.Store.Open(ctx, key)
	s.check(ctx, "open", err)
	return o, err
}

// Exists is store.Store.Exists, observed.
func (s observedStore) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.Store.Exists(ctx, key)
	s.check(ctx, "exists", err)
	return ok, err
}

// ReadAll is store.Store.ReadAll, observed.
func (s observedStore) ReadAll(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.ReadAll(ctx, key)
	s.check(ctx, "read", err)
	return b, err
}

// Create is store.Store.Create, observed.
func (s observedStore) Create(ctx context.Context, key string, r io.Reader) error {
	err := s.Store.Create(ctx, key, r)
	s.check(ctx, "write", err)
	return err
}

// Put is store.Store.Put, observed.
func (s observedStore) Put(ctx context.Context, key string, r io.Reader) error {
	err := s.Store.Put(ctx, key, r)
	s.check(ctx, "write", err)
	return err
}

// List is store.Store.List, observed.
func (s observedStore) List(ctx context.Context, prefix string, fn func(store.Entry) bool) error {
	err := s.Store.List(ctx, prefix, fn)
	s.check(ctx, "list", err)
	return err
}
