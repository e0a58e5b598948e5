package bundle

import (
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// tileSource returns the data of tile t (a tile of some tree), possibly cut
// from a stored wider tile of the same position, which holds the same
// hashes first. A missing tile is an error naming it.
type tileSource func(t tlog.Tile) ([]byte, error)

// pos is a tile's position, whatever its width.
type pos struct {
	L int
	N int64
}

// tileReader is a tlog.TileReader over a tileSource that records the
// positions it was asked for.
type tileReader struct {
	src  tileSource
	used map[pos]bool
}

func newTileReader(src tileSource) *tileReader {
	return &tileReader{src: src, used: map[pos]bool{}}
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.src(t)
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d", t.Path(), len(b), t.W*tlog.HashSize)
		}
		r.used[pos{t.L, t.N}] = true
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// tileOf returns the tile at p of the tree of n records.
func tileOf(n int64, p pos) tlog.Tile {
	w := (n >> (tileHeight * p.L)) - p.N<<tileHeight
	if w > 1<<tileHeight {
		w = 1 << tileHeight
	}
	return tlog.Tile{H: tileHeight, L: p.L, N: p.N, W: int(w)}
}

// sortedPositions returns the positions of used, in order.
func sortedPositions(used map[pos]bool) []pos {
	var ps []pos
	for p := range used {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].L != ps[j].L {
			return ps[i].L < ps[j].L
		}
		return ps[i].N < ps[j].N
	})
	return ps
}

// proveRecord checks that the record id with text is in the tree, reading
// hashes through r (whose tiles tlog authenticates against the tree).
func proveRecord(tree tlog.Tree, id int64, text []byte, r tlog.TileReader) error {
	if id < 0 || id >= tree.N {
		return fmt.Errorf("record %d is not in the tree of %d records", id, tree.N)
	}
	thr := tlog.TileHashReader(tree, r)
	proof, err := tlog.ProveRecord(tree.N, id, thr)
	if err != nil {
		return fmt.Errorf("proving record %d in the tree of %d records: %v", id, tree.N, err)
	}
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, id, tlog.RecordHash(text)); err != nil {
		return fmt.Errorf("record %d is not the one in the tree of %d records: %v", id, tree.N, err)
	}
	return nil
}

// proveTree checks that older is a prefix of newer (older.N <= newer.N),
// reading tiles of newer through r.
func proveTree(newer, older tlog.Tree, r tlog.TileReader) error {
	if older.N == newer.N {
		if older.Hash != newer.Hash {
			return fmt.Errorf("two trees of %d records with different hashes", older.N)
		}
		return nil
	}
	if older.N == 0 {
		return nil
	}
	thr := tlog.TileHashReader(newer, r)
	proof, err := tlog.ProveTree(newer.N, older.N, thr)
	if err != nil {
		return fmt.Errorf("proving the tree of %d records in the tree of %d: %v", older.N, newer.N, err)
	}
	if err := tlog.CheckTree(proof, newer.N, newer.Hash, older.N, older.Hash); err != nil {
		return fmt.Errorf("the tree of %d records is not a prefix of the tree of %d: %v", older.N, newer.N, err)
	}
	return nil
}
