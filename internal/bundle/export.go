package bundle

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// ExportOptions select what Export writes.
type ExportOptions struct {
	// SumDBs are the checksum databases whose data travels with the
	// bundle (GOSUMDB's, with keys).
	SumDBs []config.SumDB
	// Private reports whether a module is not in the checksum databases
	// (GONOSUMDB, GOPRIVATE): its versions travel with their manifest
	// hash only.
	Private func(mod string) bool
	// Since, if not zero, selects only the versions whose .info was
	// stored after it.
	Since time.Time
	// Only, if not nil, selects only these files: for each version, the
	// kinds listed (Mod, Zip); the version's .info travels with them.
	Only map[module.Version][]protocol.Kind
	// Signer, if not nil, signs the manifest.
	Signer note.Signer
	// Progress, if not nil, gets a line per version written.
	Progress io.Writer
}

// ExportResult counts what Export wrote.
type ExportResult struct {
	Versions, Files, Lookups, Tiles int
	Bytes                           int64
	// VulnEntries is the number of entries of the vulnerability database
	// mirror in the bundle (0: the store holds no mirror).
	VulnEntries int
}

// version is one module version's stored files.
type version struct {
	mv    module.Version
	files map[protocol.Kind]store.Entry
}

// Export writes a bundle of the store st to w, compressed as name's
// extension says (see the package documentation). It streams: every file is
// copied from the store to w, never held whole in memory. A public version
// whose lookup the store lacks, or a tile the proofs need that the store
// lacks, fails the export, naming it.
//
// After a successful export the tree size of each database's head is
// remembered in the store (sumdb/$name/exported): the next export includes
// the tiles that changed since, which prove the new head consistent with
// that one on the importing side.
func Export(ctx context.Context, st *store.Store, w io.Writer, name string, opts ExportOptions) (ExportResult, error) {
	var res ExportResult
	vers, err := selectVersions(ctx, st, opts)
	if err != nil {
		return res, err
	}
	cw, err := compressor(name, w)
	if err != nil {
		return res, err
	}
	tw := tar.NewWriter(cw)
	var sums []FileSum
	add := func(fname string, size int64, r io.Reader) error {
		h := sha256.New()
		hdr := &tar.Header{Name: fname, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", fname, err)
		}
		n, err := io.Copy(tw, io.TeeReader(r, h))
		if err == nil && n != size {
			err = fmt.Errorf("%d bytes, the store said %d", n, size)
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", fname, err)
		}
		sums = append(sums, FileSum{Name: fname, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
		res.Files++
		res.Bytes += size
		return nil
	}
	addBytes := func(fname string, b []byte) error { return add(fname, int64(len(b)), strings.NewReader(string(b))) }
	for _, v := range vers {
		for _, k := range []protocol.Kind{protocol.Zip, protocol.Mod, protocol.Info} {
			e, ok := v.files[k]
			if !ok {
				continue
			}
			obj, err := st.Open(ctx, e.Key)
			if err != nil {
				return res, err
			}
			err = add(e.Key, obj.Size(), obj)
			obj.Close()
			if err != nil {
				return res, err
			}
		}
		res.Versions++
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "exported %s\n", v.mv)
		}
	}
	if res.VulnEntries, err = exportVulnDB(ctx, st, addBytes); err != nil {
		return res, err
	}
	var heads []exportedHead
	for _, db := range opts.SumDBs {
		h, err := exportSumDB(ctx, st, db, vers, opts, addBytes, &res)
		if err != nil {
			return res, err
		}
		if h.n > 0 {
			heads = append(heads, h)
		}
	}
	text := formatManifest(sums)
	manifest := []byte(text)
	if opts.Signer != nil {
		if manifest, err = note.Sign(&note.Note{Text: text}, opts.Signer); err != nil {
			return res, fmt.Errorf("signing the manifest: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Size: int64(len(manifest)), Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return res, err
	}
	if _, err := tw.Write(manifest); err != nil {
		return res, err
	}
	if err := tw.Close(); err != nil {
		return res, err
	}
	if err := cw.Close(); err != nil {
		return res, err
	}
	for _, h := range heads {
		if err := st.Put(ctx, exportedKey(h.name), strings.NewReader(strconv.FormatInt(h.n, 10)+"\n")); err != nil {
			return res, fmt.Errorf("remembering the exported tree head: %w", err)
		}
	}
	return res, nil
}

type exportedHead struct {
	name string
	n    int64
}

func exportedKey(name string) string { return "sumdb/" + name + "/exported" }

// selectVersions walks the store for the versions opts selects, in key
// order.
func selectVersions(ctx context.Context, st *store.Store, opts ExportOptions) ([]*version, error) {
	byKey := map[module.Version]*version{}
	var order []module.Version
	err := st.Walk(ctx, "", func(e store.Entry) bool {
		if strings.HasPrefix(e.Key, "sumdb/") || strings.HasPrefix(e.Key, "quarantine/") {
			return true
		}
		req, err := protocol.Parse(e.Key)
		if err != nil || (req.Kind != protocol.Info && req.Kind != protocol.Mod && req.Kind != protocol.Zip) || req.Path() != e.Key {
			return true
		}
		mv := module.Version{Path: req.Module, Version: req.Version}
		v := byKey[mv]
		if v == nil {
			v = &version{mv: mv, files: map[protocol.Kind]store.Entry{}}
			byKey[mv] = v
			order = append(order, mv)
		}
		v.files[req.Kind] = e
		return true
	})
	if err != nil {
		return nil, err
	}
	var out []*version
	for _, mv := range order {
		v := byKey[mv]
		if !opts.Since.IsZero() {
			info, ok := v.files[protocol.Info]
			if !ok || !info.ModTime.After(opts.Since) {
				continue
			}
		}
		if opts.Only != nil {
			kinds, ok := opts.Only[mv]
			if !ok {
				continue
			}
			keep := map[protocol.Kind]store.Entry{}
			if e, ok := v.files[protocol.Info]; ok {
				keep[protocol.Info] = e
			}
			for _, k := range kinds {
				e, ok := v.files[k]
				if !ok {
					return nil, fmt.Errorf("%s: the store has no %s", mv, k.Ext())
				}
				keep[k] = e
				if k == protocol.Zip { // a zip is checked against its .mod
					if e, ok := v.files[protocol.Mod]; ok {
						keep[protocol.Mod] = e
					}
				}
			}
			v.files = keep
		}
		out = append(out, v)
	}
	if opts.Only != nil {
		for mv := range opts.Only {
			if byKey[mv] == nil {
				return nil, fmt.Errorf("%s: not in the store", mv)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].mv.Path != out[j].mv.Path {
			return out[i].mv.Path < out[j].mv.Path
		}
		return out[i].mv.Version < out[j].mv.Version
	})
	return out, nil
}

// exportSumDB writes the lookups of vers' public versions in db, the tiles
// that prove them against the store's head, and the head.
func exportSumDB(ctx context.Context, st *store.Store, db config.SumDB, vers []*version, opts ExportOptions,
	addBytes func(string, []byte) error, res *ExportResult) (exportedHead, error) {
	verifier, err := note.NewVerifier(db.Key)
	if err != nil {
		return exportedHead{}, fmt.Errorf("checksum database key %q: %w", db.Key, err)
	}
	name := db.Name
	headMsg, err := st.ReadAll(ctx, "sumdb/"+name+"/latest")
	if errors.Is(err, fs.ErrNotExist) {
		if hasPublic(vers, opts) {
			return exportedHead{}, fmt.Errorf("the store has no verified tree head of %s: run modvault serve connected to the checksum database first", name)
		}
		return exportedHead{}, nil
	}
	if err != nil {
		return exportedHead{}, err
	}
	head, err := openTree(headMsg, verifier)
	if err != nil {
		return exportedHead{}, fmt.Errorf("the store's tree head of %s: %w", name, err)
	}
	src := storeTiles(ctx, st, name)
	main := newTileReader(src)
	if _, err := tlog.TreeHash(head.N, tlog.TileHashReader(head, main)); err != nil {
		return exportedHead{}, fmt.Errorf("the tiles of the tree head of %s: %w", name, err)
	}
	older := map[int64]tlog.Tree{}
	type lookup struct {
		key  string
		body []byte
	}
	var lookups []lookup
	for _, v := range vers {
		if opts.Private != nil && opts.Private(v.mv.Path) {
			continue
		}
		key, err := lookupKey(name, v.mv)
		if err != nil {
			return exportedHead{}, err
		}
		body, err := st.ReadAll(ctx, key)
		if err != nil {
			return exportedHead{}, fmt.Errorf("%s: the store has no lookup in %s (%w); is it private (GONOSUMDB)?", v.mv, name, err)
		}
		id, text, treeMsg, err := tlog.ParseRecord(body)
		if err != nil {
			return exportedHead{}, fmt.Errorf("%s: %w", key, err)
		}
		tree, err := openTree(treeMsg, verifier)
		if err != nil {
			return exportedHead{}, fmt.Errorf("%s: %w", key, err)
		}
		if tree.N > head.N {
			return exportedHead{}, fmt.Errorf("%s: its tree (%d records) is newer than the store's head (%d): run modvault serve connected to refresh it", key, tree.N, head.N)
		}
		if err := proveRecord(head, id, text, main); err != nil {
			return exportedHead{}, fmt.Errorf("%s: %w", key, err)
		}
		// A go command whose newest tree is the lookup's proves the
		// record in it: carry the tiles of that tree too (the server
		// cuts them from the head's).
		if tree.N < head.N {
			older[tree.N] = tree
			if err := proveRecord(tree, id, text, main); err != nil {
				return exportedHead{}, fmt.Errorf("%s: %w", key, err)
			}
		}
		lookups = append(lookups, lookup{key, body})
	}
	trees := []tlog.Tree{head}
	for _, t := range older {
		trees = append(trees, t)
	}
	if b, err := st.ReadAll(ctx, exportedKey(name)); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < head.N {
			h, err := tlog.TreeHash(n, tlog.TileHashReader(head, main))
			if err != nil {
				return exportedHead{}, fmt.Errorf("the tree of %s exported last (%d records): %w", name, n, err)
			}
			trees = append(trees, tlog.Tree{N: n, Hash: h})
			// The tiles that changed since: a go command holding the
			// head exported last proves its records in this one.
			if head.N-n <= 1<<20 {
				for l := 0; (head.N >> (tileHeight * l)) > 0; l++ {
					for i := (n >> (tileHeight * l)) >> tileHeight; i<<tileHeight < head.N>>(tileHeight*l); i++ {
						main.used[pos{l, i}] = true
					}
				}
			}
		}
	}
	// Every pair of trees a go command may hold is proved consistent by
	// the newer one's tiles.
	for _, a := range trees {
		for _, b := range trees {
			if b.N < a.N {
				if err := proveTree(a, b, main); err != nil {
					return exportedHead{}, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	for _, l := range lookups {
		if err := addBytes(l.key, l.body); err != nil {
			return exportedHead{}, err
		}
		res.Lookups++
	}
	for _, p := range sortedPositions(main.used) {
		t := tileOf(head.N, p)
		b, err := src(t)
		if err != nil {
			return exportedHead{}, err
		}
		if err := addBytes("sumdb/"+name+"/"+t.Path(), b); err != nil {
			return exportedHead{}, err
		}
		res.Tiles++
	}
	if err := addBytes("sumdb/"+name+"/latest", headMsg); err != nil {
		return exportedHead{}, err
	}
	return exportedHead{name: name, n: head.N}, nil
}

func hasPublic(vers []*version, opts ExportOptions) bool {
	for _, v := range vers {
		if opts.Private == nil || !opts.Private(v.mv.Path) {
			return true
		}
	}
	return false
}

// lookupKey is the store key (and bundle name) of mv's lookup in the
// database name.
func lookupKey(name string, mv module.Version) (string, error) {
	escMod, err := module.EscapePath(mv.Path)
	if err != nil {
		return "", err
	}
	escVer, err := module.EscapeVersion(mv.Version)
	if err != nil {
		return "", err
	}
	return "sumdb/" + name + "/lookup/" + escMod + "@" + escVer, nil
}

// openTree checks msg's signature by verifier and returns its tree.
func openTree(msg []byte, verifier note.Verifier) (tlog.Tree, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("tree head not signed by %s: %v", verifier.Name(), err)
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("tree head: %v", err)
	}
	return t, nil
}

// storeTiles reads the tiles of database name from the store: the tile
// itself, or the first hashes of the full tile or a wider partial tile of
// its position.
func storeTiles(ctx context.Context, st *store.Store, name string) tileSource {
	return func(t tlog.Tile) ([]byte, error) {
		return cutTile(t, func(p string) ([]byte, error) {
			return st.ReadAll(ctx, "sumdb/"+name+"/"+p)
		}, func(prefix string, fn func(w int)) error {
			full := "sumdb/" + name + "/" + prefix
			return st.List(ctx, full, func(e store.Entry) bool {
				if w, err := strconv.Atoi(strings.TrimPrefix(e.Key, full)); err == nil {
					fn(w)
				}
				return true
			})
		})
	}
}

// cutTile returns tile t read by read (a tile path), or cut from the full
// tile or the narrowest wider partial tile (listed by list under the full
// tile's path + ".p/").
func cutTile(t tlog.Tile, read func(path string) ([]byte, error), list func(prefix string, fn func(w int)) error) ([]byte, error) {
	want := t.W * tlog.HashSize
	if b, err := read(t.Path()); err == nil && len(b) == want {
		return b, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	full := t
	full.W = 1 << t.H
	if b, err := read(full.Path()); err == nil && len(b) >= want {
		return b[:want], nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	best := 0
	err := list(full.Path()+".p/", func(w int) {
		if w > t.W && (best == 0 || w < best) {
			best = w
		}
	})
	if err != nil {
		return nil, err
	}
	if best > 0 {
		wide := t
		wide.W = best
		if b, err := read(wide.Path()); err == nil && len(b) >= want {
			return b[:want], nil
		}
	}
	return nil, fmt.Errorf("tile %s is missing", t.Path())
}
