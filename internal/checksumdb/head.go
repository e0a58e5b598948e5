package checksumdb

// The verified tree head and the tiles behind it.
//
// A Verifier's head (the signed tree at sumdb/$name/latest) moves forward
// in two ways: a lookup carries a newer signed tree, which the sumdb client
// proves consistent with the head before writing it, or [Verifier.Refresh]
// reads the upstream's /latest and proves it the same way. Either way the
// head is only ever a tree signed by the database's key and consistent
// with every head before it.
//
// The go command remembers the newest head it saw anywhere
// (GOPATH/pkg/sumdb) and proves every older one against it, reading the
// tiles of its own head. So Refresh also keeps ("mirrors") every tile that
// changed between the heads it followed (sumdb/$name/mirrored records the
// tree size reached), authenticated against the newer head: a go command
// holding any head in that range finds the tiles it asks for in the store
// (exactly, or cut from a wider tile; see [Proxy.partialTile]) while the
// upstream is gone.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"

	"github.com/modvault/modvault/internal/fault"
)

// tileHeight is the height of the databases' tiles, as the sumdb client
// assumes.
const tileHeight = 8

// maxMirror bounds how far back a refresh mirrors tiles, in records (a
// level-0 tile holds 256 hashes of 32 bytes: 32 MiB of tiles). A head
// older than that, which only a modvault stopped for weeks meets, is still
// proved consistent, but the tiles in between are not fetched.
const maxMirror = 1 << 20

// mirrorBatch is how many tiles a refresh authenticates at once.
const mirrorBatch = 64

// tileFetches bounds the tile requests a refresh has in flight.
const tileFetches = 8

// Refresh reads the upstream's signed tree head (/latest), checks its
// signature by the database's key and proves it consistent with the stored
// head (the older of the two against the newer), stores the tiles that
// changed since the last refresh, and then makes the upstream's head the
// stored one if it is newer. An inconsistent head is a fork: it is reported
// like one a lookup meets ([ErrSecurity], fills stop), nothing of it is
// stored, and the stored head stays the one served. Refresh calls are
// serialized.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.refresh.Lock()
	defer v.refresh.Unlock()
	o := v.ops
	if o.forked.Load() {
		return fmt.Errorf("%w: not following %s until an operator acts (see the log)", ErrSecurity, o.name)
	}
	msg, err := o.up.GetBytes(ctx, "sumdb/"+o.name+"/latest", maxRemote)
	if err != nil {
		return fmt.Errorf("reading the latest tree head of %s: %w", o.name, err)
	}
	tree, err := o.parseHead(msg)
	if err != nil {
		return fmt.Errorf("%w: the latest tree head of %s from the upstream: %v", fault.ErrBadUpstream, o.name, err)
	}
	for {
		curMsg, err := o.store.ReadAll(ctx, o.latestKey())
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading the stored tree head of %s: %w", o.name, err)
		}
		cur, err := o.parseHead(curMsg)
		if err != nil {
			return fmt.Errorf("the stored tree head of %s: %w", o.name, err)
		}
		advance := len(curMsg) == 0 || tree.N > cur.N
		newer, newerMsg := cur, curMsg
		switch {
		case advance:
			newer, newerMsg = tree, msg
			err = o.prove(ctx, cur, curMsg, tree, msg)
		case tree != cur:
			err = o.prove(ctx, tree, msg, cur, curMsg)
		}
		if err != nil {
			return err
		}
		if err := o.mirror(ctx, cur, newer); err != nil {
			return err
		}
		if !advance {
			return nil
		}
		err = o.swapConfig(o.name+"/latest", curMsg, newerMsg)
		if !errors.Is(err, sumdb.ErrWriteConflict) {
			if err == nil {
				o.log.Info("checksum database tree head followed", "db", o.name, "from", cur.N, "to", newer.N)
			}
			return err
		}
		// A lookup moved the head meanwhile: prove against that one.
	}
}

// latestKey is the store key of the verified tree head (the sumdb client's
// configuration file $name/latest).
func (o *clientOps) latestKey() string { return "sumdb/" + o.name + "/latest" }

// mirroredKey is the store key of the tree size up to which every tile is
// stored.
func (o *clientOps) mirroredKey() string { return "sumdb/" + o.name + "/mirrored" }

// tileKey is the store key of a tile, as the sumdb client caches it.
func (o *clientOps) tileKey(t tlog.Tile) string { return "sumdb/" + o.name + "/" + t.Path() }

// parseHead returns the tree of a signed tree head, checking the signature
// by the database's key; an empty msg is the empty tree, as for the sumdb
// client.
func (o *clientOps) parseHead(msg []byte) (tlog.Tree, error) {
	if len(msg) == 0 {
		h, err := tlog.TreeHash(0, nil)
		return tlog.Tree{Hash: h}, err
	}
	verifier, err := note.NewVerifier(o.key)
	if err != nil {
		return tlog.Tree{}, err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("not signed by the key %s: %w", o.key, err)
	}
	return tlog.ParseTree([]byte(n.Text))
}

// prove checks that older is a prefix of newer, reading newer's tiles
// from the store or the upstream, and stores the tiles it read once they
// proved it. If older is not a prefix, the database forked: prove reports
// a security error, stores nothing and returns [ErrSecurity].
func (o *clientOps) prove(ctx context.Context, older tlog.Tree, olderMsg []byte, newer tlog.Tree, newerMsg []byte) error {
	r := o.newTileReader(ctx)
	h, err := tlog.TreeHash(older.N, tlog.TileHashReader(newer, r))
	if err != nil {
		return fmt.Errorf("proving tree#%d of %s in tree#%d: %w", older.N, o.name, newer.N, err)
	}
	if h != older.Hash {
		indent := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n\t") }
		o.SecurityError(fmt.Sprintf("the upstream's latest tree head is inconsistent with the stored one: tree#%d has hash %v in tree#%d\nolder:\n\t%s\nnewer:\n\t%s",
			older.N, h, newer.N, indent(olderMsg), indent(newerMsg)))
		return fmt.Errorf("%w: %s signed tree#%d and tree#%d, which are inconsistent", ErrSecurity, o.name, older.N, newer.N)
	}
	return r.commit()
}

// mirror stores every tile of tree newer that changed since the tree size
// recorded at mirroredKey, authenticated against newer's hash, and then
// records newer's size there. Without a record it starts at cur, the stored
// head (older tiles are not fetched), and never more than maxMirror records
// back. At least newer's own tiles (the right edge of the tree) are stored.
// On failure, what was stored stays and the record is unchanged, so the
// next refresh goes on from there.
func (o *clientOps) mirror(ctx context.Context, cur, newer tlog.Tree) error {
	from := cur.N
	if from == 0 {
		from = newer.N
	}
	recorded := int64(-1)
	b, err := o.store.ReadAll(ctx, o.mirroredKey())
	switch {
	case err == nil:
		if n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); perr == nil && n >= 0 {
			from, recorded = n, n
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading how far the tiles of %s are stored: %w", o.name, err)
	}
	if recorded == newer.N {
		return nil
	}
	from = min(max(from, newer.N-maxMirror), newer.N)
	if newer.N > 0 {
		if err := o.storeTiles(ctx, newer, tlog.NewTiles(tileHeight, from, newer.N)); err != nil {
			return fmt.Errorf("storing the tiles of %s up to tree#%d: %w", o.name, newer.N, err)
		}
	}
	return o.store.Put(ctx, o.mirroredKey(), strings.NewReader(strconv.FormatInt(newer.N, 10)))
}

// storeTiles stores tiles of tree, mirrorBatch at a time, each
// authenticated against tree's hash together with the tiles of tree's
// right edge, which are stored too (even for no tiles).
func (o *clientOps) storeTiles(ctx context.Context, tree tlog.Tree, tiles []tlog.Tile) error {
	for {
		n := min(mirrorBatch, len(tiles))
		indexes := make([]int64, n)
		for i, t := range tiles[:n] {
			// The last hash of t: TileHashReader reads t (at tree's
			// width) and the tiles that authenticate it.
			indexes[i] = tlog.StoredHashIndex(t.L*t.H, t.N<<t.H+int64(t.W)-1)
		}
		r := o.newTileReader(ctx)
		if _, err := tlog.TileHashReader(tree, r).ReadHashes(indexes); err != nil {
			return err
		}
		if err := r.commit(); err != nil {
			return err
		}
		if tiles = tiles[n:]; len(tiles) == 0 {
			return nil
		}
	}
}

// swapConfig replaces configuration file's content old with new in the
// store, or returns [sumdb.ErrWriteConflict] if it is no longer old.
func (o *clientOps) swapConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, err := o.ReadConfig(file)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	return o.store.Put(context.Background(), "sumdb/"+file, bytes.NewReader(new))
}

// tileReader is a [tlog.TileReader] for one proof: it reads tiles from the
// store, else from the upstream, and keeps the ones tlog authenticated
// (SaveTiles) until commit stores them.
type tileReader struct {
	ctx context.Context
	o   *clientOps

	mu     sync.Mutex
	stored map[tlog.Tile]bool // read from the store
	saved  map[tlog.Tile][]byte
}

func (o *clientOps) newTileReader(ctx context.Context) *tileReader {
	return &tileReader{ctx: ctx, o: o, stored: make(map[tlog.Tile]bool), saved: make(map[tlog.Tile][]byte)}
}

func (r *tileReader) Height() int { return tileHeight }

// ReadTiles reads tiles concurrently, at most tileFetches at a time.
func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	stored := make([]bool, len(tiles))
	g, ctx := errgroup.WithContext(r.ctx)
	g.SetLimit(tileFetches)
	for i, t := range tiles {
		g.Go(func() error {
			var err error
			data[i], stored[i], err = r.readTile(ctx, t)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		if stored[i] {
			r.stored[t] = true
		}
	}
	return data, nil
}

// readTile reads t from the store, or cuts it from its stored full tile;
// else from the upstream, or cuts it from the full tile there (a database
// may serve only the full tile once it is complete). stored says it came
// from the store.
func (r *tileReader) readTile(ctx context.Context, t tlog.Tile) (data []byte, stored bool, err error) {
	want := t.W * tlog.HashSize
	full := t
	full.W = 1 << t.H
	keys := []string{r.o.tileKey(t)}
	if full != t {
		keys = append(keys, r.o.tileKey(full))
	}
	for _, key := range keys {
		if b, err := r.o.store.ReadAll(ctx, key); err == nil && len(b) >= want {
			return b[:want], true, nil
		}
	}
	for i, key := range keys {
		b, ferr := r.o.up.GetBytes(ctx, key, maxRemote)
		if ferr == nil && len(b) >= want {
			return b[:want], false, nil
		}
		if i == 0 {
			err = ferr
			if err == nil {
				err = fmt.Errorf("%w: %d bytes, want %d", fault.ErrBadUpstream, len(b), want)
			}
		}
	}
	return nil, false, fmt.Errorf("reading %s of %s: %w", t.Path(), r.o.name, err)
}

// SaveTiles keeps the authenticated tiles that did not come from the
// store, for commit.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		if !r.stored[t] {
			r.saved[t] = data[i]
		}
	}
}

// commit stores the tiles kept by SaveTiles.
func (r *tileReader) commit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, data := range r.saved {
		if err := r.o.store.Put(r.ctx, r.o.tileKey(t), bytes.NewReader(data)); err != nil {
			return fmt.Errorf("storing %s of %s: %w", t.Path(), r.o.name, err)
		}
		r.stored[t] = true
		delete(r.saved, t)
	}
	return nil
}
