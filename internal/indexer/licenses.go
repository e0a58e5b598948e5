package indexer

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// detectTimeout bounds the detection of one zip's licenses: reading its
// directory and license files from the store, and scanning them.
const detectTimeout = time.Minute

// detectLicenses detects the license files of the stored zip of mv
// (license.Detect). The zip is read in place, never copied: a file
// store's zip through its open file, a bucket's through range reads of
// the object (the zip's directory at its end, then each license file), so
// the cost depends on the license files, not on the zip's size.
func detectLicenses(ctx context.Context, st *store.Store, mv module.Version) ([]index.License, error) {
	f, err := protocol.NewFile(mv, protocol.Zip)
	if err != nil {
		return nil, err
	}
	obj, err := st.Open(ctx, f.Key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	ra, ok := obj.Content().(io.ReaderAt)
	if !ok {
		ra = &seekReaderAt{r: obj}
	}
	zr, err := zip.NewReader(ra, obj.Size())
	if err != nil {
		return nil, fmt.Errorf("reading the zip of %s: %w", mv, err)
	}
	found, err := license.Detect(zr, mv)
	if err != nil {
		return nil, err
	}
	return toIndex(found), nil
}

// seekReaderAt reads at offsets of a ReadSeeker, one read at a time. Over
// a bucket's reader, a read that follows the previous one continues its
// request; another offset starts a range request.
type seekReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.r, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF // ReadAt's way of saying the data ended
	}
	return n, err
}

// recordLicenses detects the licenses of the stored zip of mv and records
// them. A detection that fails is logged and records nothing, so the
// version's licenses stay unknown (a later reconcile tries again); an
// index write that fails is returned.
func recordLicenses(ctx context.Context, st *store.Store, x *index.Index, mv module.Version, log *slog.Logger) (detected bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, detectTimeout)
	found, err := detectLicenses(dctx, st, mv)
	cancel()
	if err != nil {
		if isNotExist(err) || ctx.Err() != nil {
			return false, ctx.Err()
		}
		logger(log).Warn("index: detecting the licenses of a stored zip failed; they stay unknown", "module", mv.Path, "version", mv.Version, "err", err)
		return false, nil
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := x.SetLicenses(wctx, mv, found); err != nil {
		if isNotExist(err) { // the version or its zip is not in the index
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// detectMissing detects and records the licenses of those of mvs (versions
// with a stored zip) whose licenses the index lacks, and returns how many
// it recorded.
func (c Config) detectMissing(ctx context.Context, st *store.Store, x *index.Index, mvs []module.Version) (int, error) {
	if !c.Licenses || len(mvs) == 0 {
		return 0, nil
	}
	licensed, err := x.Licensed(ctx, mvs)
	if err != nil {
		return 0, err
	}
	have := make(map[module.Version]bool, len(licensed))
	for _, mv := range licensed {
		have[mv] = true
	}
	n := 0
	for _, mv := range mvs {
		if have[mv] {
			continue
		}
		ok, err := recordLicenses(ctx, st, x, mv, c.Log)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// logger returns log, or slog.Default() if it is nil.
func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}

// toIndex converts detected licenses to the index's; none is an empty,
// non-nil slice (the zip has no license file).
func toIndex(found []license.License) []index.License {
	out := make([]index.License, len(found))
	for i, l := range found {
		out[i] = index.License{Path: l.Path, Types: l.Types, Coverage: l.Coverage}
	}
	return out
}

// fromIndex converts recorded licenses back; none is an empty, non-nil
// slice.
func fromIndex(found []index.License) []license.License {
	out := make([]license.License, len(found))
	for i, l := range found {
		out[i] = license.License{Path: l.Path, Types: l.Types, Coverage: l.Coverage}
	}
	return out
}

// PolicyInputs gives the policy engine (policy.Sources) what the index
// knows about a version: its licenses and its first-seen time. Its
// methods are safe for concurrent use; each costs one indexed query.
type PolicyInputs struct {
	Index *index.Index
	// Log receives failed lookups; nil means slog.Default().
	Log *slog.Logger
}

// Licenses returns the licenses recorded for mv's zip (empty, not nil, if
// it has no license file), or nil if they are unknown: never detected, or
// the lookup failed (logged). It is policy.Sources.Licenses.
func (p PolicyInputs) Licenses(ctx context.Context, mv module.Version) []license.License {
	found, ok, err := p.Index.Licenses(ctx, mv)
	if err != nil {
		logger(p.Log).Warn("policy: looking up the licenses of a version failed; treated as unknown", "module", mv.Path, "version", mv.Version, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return fromIndex(found)
}

// Published returns mv's first-seen time (index.FirstSeen), and false if
// it has none or the lookup failed (logged). It is policy.Sources.Published.
func (p PolicyInputs) Published(ctx context.Context, mv module.Version) (time.Time, bool) {
	t, ok, err := p.Index.FirstSeen(ctx, mv)
	if err != nil {
		logger(p.Log).Warn("policy: looking up the first-seen time of a version failed; treated as unknown", "module", mv.Path, "version", mv.Version, "err", err)
		return time.Time{}, false
	}
	return t, ok
}
