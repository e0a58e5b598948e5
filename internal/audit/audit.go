// Package audit re-checks a modvault store: every stored version must be
// whole (.info and .mod, and a .zip if one is stored), pass the checks a
// fill makes (package modcheck, the same functions), and hash to what the
// checksum database recorded when modvault verified it. It can move
// what fails aside, so that it is fetched (and verified) again.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// Options configures [Run].
type Options struct {
	// SumDBs are the names of the checksum databases whose stored lookups
	// hold the recorded hashes.
	SumDBs []string
	// Quarantine moves every object of a failing version under
	// quarantine/<time>/, so that the next request fetches it again.
	Quarantine bool
	// TempDir holds a zip while it is checked; "" means os.TempDir().
	TempDir string
	// Report receives one line per problem.
	Report io.Writer
}

// Result counts what Run found.
type Result struct {
	Versions    int // versions checked (stored .info files)
	Zips        int // zips checked
	Verified    int // files whose hash matched a recorded checksum-database hash
	Problems    int // problems reported
	Quarantined int // objects moved aside
}

// Run checks every version in st. It streams: one zip at a time, through a
// temporary file.
func Run(ctx context.Context, st *store.Store, opts Options) (Result, error) {
	if opts.Report == nil {
		opts.Report = io.Discard
	}
	a := &auditor{st: st, opts: opts, stamp: time.Now().UTC().Format("20060102T150405Z")}
	err := st.Walk(ctx, "", func(e store.Entry) bool {
		if strings.HasPrefix(e.Key, "sumdb/") || strings.HasPrefix(e.Key, "quarantine/") || strings.HasSuffix(e.Key, ".tmp") {
			return true
		}
		a.check(ctx, e.Key)
		return ctx.Err() == nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		// Moved after the walk, which must not see objects vanish under it.
		for _, key := range a.pending {
			a.move(ctx, key)
		}
	}
	return a.res, err
}

type auditor struct {
	st    *store.Store
	opts  Options
	stamp string
	res   Result
	// pending are the keys to quarantine once the walk is over.
	pending []string
}

// parseKey returns the version file a key names, if it names one.
func parseKey(key string) (protocol.File, bool) {
	r, err := protocol.Parse(key)
	if err != nil || r.Kind < protocol.Info {
		return protocol.File{}, false
	}
	f, err := r.File()
	return f, err == nil
}

func (a *auditor) problem(mv module.Version, format string, args ...any) {
	a.res.Problems++
	fmt.Fprintf(a.opts.Report, "%s: %s\n", mv, fmt.Sprintf(format, args...))
}

func (a *auditor) check(ctx context.Context, key string) {
	f, ok := parseKey(key)
	if !ok {
		a.res.Problems++
		fmt.Fprintf(a.opts.Report, "%s: not a module version file\n", key)
		return
	}
	info := f.As(protocol.Info)
	if f.Kind != protocol.Info {
		// .mod and .zip are checked with their .info; alone, they are the
		// leftovers of a fill that never committed.
		if ok, err := a.st.Exists(ctx, info.Key); err == nil && !ok {
			a.problem(f.Version, "partial: %s is stored without its .info", f.Kind)
			a.quarantine(ctx, key)
		}
		return
	}
	a.res.Versions++
	if err := a.checkVersion(ctx, info); err != nil {
		a.problem(f.Version, "%v", err)
		for _, k := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
			a.quarantine(ctx, f.As(k).Key)
		}
	}
}

// checkVersion checks the stored files of a version with the checks a fill
// makes (package modcheck), and compares their hashes with the checksum
// databases' records.
func (a *auditor) checkVersion(ctx context.Context, info protocol.File) error {
	mv := info.Version
	infoBody, err := a.st.ReadAll(ctx, info.Key)
	if err != nil {
		return fmt.Errorf("reading .info: %w", err)
	}
	if _, err := modcheck.CheckInfo(mv, infoBody); err != nil {
		return changed(err)
	}
	mod, err := a.st.ReadAll(ctx, info.As(protocol.Mod).Key)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing: .info is stored without its .mod")
	}
	if err != nil {
		return fmt.Errorf("reading .mod: %w", err)
	}
	if err := modcheck.CheckMod(mv, mod); err != nil {
		return changed(err)
	}
	modHash, err := modcheck.ModHash(mod)
	if err != nil {
		return fmt.Errorf("hashing .mod: %w", err)
	}
	if err := a.compare(ctx, mv, "/go.mod", modHash); err != nil {
		return err
	}
	obj, err := a.st.Open(ctx, info.As(protocol.Zip).Key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // zips are filled on their first request
	}
	if err != nil {
		return fmt.Errorf("opening .zip: %w", err)
	}
	defer obj.Close()
	a.res.Zips++
	f, err := os.CreateTemp(a.opts.TempDir, "modvault-audit-*.zip")
	if err != nil {
		return fmt.Errorf("temporary file: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, obj.Content()); err != nil {
		return fmt.Errorf("reading .zip: %w", err)
	}
	if err := modcheck.CheckZip(mv, f.Name(), mod); err != nil {
		return changed(err)
	}
	zipHash, err := modcheck.ZipHash(mv, f.Name())
	if err != nil {
		return changed(err)
	}
	return a.compare(ctx, mv, "", zipHash)
}

// changed returns the problem a failed modcheck check is: "changed: " and
// what is wrong. Other errors are returned as they are.
func changed(err error) error {
	if ce, ok := errors.AsType[*modcheck.Error](err); ok {
		return errors.New("changed: " + ce.Msg)
	}
	return err
}

// compare checks hash, that of mv's zip or (suffix "/go.mod") its .mod,
// against the hash recorded in a stored checksum database lookup, if there
// is one (private modules have none).
func (a *auditor) compare(ctx context.Context, mv module.Version, suffix, hash string) error {
	escMod, _ := module.EscapePath(mv.Path)
	escVer, _ := module.EscapeVersion(mv.Version)
	for _, db := range a.opts.SumDBs {
		lookup, err := a.st.ReadAll(ctx, "sumdb/"+db+"/lookup/"+escMod+"@"+escVer)
		if err != nil {
			continue
		}
		prefix := mv.Path + " " + mv.Version + suffix + " "
		for line := range strings.Lines(string(lookup)) {
			if want, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				if want != hash {
					return fmt.Errorf("changed: %s hashes to %s, the checksum database %s recorded %s", fileOf(suffix), hash, db, want)
				}
				a.res.Verified++
				return nil
			}
		}
	}
	return nil
}

func fileOf(suffix string) string {
	if suffix == "/go.mod" {
		return ".mod"
	}
	return ".zip"
}

// quarantine marks key to be moved aside, when asked to.
func (a *auditor) quarantine(_ context.Context, key string) {
	if a.opts.Quarantine {
		a.pending = append(a.pending, key)
	}
}

// move moves key under quarantine/<time>/.
func (a *auditor) move(ctx context.Context, key string) {
	obj, err := a.st.Open(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = a.st.Put(ctx, "quarantine/"+a.stamp+"/"+key, obj.Content())
		obj.Close()
	}
	if err == nil {
		err = a.st.Delete(ctx, key)
	}
	if err != nil {
		fmt.Fprintf(a.opts.Report, "%s: quarantine failed: %v\n", key, err)
		return
	}
	a.res.Quarantined++
	fmt.Fprintf(a.opts.Report, "%s: moved to quarantine/%s/%s\n", key, a.stamp, key)
}
