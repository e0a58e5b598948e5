package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

// The vulnerability database mirror travels in a bundle as the plain
// .json files of its v1 layout under "vulndb/" (internal/vulndb): the
// indexes and every entry that index/vulns.json lists. The importing side
// mirrors them into its store as from any other source (vulndb.Mirror:
// entries checked and written first, index/db.json last, .json.gz made),
// unless its own mirror is as new.

// vulnDBIndexes are the index files of the mirror, db.json first.
var vulnDBIndexes = []string{"index/db.json", "index/vulns.json", "index/modules.json"}

// exportVulnDB adds the store's vulnerability database mirror to a bundle
// with addBytes, and returns the number of entries added; none if the
// store holds no mirror. The indexes are read first, so every entry they
// list is in the bundle (entries are written before the indexes that name
// them).
func exportVulnDB(ctx context.Context, st *store.Store, addBytes func(name string, b []byte) error) (int, error) {
	indexes := map[string][]byte{}
	for _, name := range vulnDBIndexes {
		b, err := st.ReadAll(ctx, vulndb.Prefix+name)
		if errors.Is(err, fs.ErrNotExist) && name == vulnDBIndexes[0] {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("exporting the vulnerability database: %w", err)
		}
		indexes[name] = b
	}
	var vulns []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(indexes["index/vulns.json"], &vulns); err != nil {
		return 0, fmt.Errorf("exporting the vulnerability database: index/vulns.json: %w", err)
	}
	for _, v := range vulns {
		name := vulndb.Prefix + "ID/" + v.ID + ".json"
		if _, _, ok := vulndb.ParsePath("/" + name); !ok {
			return 0, fmt.Errorf("exporting the vulnerability database: index/vulns.json lists %q", v.ID)
		}
		b, err := st.ReadAll(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("exporting the vulnerability database: %w", err)
		}
		if err := addBytes(name, b); err != nil {
			return 0, err
		}
	}
	for _, name := range []string{"index/modules.json", "index/vulns.json", "index/db.json"} {
		if err := addBytes(vulndb.Prefix+name, indexes[name]); err != nil {
			return 0, err
		}
	}
	return len(vulns), nil
}

// checkVulnDBName checks the name of a vulnerability database file of a
// bundle: a plain .json file of the v1 layout.
func checkVulnDBName(name string) error {
	if _, gz, ok := vulndb.ParsePath("/" + name); !ok || gz {
		return fmt.Errorf("not a file of the vulnerability database (vulndb/index/*.json or vulndb/ID/*.json)")
	}
	return nil
}

// importVulnDB mirrors the bundle's vulnerability database files (staged
// under dir) into the store, unless the store's mirror is as new as the
// bundle's, and returns the bundle's modified time if it did. A database
// that fails the mirror's checks refuses the bundle; its entries checked
// before the failure may be left in the store, listed by no index.
func (im *importer) importVulnDB(dir string) (time.Time, error) {
	var staged []*staged
	for name, f := range im.files {
		if strings.HasPrefix(name, vulndb.Prefix) {
			staged = append(staged, f)
		}
	}
	if len(staged) == 0 {
		return time.Time{}, nil
	}
	db := im.files[vulndb.Prefix+"index/db.json"]
	if db == nil {
		return time.Time{}, refuse(vulndb.Prefix+"index/db.json", "missing: the bundle has vulnerability database files without their index")
	}
	theirs, err := im.vulnModified(db)
	if err != nil {
		return time.Time{}, err
	}
	if b, err := im.st.ReadAll(im.ctx, vulndb.Prefix+"index/db.json"); err == nil {
		var ours struct {
			Modified time.Time `json:"modified"`
		}
		if json.Unmarshal(b, &ours) == nil && !ours.Modified.Before(theirs) {
			return time.Time{}, nil
		}
	}
	root := filepath.Join(dir, "vulndb-tree")
	for _, f := range staged {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(f.name, vulndb.Prefix)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return time.Time{}, err
		}
		if err := os.Rename(f.file, p); err != nil {
			return time.Time{}, err
		}
	}
	src := (&url.URL{Scheme: "file", Path: filepath.ToSlash(root)}).String()
	if !strings.HasPrefix(filepath.ToSlash(root), "/") {
		src = (&url.URL{Scheme: "file", Path: "/" + filepath.ToSlash(root)}).String() // Windows
	}
	if _, err := vulndb.Mirror(im.ctx, src, im.st); err != nil {
		switch fault.Of(err) {
		case fault.BadUpstream, fault.TooLarge, fault.NotFound:
			return time.Time{}, refuse(vulndb.Prefix, "%v", strings.ReplaceAll(err.Error(), src, "the bundle"))
		}
		return time.Time{}, err
	}
	return theirs, nil
}

// vulnModified returns the modified time of the bundle's index/db.json.
func (im *importer) vulnModified(f *staged) (time.Time, error) {
	b, err := im.read(f)
	if err != nil {
		return time.Time{}, err
	}
	var meta struct {
		Modified time.Time `json:"modified"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Modified.IsZero() {
		return time.Time{}, refuse(f.name, "no modified time")
	}
	return meta.Modified, nil
}
