package checksumdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/upstream"
)

// ErrMismatch is wrapped by [MismatchError].
var ErrMismatch = fault.New(fault.Verification, "checksum mismatch")

// ErrSecurity is returned by every check once the database was caught
// misbehaving (a fork: two inconsistent signed trees). Fills of verified
// modules stop until an operator acts.
var ErrSecurity = fault.New(fault.Security, "checksum database misbehavior detected")

// ErrUnverifiable is wrapped by errors of checks that could not be made:
// the database could not be reached or has no record of the version.
var ErrUnverifiable = fault.New(fault.Unverifiable, "cannot verify against the checksum database")

// MismatchError says that a module file's hash differs from the one the
// checksum database recorded for it.
type MismatchError struct {
	Path    string // module path
	Version string // version, with "/go.mod" for the .mod file
	Got     string // the hash of what the upstream sent
	Want    string // the hash the database recorded
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s@%s: the upstream sent %s, the checksum database has %s", e.Path, e.Version, e.Got, e.Want)
}

// Unwrap returns ErrMismatch.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// Verifier checks module hashes against a checksum database, fetched
// through the upstream proxies' /sumdb/$name/ endpoints. Its state (the
// latest signed tree it has seen, and the tiles and lookups it has read) is
// kept in the store under sumdb/$name/, so every new tree is proved
// consistent with the last one, across restarts.
type Verifier struct {
	name    string
	client  *sumdb.Client
	ops     *clientOps
	refresh sync.Mutex // serializes Refresh
}

// NewVerifier returns a Verifier for the database with verifier key vkey
// ("name+hash+key", as in GOSUMDB).
func NewVerifier(vkey string, up *upstream.Client, st *store.Store, log *slog.Logger) (*Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checksum database key %q: %w", vkey, err)
	}
	if log == nil {
		log = slog.Default()
	}
	ops := &clientOps{name: v.Name(), key: vkey, up: up, store: st, log: log, headMoved: make(chan struct{}, 1)}
	return &Verifier{name: v.Name(), client: sumdb.NewClient(ops), ops: ops}, nil
}

// Name returns the database's name.
func (v *Verifier) Name() string { return v.name }

// Check reports whether hash (an "h1:" hash) is what the database records
// for path@version; version ends in "/go.mod" for a .mod file. A different
// hash is a [*MismatchError]; a database caught misbehaving, [ErrSecurity].
func (v *Verifier) Check(ctx context.Context, path, version, hash string) error {
	if v.ops.forked.Load() {
		return fmt.Errorf("%w: refusing to verify %s@%s until an operator acts (see the log)", ErrSecurity, path, version)
	}
	lines, err := v.client.Lookup(path, version)
	if v.ops.forked.Load() {
		return fmt.Errorf("%w: while verifying %s@%s", ErrSecurity, path, version)
	}
	if err != nil {
		// Lookup formats its errors with %v, so they cannot be unwrapped.
		return fmt.Errorf("%w %s: %v", ErrUnverifiable, v.name, err)
	}
	prefix := path + " " + version + " "
	for _, line := range lines {
		if want, ok := strings.CutPrefix(line, prefix); ok {
			if want != hash {
				return &MismatchError{Path: path, Version: version, Got: hash, Want: want}
			}
			return nil
		}
	}
	return fmt.Errorf("%w %s: it has no hash for %s@%s", ErrUnverifiable, v.name, path, version)
}

// Prefetch starts looking up path@version in the background, so that the
// Check calls for its .mod and .zip find the answer ready (the client
// shares one lookup among concurrent and later callers).
func (v *Verifier) Prefetch(path, version string) {
	if v.ops.forked.Load() {
		return
	}
	go v.client.Lookup(path, version)
}

// Prefetch prefetches from every database.
func (a All) Prefetch(path, version string) {
	for _, v := range a {
		v.Prefetch(path, version)
	}
}

// lookup looks up an escaped "module@version" through the verifying client,
// which stores the lookup at key once it is authenticated, and returns the
// stored answer. ok is false if it could not.
func (v *Verifier) lookup(ctx context.Context, escaped, key string) (body []byte, ok bool) {
	escMod, escVer, found := strings.Cut(escaped, "@")
	if !found || v.ops.forked.Load() {
		return nil, false
	}
	mod, err1 := module.UnescapePath(escMod)
	ver, err2 := module.UnescapeVersion(escVer)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	if _, err := v.client.Lookup(mod, ver); err != nil {
		return nil, false
	}
	// A client asking for the lookup may ask for its tiles next, and
	// gets them from the store even once the upstream is gone.
	v.ops.writes.wait(ctx)
	body, err := v.ops.ReadCache(strings.TrimPrefix(key, "sumdb/"))
	return body, err == nil
}

// clientOps implements sumdb.ClientOps over the upstream and the store.
type clientOps struct {
	name   string
	key    string
	up     *upstream.Client
	store  *store.Store
	log    *slog.Logger
	mu     sync.Mutex // serializes WriteConfig's compare-and-swap
	forked atomic.Bool
	// headMoved gets a value (if it has none) when a lookup moved the
	// head forward, for Follow.
	headMoved chan struct{}
	writes    cacheWrites // ReadCache and WriteCache
}

// remoteTimeout bounds one request to the database (sumdb.ClientOps has no
// context).
const remoteTimeout = time.Minute

// maxRemote bounds one database answer (a full tile is 8 KiB; a lookup is
// smaller).
const maxRemote = 1 << 20

func (o *clientOps) ReadRemote(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	return o.up.GetBytes(ctx, "sumdb/"+o.name+path, maxRemote)
}

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	b, err := o.store.ReadAll(context.Background(), "sumdb/"+file)
	if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(file, "/latest") {
		return nil, nil // start from an empty tree
	}
	return b, err
}

// WriteConfig is called by the sumdb client only to move the head forward,
// to a tree it proved consistent and passes on in a lookup: Follow is told,
// to store the tiles a client holding that head may ask for.
func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	if err := o.swapConfig(file, old, new); err != nil {
		return err
	}
	select {
	case o.headMoved <- struct{}{}:
	default:
	}
	return nil
}

func (o *clientOps) Log(msg string) { o.log.Info("checksum database", "db", o.name, "msg", msg) }

// SecurityError records a fork: it is logged at error level and every later
// check fails with ErrSecurity. The server keeps running.
func (o *clientOps) SecurityError(msg string) {
	o.forked.Store(true)
	o.log.Error("SECURITY ERROR: checksum database misbehavior detected; fills of verified modules are stopped",
		"db", o.name, "msg", msg)
}

// All is a Checker over several databases: a hash must be recorded by at
// least one of them, and every database that has a record must agree. A
// mismatch or a misbehaving database in any of them fails the check.
type All []*Verifier

// Check checks hash against every database in a.
func (a All) Check(ctx context.Context, path, version, hash string) error {
	var unverifiable error
	verified := false
	for _, v := range a {
		err := v.Check(ctx, path, version, hash)
		switch {
		case err == nil:
			verified = true
		case errors.Is(err, ErrUnverifiable):
			unverifiable = err
		default:
			return err
		}
	}
	if !verified {
		return unverifiable
	}
	return nil
}
