// Package audit re-checks a modvault store: every stored version must be
// whole (.info and .mod, and a .zip if one is stored), valid, and hash to
// what the checksum database recorded when modvault verified it. It can move
// what fails aside, so that it is fetched (and verified) again.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

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

// version is the module version a key belongs to.
type version struct {
	mod, ver string
	kind     protocol.Kind
}

func parseKey(key string) (version, bool) {
	r, err := protocol.Parse(key)
	if err != nil || !r.Canonical() || r.Kind < protocol.Info || protocol.CheckVersion(r.Module, r.Version) != nil {
		return version{}, false
	}
	return version{r.Module, r.Version, r.Kind}, true
}

func (a *auditor) problem(v version, format string, args ...any) {
	a.res.Problems++
	fmt.Fprintf(a.opts.Report, "%s@%s: %s\n", v.mod, v.ver, fmt.Sprintf(format, args...))
}

func (a *auditor) check(ctx context.Context, key string) {
	v, ok := parseKey(key)
	if !ok {
		a.res.Problems++
		fmt.Fprintf(a.opts.Report, "%s: not a module version file\n", key)
		return
	}
	infoKey, _ := protocol.Key(v.mod, v.ver, protocol.Info)
	if v.kind != protocol.Info {
		// .mod and .zip are checked with their .info; alone, they are the
		// leftovers of a fill that never committed.
		if ok, err := a.st.Exists(ctx, infoKey); err == nil && !ok {
			a.problem(v, "partial: %s is stored without its .info", v.kind)
			a.quarantine(ctx, key)
		}
		return
	}
	a.res.Versions++
	if err := a.checkVersion(ctx, v); err != nil {
		a.problem(v, "%v", err)
		for _, k := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
			kk, _ := protocol.Key(v.mod, v.ver, k)
			a.quarantine(ctx, kk)
		}
	}
}

func (a *auditor) checkVersion(ctx context.Context, v version) error {
	infoKey, _ := protocol.Key(v.mod, v.ver, protocol.Info)
	modKey, _ := protocol.Key(v.mod, v.ver, protocol.Mod)
	zipKey, _ := protocol.Key(v.mod, v.ver, protocol.Zip)
	info, err := a.st.ReadAll(ctx, infoKey)
	if err != nil {
		return fmt.Errorf("reading .info: %w", err)
	}
	var doc struct{ Version string }
	if err := json.Unmarshal(info, &doc); err != nil || doc.Version != v.ver {
		return fmt.Errorf("changed: .info does not name version %s", v.ver)
	}
	mod, err := a.st.ReadAll(ctx, modKey)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing: .info is stored without its .mod")
	}
	if err != nil {
		return fmt.Errorf("reading .mod: %w", err)
	}
	if modfile.ModulePath(mod) != v.mod {
		return errors.New("changed: .mod does not declare the module path")
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	})
	if err != nil {
		return fmt.Errorf("hashing .mod: %w", err)
	}
	if err := a.compare(ctx, v, v.ver+"/go.mod", modHash); err != nil {
		return err
	}
	obj, err := a.st.Open(ctx, zipKey)
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
	if _, err := modzip.CheckZip(module.Version{Path: v.mod, Version: v.ver}, f.Name()); err != nil {
		return fmt.Errorf("changed: the .zip is not a valid module zip: %v", err)
	}
	zipHash, err := dirhash.HashZip(f.Name(), dirhash.Hash1)
	if err != nil {
		return fmt.Errorf("changed: hashing the .zip: %v", err)
	}
	return a.compare(ctx, v, v.ver, zipHash)
}

// compare checks hash against the hash recorded in a stored checksum
// database lookup, if there is one (private modules have none).
func (a *auditor) compare(ctx context.Context, v version, vers, hash string) error {
	escMod, _ := module.EscapePath(v.mod)
	escVer, _ := module.EscapeVersion(v.ver)
	for _, db := range a.opts.SumDBs {
		lookup, err := a.st.ReadAll(ctx, "sumdb/"+db+"/lookup/"+escMod+"@"+escVer)
		if err != nil {
			continue
		}
		prefix := v.mod + " " + vers + " "
		for line := range strings.Lines(string(lookup)) {
			if want, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				if want != hash {
					return fmt.Errorf("changed: %s hashes to %s, the checksum database %s recorded %s", fileOf(vers), hash, db, want)
				}
				a.res.Verified++
				return nil
			}
		}
	}
	return nil
}

func fileOf(vers string) string {
	if strings.HasSuffix(vers, "/go.mod") {
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
