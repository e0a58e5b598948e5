// Package vault is modvault's cache: it answers module proxy requests from
// the store, fills the store from the upstream on a miss, validates
// everything before storing it (with internal/modcheck), and keeps answering
// from the store when the upstream is gone. It knows nothing about HTTP.
//
// The store layout mirrors the protocol: $module/@v/$version.{info,mod,zip}.
// A version exists in the store once its .info is stored; the .mod is written
// before the .info, so a stored .info always has its .mod. The .zip is filled
// on its first request (the go command fetches the .mod of many versions it
// never builds), validated on a temporary file and written in one atomic
// step, so a stored .zip is always whole and valid. No stored object is ever
// replaced.
//
// Files: fill.go fills a version from the upstream; listing.go answers
// list, @latest and queries; policy.go asks the policy whether a version
// may be served; answers.go remembers upstream answers for
// ListTTL; flight.go shares work between concurrent callers; observed.go
// reports store failures.
package vault

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	modzip "golang.org/x/mod/zip"
	"golang.org/x/sync/singleflight"

	"github.com/modvault/modvault/internal/fault"
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

// ErrInvalid is matched by errors about upstream content that failed
// validation (internal/modcheck's errors, a zip larger than MaxZipSize);
// nothing of it was stored. It is fault.ErrBadUpstream, so it matches any
// error of that Kind.
var ErrInvalid = fault.ErrBadUpstream

// NotFoundError says that something is not available. It matches
// fs.ErrNotExist and has the Kind fault.NotFound.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }

// Is reports whether target is fs.ErrNotExist.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// FaultKind returns fault.NotFound.
func (e *NotFoundError) FaultKind() fault.Kind { return fault.NotFound }

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

// Sources returns every Source, in a fixed order.
func Sources() []Source { return []Source{Hit, Miss, Upstream, Cached, Offline} }

// Options configures a [Vault].
type Options struct {
	// ListTTL is how long an upstream list or latest answer, and an
	// upstream's "not found" for a version, is reused. Zero means one
	// minute.
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
	// Stored, if not nil, is called after a fill commits a version's .info
	// (with its .mod) and after it commits its zip, for the metadata index.
	// It must not block for long; ctx is the vault's, not the request's.
	// It is not called when another fill (a replica) committed first.
	Stored func(ctx context.Context, sv StoredVersion)
	// Policy, if not nil, judges every version before it is served or
	// fetched ([Vault.Admit]); @v/list leaves out the versions it denies
	// and @latest answers the newest it allows.
	Policy Policy
	// Seen, if not nil, is called with the versions of every upstream
	// list and @latest answer when it arrives, and with a version the
	// Policy could not date, so that a minimum age counts from modvault's
	// first sight of a version (the index's Seen). It is called on the
	// request's path: it must not block for long.
	Seen func(ctx context.Context, mod string, versions []string)
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
	// asksUpstream is whether up has an upstream to ask: only then is
	// its "not found" news about a version, worth remembering.
	asksUpstream bool

	fills singleflight.Group
	base  context.Context
	stop  context.CancelFunc

	mu        sync.Mutex
	committed map[string]struct{}       // keys of .info and .zip objects known to be stored (they never change)
	answers   map[string]upstreamAnswer // upstream list, latest and "missing" answers, by path
	flights   map[string]*flight        // work in progress, by key
	busy      int                       // shared work running (see Busy)
	idle      chan struct{}             // closed when busy drops to zero, if Shutdown waits
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
	proxies := up.Proxies()
	base, stop := context.WithCancel(context.Background())
	return &Vault{
		store:        observedStore{Store: st, failed: opts.StoreFailed},
		up:           up,
		opts:         opts,
		log:          opts.Logger,
		asksUpstream: len(proxies) > 0 && !proxies[0].Off,
		base:         base,
		stop:         stop,
		committed:    make(map[string]struct{}),
		answers:      make(map[string]upstreamAnswer),
		flights:      make(map[string]*flight),
	}
}

// Shutdown waits for the work in flight (see [Vault.Busy]) to finish, so
// no fill is cut off half-way (a cut-off fill stores nothing, but its work
// is lost). If ctx ends first, the work is cancelled and Shutdown returns
// ctx's error.
func (v *Vault) Shutdown(ctx context.Context) error {
	v.mu.Lock()
	if v.busy == 0 {
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

// Busy returns the amount of work in flight now: fills from the upstream,
// and upstream list and @latest requests that callers wait for.
func (v *Vault) Busy() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.busy
}

// Open returns the stored file f, filling it from the upstream first if
// needed (a .info or .mod with [Vault.ensureInfo], a .zip with
// [Vault.ensureZip]); the Source says which. Nothing is stored unless it
// passed every check. The caller closes the object.
func (v *Vault) Open(ctx context.Context, f protocol.File) (store.Object, Source, error) {
	src := Hit
	if f.Kind == protocol.Zip {
		obj, err := v.store.Open(ctx, f.Key)
		if err == nil {
			return obj, Hit, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return store.Object{}, "", err
		}
		if err := v.ensureZip(ctx, f); err != nil {
			return store.Object{}, "", err
		}
		src = Miss
	} else {
		filled, err := v.ensureInfo(ctx, f)
		if err != nil {
			return store.Object{}, "", err
		}
		if filled {
			src = Miss
		}
	}
	obj, err := v.store.Open(ctx, f.Key)
	if err != nil {
		return store.Object{}, "", err
	}
	return obj, src, nil
}

// ZipURL makes sure the zip f (a File of kind Zip) is stored, filling it
// first if needed, and returns a URL of the stored object that is valid for
// expiry, made by sign (a store's signed URL). It returns sign's error, such
// as one matching errors.ErrUnsupported for a store that cannot sign.
func (v *Vault) ZipURL(ctx context.Context, f protocol.File, expiry time.Duration, sign func(ctx context.Context, key string, expiry time.Duration) (string, error)) (string, Source, error) {
	src := Hit
	// Stored zips never change: once seen, the store need not be asked
	// again (signing is local, so a redirect then costs no store request).
	ok := v.isCommitted(f.Key)
	if !ok {
		var err error
		if ok, err = v.store.Exists(ctx, f.Key); err != nil {
			return "", "", err
		}
	}
	if !ok {
		if err := v.ensureZip(ctx, f); err != nil {
			return "", "", err
		}
		src = Miss
	}
	v.markCommitted(f.Key)
	u, err := sign(ctx, f.Key, expiry)
	return u, src, err
}

// isCommitted reports whether key is known to be stored.
func (v *Vault) isCommitted(key string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.committed[key]
	return ok
}

// markCommitted remembers that key is stored.
func (v *Vault) markCommitted(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.committed) >= maxMemo {
		clear(v.committed)
	}
	v.committed[key] = struct{}{}
}
