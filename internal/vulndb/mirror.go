package vulndb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/store"
)

// Mirror copies the vulnerability database at src (the http, https or
// file URL of its root) into st under [Prefix], if the modified time in
// its index/db.json is not the mirror's. It reports whether it wrote
// anything.
//
// It reads the source's three indexes, checks that they parse and that
// modules.json names only IDs that vulns.json lists, then fetches the
// entries that vulns.json gives a modification time other than the
// mirror's (all of them the first time), checks that each parses
// ([parseEntry]), and writes each as ID/<id>.json and .json.gz. Only then
// does it write index/modules.json, index/vulns.json and, last,
// index/db.json (each .json.gz before its .json). Files that change are
// replaced with [store.Store.Put], which is atomic per object.
//
// On any failure, or a crash, the mirror's index/db.json is the previous
// one: readers keep the previous indexes or newer ones, and every index
// they read names entries already stored at least as new as it says. The
// next Mirror finds the modified time changed and resumes, fetching only
// entries the stored vulns.json does not already give at their new time.
// Entries that leave the source's index are left in the store, unlisted.
func Mirror(ctx context.Context, src string, st *store.Store) (changed bool, err error) {
	return mirrorWith(ctx, src, st, http.DefaultClient)
}

func mirrorWith(ctx context.Context, src string, st *store.Store, client *http.Client) (bool, error) {
	s, err := openSource(src, client)
	if err != nil {
		return false, err
	}
	m := &mirror{src: s, st: st}
	changed, err := m.run(ctx)
	if err != nil {
		return changed, fmt.Errorf("vulndb: mirroring %s: %w", src, err)
	}
	return changed, nil
}

// mirror is one run of Mirror.
type mirror struct {
	src source
	st  *store.Store
}

func (m *mirror) run(ctx context.Context) (bool, error) {
	dbJSON, err := m.src.get(ctx, dbEndpoint)
	if err != nil {
		return false, err
	}
	var meta dbMeta
	if err := json.Unmarshal(dbJSON, &meta); err != nil || meta.Modified.IsZero() {
		return false, fmt.Errorf("%w: %s.json: no modified time (%v)", fault.ErrBadUpstream, dbEndpoint, err)
	}
	if old, err := m.storedModified(ctx); err != nil {
		return false, err
	} else if old.Equal(meta.Modified) {
		return false, nil
	}

	vulnsJSON, err := m.src.get(ctx, vulnsEndpoint)
	if err != nil {
		return false, err
	}
	var vulns []vulnMeta
	if err := json.Unmarshal(vulnsJSON, &vulns); err != nil {
		return false, fmt.Errorf("%w: %s.json: %w", fault.ErrBadUpstream, vulnsEndpoint, err)
	}
	listed := make(map[string]bool, len(vulns))
	for _, v := range vulns {
		if !validID(v.ID) {
			return false, fmt.Errorf("%w: %s.json: invalid ID %q", fault.ErrBadUpstream, vulnsEndpoint, v.ID)
		}
		listed[v.ID] = true
	}
	modulesJSON, err := m.src.get(ctx, modulesEndpoint)
	if err != nil {
		return false, err
	}
	var modules []moduleMeta
	if err := json.Unmarshal(modulesJSON, &modules); err != nil {
		return false, fmt.Errorf("%w: %s.json: %w", fault.ErrBadUpstream, modulesEndpoint, err)
	}
	for _, mod := range modules {
		for _, v := range mod.Vulns {
			if !listed[v.ID] {
				return false, fmt.Errorf("%w: %s.json names %s, which %s.json does not list", fault.ErrBadUpstream, modulesEndpoint, v.ID, vulnsEndpoint)
			}
		}
	}

	if err := m.copyEntries(ctx, vulns); err != nil {
		return true, err
	}
	// The indexes, db.json last: the commit point.
	for _, f := range []struct {
		endpoint string
		data     []byte
	}{{modulesEndpoint, modulesJSON}, {vulnsEndpoint, vulnsJSON}, {dbEndpoint, dbJSON}} {
		if err := m.put(ctx, f.endpoint, f.data); err != nil {
			return true, err
		}
	}
	return true, nil
}

// storedModified returns the modified time of the mirror's index/db.json,
// or the zero time if there is none.
func (m *mirror) storedModified(ctx context.Context) (time.Time, error) {
	b, err := m.st.ReadAll(ctx, Prefix+dbEndpoint+".json")
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	var meta dbMeta
	if json.Unmarshal(b, &meta) != nil {
		return time.Time{}, nil // rewritten by this run
	}
	return meta.Modified, nil
}

// copyEntries fetches, checks and stores the entries of vulns that the
// mirror's vulns.json does not give at the same modified time.
func (m *mirror) copyEntries(ctx context.Context, vulns []vulnMeta) error {
	have := make(map[string]time.Time)
	b, err := m.st.ReadAll(ctx, Prefix+vulnsEndpoint+".json")
	switch {
	case err == nil:
		var old []vulnMeta
		if json.Unmarshal(b, &old) == nil {
			for _, v := range old {
				have[v.ID] = v.Modified
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, v := range vulns {
		if t, ok := have[v.ID]; ok && t.Equal(v.Modified) {
			continue
		}
		g.Go(func() error {
			endpoint := idDir + v.ID
			data, err := m.src.get(gctx, endpoint)
			if err != nil {
				return err
			}
			if _, err := parseEntry(data, v.ID); err != nil {
				return fmt.Errorf("%w: %w", fault.ErrBadUpstream, err)
			}
			return m.put(gctx, endpoint, data)
		})
	}
	return g.Wait()
}

// put stores data as endpoint.json.gz, then as endpoint.json.
func (m *mirror) put(ctx context.Context, endpoint string, data []byte) error {
	gz, err := gzipBytes(data)
	if err != nil {
		return err
	}
	if err := m.st.Put(ctx, Prefix+endpoint+".json.gz", bytes.NewReader(gz)); err != nil {
		return err
	}
	return m.st.Put(ctx, Prefix+endpoint+".json", bytes.NewReader(data))
}

// gzipBytes returns data gzipped, with no name or time in the header, so
// the same data always gives the same bytes.
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
