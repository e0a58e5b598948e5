package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/upstream"
)

// ensureInfo makes sure the .info and .mod of f's version are stored,
// filling them with [Vault.fillInfo] once for all concurrent callers, and
// reports whether it had to. An upstream's "not found" is remembered for
// ListTTL and returned again without asking (a vault without an upstream
// remembers nothing: a version stored meanwhile is served at once).
func (v *Vault) ensureInfo(ctx context.Context, f protocol.File) (filled bool, err error) {
	info := f.As(protocol.Info)
	if v.isCommitted(info.Key) {
		return false, nil
	}
	ok, err := v.store.Exists(ctx, info.Key)
	if err != nil {
		return false, err
	}
	if !ok {
		// The upstream's "no such version" is reused for ListTTL, as the go
		// command probes the same missing versions (path prefixes) often.
		missing := "missing " + info.Key
		if c, ok := v.cachedAnswer(missing); ok {
			return false, c.err
		}
		// The go command asks for the .info of versions that may not
		// exist (the path prefixes of a query), and for the .mod (or zip)
		// of versions a go.mod requires: only then is the .mod fetched
		// while the .info is, not to ask the upstream twice for nothing.
		early := f.Kind != protocol.Info
		err = v.fill(ctx, "info "+info.Key, func(ctx context.Context) error { return v.fillInfo(ctx, info, early) })
		if err != nil {
			if v.asksUpstream && fault.Of(err).Missing() {
				v.remember(missing, nil, err)
			}
			return false, err
		}
	}
	v.markCommitted(info.Key)
	return !ok, nil
}

// ensureZip fills the zip of f's version with [Vault.fillZip], once for all
// concurrent callers.
func (v *Vault) ensureZip(ctx context.Context, f protocol.File) error {
	zip := f.As(protocol.Zip)
	return v.fill(ctx, "zip "+zip.Key, func(ctx context.Context) error { return v.fillZip(ctx, zip) })
}

// fill runs fn once for all concurrent callers with the same key (shared),
// holding the Locker's lease on key if there is a Locker, and logs and
// reports its outcome.
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

// fillInfo stores the .info and .mod of info's version from the upstream,
// unless the .info is stored already. The .mod is fetched while the .info
// is if early is set, else after it; the version's hashes are looked up in
// the checksum database (Prefetcher) as soon as the .info proved the
// version exists. Both pass
// modcheck and the Checker before anything is written; then the .mod is
// written ([Vault.createOnce]) and the .info last, committing the version.
// A failure leaves at most an uncommitted .mod, which the next fill
// replaces.
func (v *Vault) fillInfo(ctx context.Context, info protocol.File, early bool) error {
	mod := info.As(protocol.Mod)
	// A caller that found nothing stored may join the singleflight group
	// just after an earlier fill finished; then that fill stored it.
	if ok, err := v.store.Exists(ctx, info.Key); err != nil || ok {
		return err
	}
	var modBody *[]byte
	var waitMod func(bool) error
	if early {
		modBody, waitMod = v.fetchEarly(ctx, mod.Key, maxModSize)
		defer waitMod(false)
	}
	infoBody, from, err := v.up.GetBytesFrom(ctx, info.Key, maxInfoSize)
	if err != nil {
		return err
	}
	if _, err := modcheck.CheckInfo(info.Version, infoBody); err != nil {
		return invalidUpstream(err)
	}
	if p, ok := v.opts.Checker.(Prefetcher); ok && v.verifies(info.Path) {
		// The version exists: look its hashes up while the .mod downloads.
		// (Not before: the database's "not found" for a version that does
		// not exist yet would be remembered.)
		p.Prefetch(info.Path, info.Version.Version)
	}
	if !early {
		modBody, waitMod = v.fetchEarly(ctx, mod.Key, maxModSize)
		defer waitMod(false)
	}
	if err := waitMod(true); err != nil {
		return err
	}
	if err := modcheck.CheckMod(mod.Version, *modBody); err != nil {
		return invalidUpstream(err)
	}
	modH1, err := v.verify(ctx, mod.Version, "/go.mod", func() (string, error) { return modcheck.ModHash(*modBody) })
	if err != nil {
		return err
	}
	if err := v.createOnce(ctx, mod.Key, *modBody, info.Key); err != nil {
		return err
	}
	if err := v.store.Create(ctx, info.Key, bytes.NewReader(infoBody)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another fill committed it, and reports it
		}
		return err
	}
	v.stored(StoredVersion{Version: info.Version, From: from, Info: infoBody, Mod: *modBody, ModH1: modH1})
	return nil
}

// fetchEarly starts fetching key (at most limit bytes) from the upstream
// in the background. wait(true) waits for the fetch and returns its error,
// after which *body holds what it got. wait(false) cancels the fetch if it
// is still running and waits for it to end; the caller must call it (for
// example deferred) so that no fetch outlives it. wait may be called more
// than once.
func (v *Vault) fetchEarly(ctx context.Context, key string, limit int64) (body *[]byte, wait func(use bool) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var b []byte
	var err error
	go func() {
		defer close(done)
		b, err = v.up.GetBytes(ctx, key, limit)
	}()
	return &b, func(use bool) error {
		if !use {
			cancel()
		}
		<-done
		cancel()
		return err
	}
}

// createOnce stores body at key unless key already holds it. An object
// left at key by a fill that died before it stored commitKey is replaced;
// once commitKey is stored, the object at key is kept as it is, and
// createOnce returns nil even if body differs.
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

// fillZip stores the zip from the upstream unless it is stored already,
// after [Vault.ensureInfo]. The zip is downloaded to a temporary file in
// TempDir, checked there (MaxZipSize, then modcheck.CheckZipHash against the
// stored .mod, which reads every file of the zip once and computes its
// hash for the Checker) and written in one create-once step. A failure
// stores nothing; the temporary file is always removed.
func (v *Vault) fillZip(ctx context.Context, zip protocol.File) error {
	if _, err := v.ensureInfo(ctx, zip); err != nil {
		return err
	}
	mv := zip.Version
	// As in fillInfo, an earlier fill may have stored it just now.
	if ok, err := v.store.Exists(ctx, zip.Key); err != nil || ok {
		return err
	}

	f, err := os.CreateTemp(v.opts.TempDir, "modvault-fill-*.zip")
	if err != nil {
		// Not wrapped: a missing temporary directory is modvault's own
		// failure, not a "not found" for the client.
		return fmt.Errorf("creating temporary file for %s: %v", zip.Key, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	_, err = v.up.GetFile(ctx, zip.Key, f, v.opts.MaxZipSize)
	if errors.Is(err, upstream.ErrTooLarge) {
		return fmt.Errorf("%w: %s: zip: %v", ErrInvalid, mv, err)
	}
	if err != nil {
		return err
	}
	storedMod, err := v.store.ReadAll(ctx, zip.As(protocol.Mod).Key)
	if err != nil {
		return err
	}
	h1, err := modcheck.CheckZipHash(mv, f.Name(), storedMod)
	if err != nil {
		return invalidUpstream(err)
	}
	zipH1, err := v.verify(ctx, mv, "", func() (string, error) { return h1, nil })
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding %s: %w", f.Name(), err)
	}
	body := newCountingHash(f)
	if err := v.store.Create(ctx, zip.Key, body); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another fill committed it, and reports it
		}
		return err
	}
	v.stored(StoredVersion{Version: mv, Zip: &StoredZip{Size: body.n, SHA256: body.sum(), H1: zipH1}})
	return nil
}

// invalidUpstream marks err, a modcheck error about upstream content, as such in
// its message ("invalid upstream content: …").
func invalidUpstream(err error) error {
	if errors.Is(err, ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// verifies reports whether the Checker verifies the module mod.
func (v *Vault) verifies(mod string) bool {
	return v.opts.Checker != nil && !module.MatchPrefixPatterns(v.opts.NoVerify, mod)
}

// verify checks the hash of a file of mv (its zip, or with suffix
// "/go.mod" its .mod) with the Checker, unless the module is not verified,
// and returns the hash. The hash is computed only to be checked, or for
// Options.Stored; otherwise it is "".
func (v *Vault) verify(ctx context.Context, mv module.Version, suffix string, hash func() (string, error)) (string, error) {
	checks := v.verifies(mv.Path)
	if !checks && v.opts.Stored == nil {
		return "", nil
	}
	h, err := hash()
	if err != nil {
		return "", invalidUpstream(err)
	}
	if !checks {
		return h, nil
	}
	if err := v.opts.Checker.Check(ctx, mv.Path, mv.Version+suffix, h); err != nil {
		v.log.Error("verification failed: nothing stored", "module", mv.Path, "version", mv.Version+suffix, "err", err)
		if v.opts.VerifyFailed != nil {
			v.opts.VerifyFailed(err)
		}
		return "", err
	}
	return h, nil
}
