package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/vulndb"
)

// ErrRefused is wrapped by every error of Import that refuses a bundle
// (as opposed to failing to read or store it).
var ErrRefused = fault.New(fault.Verification, "bundle refused")

// ImportOptions configure Import.
type ImportOptions struct {
	// SumDBs are the checksum databases whose keys the bundle's tree
	// heads must be signed with (GOSUMDB's). A bundle carrying data of
	// another database is refused.
	SumDBs []config.SumDB
	// Private reports whether a module is not in the checksum databases
	// (GONOSUMDB, GOPRIVATE): its versions are checked by their manifest
	// hash (and the validator) only. Every other version needs a lookup.
	Private func(mod string) bool
	// Trust, if not empty, are the keys one of which must have signed
	// the manifest.
	Trust []note.Verifier
	// TempDir is where the bundle is staged ("" for the system's).
	TempDir string
	// Name is the bundle's file name, whose extension tells its
	// compression (else its first bytes do).
	Name string
}

// ImportResult counts what Import did.
type ImportResult struct {
	Versions int // module versions in the bundle
	Stored   int // objects written
	Present  int // objects already stored with the same bytes
	Head     map[string]int64
	// VulnDB is the modified time of the vulnerability database the
	// bundle brought into the store; zero if it brought none, or none
	// newer than the store's.
	VulnDB time.Time
}

// staged is one file of the bundle, staged on disk.
type staged struct {
	name string
	file string
	size int64
	sum  string
}

// refuse returns an error naming file and the reason, wrapping ErrRefused.
func refuse(file, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrRefused, file, fmt.Sprintf(format, args...))
}

// Import verifies the bundle read from r and then stores it in st. It
// stores nothing unless every check passes (see the package documentation
// and the README's Air-gapped networks for the list); the error of a refused bundle wraps
// ErrRefused and names the file and the reason. Files are staged to a
// temporary directory as they stream in: memory does not grow with their
// size. Objects already stored with the same bytes are left alone, so
// importing a bundle twice changes nothing; one stored with other bytes is
// refused.
func Import(ctx context.Context, st *store.Store, r io.Reader, opts ImportOptions) (ImportResult, error) {
	res := ImportResult{Head: map[string]int64{}}
	dir, err := os.MkdirTemp(opts.TempDir, "modvault-import-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	files, manifest, err := stage(r, dir, opts.Name)
	if err != nil {
		return res, err
	}
	if err := checkManifest(files, manifest, opts.Trust); err != nil {
		return res, err
	}
	im := &importer{ctx: ctx, st: st, opts: opts, files: files, hashes: map[string]string{}}
	heads, err := im.checkSumDBs()
	if err != nil {
		return res, err
	}
	n, err := im.checkVersions()
	if err != nil {
		return res, err
	}
	res.Versions = n
	todo, err := im.checkStored()
	if err != nil {
		return res, err
	}
	vulnFiles := 0
	for name := range files {
		if strings.HasPrefix(name, vulndb.Prefix) {
			vulnFiles++
		}
	}
	res.Present = len(files) - len(todo) - len(heads) - vulnFiles
	if res.VulnDB, err = im.importVulnDB(dir); err != nil {
		return res, err
	}
	for _, f := range todo {
		if err := im.create(f); err != nil {
			return res, err
		}
		res.Stored++
	}
	for _, h := range heads {
		res.Head[h.name] = h.tree.N
		if !h.advance {
			continue
		}
		if err := st.Put(ctx, "sumdb/"+h.name+"/latest", bytes.NewReader(h.msg)); err != nil {
			return res, err
		}
		res.Stored++
	}
	return res, nil
}

// stage reads the tar (decompressed as name says) into dir, one numbered
// file per entry (no bundle name becomes a path), checking every name, and
// returns the files by name and the manifest's bytes.
func stage(r io.Reader, dir, name string) (map[string]*staged, []byte, error) {
	dr, closeFn, err := decompressor(name, r)
	if err != nil {
		return nil, nil, refuse("bundle", "not readable: %v", err)
	}
	defer closeFn()
	tr := tar.NewReader(dr)
	files := map[string]*staged{}
	var manifest []byte
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, refuse("bundle", "truncated or corrupt after %d files: %v", i, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, nil, refuse(hdr.Name, "not a regular file")
		}
		if err := checkName(hdr.Name); err != nil {
			return nil, nil, refuse(hdr.Name, "%v", err)
		}
		if files[hdr.Name] != nil || (hdr.Name == ManifestName && manifest != nil) {
			return nil, nil, refuse(hdr.Name, "appears twice")
		}
		if hdr.Name == ManifestName {
			if manifest, err = io.ReadAll(io.LimitReader(tr, maxSmall+1)); err != nil {
				return nil, nil, refuse(hdr.Name, "truncated: %v", err)
			}
			if len(manifest) > maxSmall {
				return nil, nil, refuse(hdr.Name, "larger than %d bytes", maxSmall)
			}
			continue
		}
		f := &staged{name: hdr.Name, file: filepath.Join(dir, strconv.Itoa(i))}
		out, err := os.Create(f.file)
		if err != nil {
			return nil, nil, err
		}
		h := sha256.New()
		f.size, err = io.Copy(io.MultiWriter(out, h), tr)
		if cerr := out.Close(); err == nil && cerr != nil {
			return nil, nil, cerr
		}
		if err != nil {
			return nil, nil, refuse(hdr.Name, "truncated: %v", err)
		}
		f.sum = hex.EncodeToString(h.Sum(nil))
		files[hdr.Name] = f
	}
	if manifest == nil {
		return nil, nil, refuse(ManifestName, "missing (a bundle ends with its manifest: truncated?)")
	}
	return files, manifest, nil
}

// checkName checks that a bundle file's name is one a bundle holds: the
// manifest, a GOPROXY file, or a checksum database's head, lookup or tile;
// never a path out of the tree.
func checkName(name string) error {
	if name == ManifestName {
		return nil
	}
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || strings.Contains(name, "\\") || strings.HasPrefix(name, "../") || name == ".." {
		return fmt.Errorf("not a clean relative path")
	}
	if strings.HasPrefix(name, vulndb.Prefix) {
		return checkVulnDBName(name)
	}
	if rest, ok := strings.CutPrefix(name, "sumdb/"); ok {
		db, file, ok := strings.Cut(rest, "/")
		if !ok || db == "" {
			return fmt.Errorf("not a checksum database file")
		}
		switch {
		case file == "latest":
			return nil
		case strings.HasPrefix(file, "lookup/"):
			escMod, escVer, ok := strings.Cut(strings.TrimPrefix(file, "lookup/"), "@")
			if !ok {
				return fmt.Errorf("not a lookup")
			}
			if _, err := module.UnescapePath(escMod); err != nil {
				return fmt.Errorf("not a lookup: %v", err)
			}
			if _, err := module.UnescapeVersion(escVer); err != nil {
				return fmt.Errorf("not a lookup: %v", err)
			}
			return nil
		case strings.HasPrefix(file, "tile/"):
			t, err := tlog.ParseTilePath(file)
			if err != nil || t.H != tileHeight || t.L < 0 || t.Path() != file {
				return fmt.Errorf("not a tile of height %d", tileHeight)
			}
			return nil
		}
		return fmt.Errorf("not a checksum database file")
	}
	req, err := protocol.Parse(name)
	if err != nil || req.Path() != name || (req.Kind != protocol.Info && req.Kind != protocol.Mod && req.Kind != protocol.Zip) {
		return fmt.Errorf("not a file of a module version ($module/@v/$version.{info,mod,zip})")
	}
	return nil
}

// checkManifest checks the manifest (its signature when trust is given)
// and that it lists every staged file with its size and sha256, and no
// other.
func checkManifest(files map[string]*staged, msg []byte, trust []note.Verifier) error {
	text := string(msg)
	if len(trust) > 0 {
		n, err := note.Open(msg, note.VerifierList(trust...))
		if err != nil {
			return refuse(ManifestName, "not signed by a trusted key: %v", err)
		}
		text = n.Text
	} else if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i+1]
	}
	sums, err := parseManifest(text)
	if err != nil {
		return refuse(ManifestName, "%v", err)
	}
	listed := map[string]bool{}
	for _, s := range sums {
		f := files[s.Name]
		if f == nil {
			return refuse(s.Name, "listed in the manifest but missing from the bundle")
		}
		if f.size != s.Size || f.sum != s.SHA256 {
			return refuse(s.Name, "sha256 %s (%d bytes) differs from the manifest's %s (%d bytes)", f.sum, f.size, s.SHA256, s.Size)
		}
		listed[s.Name] = true
	}
	for name := range files {
		if !listed[name] {
			return refuse(name, "not listed in the manifest")
		}
	}
	return nil
}

type importer struct {
	ctx   context.Context
	st    *store.Store
	opts  ImportOptions
	files map[string]*staged
	// hashes maps "db path version" and "db path version/go.mod" to the
	// h1 hash the lookups record.
	hashes map[string]string
}

type head struct {
	name    string
	msg     []byte
	tree    tlog.Tree
	advance bool // newer than the store's
}

func (im *importer) read(f *staged) ([]byte, error) {
	if f.size > maxSmall {
		return nil, refuse(f.name, "larger than %d bytes", maxSmall)
	}
	return os.ReadFile(f.file)
}

// checkSumDBs checks every database's head, tiles and lookups.
func (im *importer) checkSumDBs() ([]head, error) {
	dbs := map[string]bool{}
	for name := range im.files {
		if rest, ok := strings.CutPrefix(name, "sumdb/"); ok {
			db, _, _ := strings.Cut(rest, "/")
			dbs[db] = true
		}
	}
	var names []string
	for db := range dbs {
		names = append(names, db)
	}
	sort.Strings(names)
	var heads []head
	for _, name := range names {
		h, err := im.checkSumDB(name)
		if err != nil {
			return nil, err
		}
		heads = append(heads, h)
	}
	return heads, nil
}

func (im *importer) checkSumDB(name string) (head, error) {
	var key string
	for _, db := range im.opts.SumDBs {
		if db.Name == name {
			key = db.Key
		}
	}
	prefix := "sumdb/" + name + "/"
	if key == "" {
		return head{}, refuse(prefix+"latest", "checksum database %s is not configured (GOSUMDB)", name)
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return head{}, err
	}
	hf := im.files[prefix+"latest"]
	if hf == nil {
		return head{}, refuse(prefix+"latest", "missing: the bundle carries data of %s but no tree head", name)
	}
	msg, err := im.read(hf)
	if err != nil {
		return head{}, err
	}
	tree, err := openTree(msg, verifier)
	if err != nil {
		return head{}, refuse(hf.name, "%v", err)
	}
	src := im.tiles(name)
	tr := newTileReader(src)
	if _, err := tlog.TreeHash(tree.N, tlog.TileHashReader(tree, tr)); err != nil {
		return head{}, refuse(hf.name, "its tiles do not prove it: %v", err)
	}
	for fname, f := range im.files {
		rest, ok := strings.CutPrefix(fname, prefix+"lookup/")
		if !ok {
			continue
		}
		body, err := im.read(f)
		if err != nil {
			return head{}, err
		}
		id, text, treeMsg, err := tlog.ParseRecord(body)
		if err != nil {
			return head{}, refuse(fname, "not a lookup: %v", err)
		}
		lt, err := openTree(treeMsg, verifier)
		if err != nil {
			return head{}, refuse(fname, "%v", err)
		}
		if lt.N > tree.N {
			return head{}, refuse(fname, "its tree (%d records) is newer than the bundle's head (%d)", lt.N, tree.N)
		}
		if err := proveTree(tree, lt, tr); err != nil {
			return head{}, refuse(fname, "its tree is not consistent with the bundle's head: %v", err)
		}
		if err := proveRecord(tree, id, text, tr); err != nil {
			return head{}, refuse(fname, "%v", err)
		}
		escMod, escVer, _ := strings.Cut(rest, "@")
		mod, _ := module.UnescapePath(escMod)
		ver, _ := module.UnescapeVersion(escVer)
		found := false
		for line := range strings.SplitSeq(string(text), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != mod || (f[1] != ver && f[1] != ver+"/go.mod") {
				continue
			}
			im.hashes[name+" "+f[0]+" "+f[1]] = f[2]
			found = true
		}
		if !found {
			return head{}, refuse(fname, "the record is not about %s@%s", mod, ver)
		}
	}
	h := head{name: name, msg: msg, tree: tree, advance: true}
	cur, err := im.st.ReadAll(im.ctx, prefix+"latest")
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return head{}, err
	}
	ct, err := openTree(cur, verifier)
	if err != nil {
		return head{}, fmt.Errorf("the stored tree head of %s: %w", name, err)
	}
	if ct.N >= tree.N {
		h.advance = false
		err = proveTree(ct, tree, tr)
	} else {
		err = proveTree(tree, ct, tr)
	}
	if err != nil {
		return head{}, refuse(hf.name, "inconsistent with the stored tree head (%d records): %v", ct.N, err)
	}
	return h, nil
}

// tiles reads the tiles of database name from the bundle, else from the
// store.
func (im *importer) tiles(name string) tileSource {
	fromStore := storeTiles(im.ctx, im.st, name)
	prefix := "sumdb/" + name + "/"
	return func(t tlog.Tile) ([]byte, error) {
		b, err := cutTile(t, func(p string) ([]byte, error) {
			f := im.files[prefix+p]
			if f == nil {
				return nil, fs.ErrNotExist
			}
			return im.read(f)
		}, func(pre string, fn func(w int)) error {
			for fname := range im.files {
				if rest, ok := strings.CutPrefix(fname, prefix+pre); ok {
					if w, err := strconv.Atoi(rest); err == nil {
						fn(w)
					}
				}
			}
			return nil
		})
		if err == nil {
			return b, nil
		}
		b, err2 := fromStore(t)
		if err2 != nil {
			return nil, fmt.Errorf("%s%s: %v", prefix, t.Path(), err)
		}
		return b, nil
	}
}

// checkVersions checks every module version of the bundle with the
// validator of a fill and its hashes against its lookups.
func (im *importer) checkVersions() (int, error) {
	type ver struct {
		files map[protocol.Kind]*staged
	}
	vers := map[module.Version]*ver{}
	for name, f := range im.files {
		if strings.HasPrefix(name, "sumdb/") || strings.HasPrefix(name, vulndb.Prefix) {
			continue
		}
		req, _ := protocol.Parse(name) // checked by checkName
		mv := module.Version{Path: req.Module, Version: req.Version}
		if vers[mv] == nil {
			vers[mv] = &ver{files: map[protocol.Kind]*staged{}}
		}
		vers[mv].files[req.Kind] = f
	}
	for mv, v := range vers {
		if err := module.Check(mv.Path, mv.Version); err != nil {
			return 0, refuse(firstFile(v.files), "%v", err)
		}
		if f := v.files[protocol.Info]; f != nil {
			b, err := im.read(f)
			if err != nil {
				return 0, err
			}
			if _, err := modcheck.CheckInfo(mv, b); err != nil {
				return 0, refuse(f.name, "%v", err)
			}
		}
		var mod []byte
		if f := v.files[protocol.Mod]; f != nil {
			b, err := im.read(f)
			if err != nil {
				return 0, err
			}
			if err := modcheck.CheckMod(mv, b); err != nil {
				return 0, refuse(f.name, "%v", err)
			}
			mod = b
			h, err := modcheck.ModHash(b)
			if err != nil {
				return 0, refuse(f.name, "%v", err)
			}
			if err := im.checkHash(f.name, mv, mv.Version+"/go.mod", h); err != nil {
				return 0, err
			}
		}
		if f := v.files[protocol.Zip]; f != nil {
			if mod == nil {
				key, _ := protocol.Key(mv.Path, mv.Version, protocol.Mod)
				b, err := im.st.ReadAll(im.ctx, key)
				if err != nil {
					return 0, refuse(f.name, "neither the bundle nor the store has the version's .mod")
				}
				mod = b
			}
			if err := modcheck.CheckZip(mv, f.file, mod); err != nil {
				return 0, refuse(f.name, "%v", err)
			}
			h, err := modcheck.ZipHash(mv, f.file)
			if err != nil {
				return 0, refuse(f.name, "%v", err)
			}
			if err := im.checkHash(f.name, mv, mv.Version, h); err != nil {
				return 0, err
			}
		}
	}
	return len(vers), nil
}

func firstFile(files map[protocol.Kind]*staged) string {
	for _, f := range files {
		return f.name
	}
	return ""
}

// checkHash checks hash, of file (a file of mv; vers is mv.Version with
// "/go.mod" for the .mod), against the lookups of every configured
// database, from the bundle or else the store. A public version needs a
// lookup in at least one database, and every lookup must agree.
func (im *importer) checkHash(file string, mv module.Version, vers, hash string) error {
	if len(im.opts.SumDBs) == 0 || (im.opts.Private != nil && im.opts.Private(mv.Path)) {
		return nil
	}
	found := false
	for _, db := range im.opts.SumDBs {
		want, ok := im.hashes[db.Name+" "+mv.Path+" "+vers]
		if !ok {
			key, err := lookupKey(db.Name, mv)
			if err != nil {
				return refuse(file, "%v", err)
			}
			if body, err := im.st.ReadAll(im.ctx, key); err == nil {
				if _, text, _, err := tlog.ParseRecord(body); err == nil {
					prefix := mv.Path + " " + vers + " "
					for line := range strings.SplitSeq(string(text), "\n") {
						if h, ok := strings.CutPrefix(line, prefix); ok {
							want, ok = h, true
						}
					}
				}
			}
		}
		if !ok {
			continue
		}
		if want != hash {
			return refuse(file, "hash %s differs from %s in the lookup of %s in %s", hash, want, mv, db.Name)
		}
		found = true
	}
	if !found {
		return refuse(file, "%s is public but no lookup of it is in the bundle or the store (private modules need GONOSUMDB)", mv)
	}
	return nil
}

// checkStored returns the files to store: those not stored yet. A stored
// object with other bytes is refused, naming it.
func (im *importer) checkStored() ([]*staged, error) {
	var todo []*staged
	for name, f := range im.files {
		if strings.HasSuffix(name, "/latest") && strings.HasPrefix(name, "sumdb/") {
			continue // moved forward by Import, not created
		}
		if strings.HasPrefix(name, vulndb.Prefix) {
			continue // mirrored by importVulnDB
		}
		obj, err := im.st.Open(im.ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			todo = append(todo, f)
			continue
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, obj)
		obj.Close()
		if err != nil {
			return nil, err
		}
		if hex.EncodeToString(h.Sum(nil)) != f.sum {
			return nil, refuse(name, "the store already holds other bytes under this name")
		}
	}
	// Tiles and lookups first, then zips, .mods and last .infos: a
	// version is complete once its .info is there.
	rank := func(n string) int {
		switch {
		case strings.HasPrefix(n, "sumdb/"):
			return 0
		case strings.HasSuffix(n, ".zip"):
			return 1
		case strings.HasSuffix(n, ".mod"):
			return 2
		}
		return 3
	}
	sort.Slice(todo, func(i, j int) bool {
		ri, rj := rank(todo[i].name), rank(todo[j].name)
		if ri != rj {
			return ri < rj
		}
		return todo[i].name < todo[j].name
	})
	return todo, nil
}

// create stores f create-once; a concurrent writer of the same bytes is
// fine.
func (im *importer) create(f *staged) error {
	r, err := os.Open(f.file)
	if err != nil {
		return err
	}
	defer r.Close()
	err = im.st.Create(im.ctx, f.name, r)
	if errors.Is(err, fs.ErrExist) {
		return nil // checked equal above; a racing import stored the same
	}
	return err
}
