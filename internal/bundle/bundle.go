// Package bundle writes and reads modvault bundles: tar files that carry
// module versions and the checksum-database proofs for them across an air
// gap.
//
// A bundle holds, in this order: the GOPROXY tree
// ("$module/@v/$version.{info,mod,zip}", case-encoded as in a proxy URL),
// the checksum-database data under "sumdb/$name/" (the lookup of every
// exported public version, the tiles that prove each lookup against one
// signed tree head, and that head as "sumdb/$name/latest"), the mirror of
// the vulnerability database if the store holds one ("vulndb/", see
// vulndb.go), and last the manifest ("manifest"): the sha256 and size of every other file, as the
// text of a note (golang.org/x/mod/sumdb/note), signed when the exporter was
// given a key.
//
// A name ending in ".tar.zst" is compressed with zstd, ".tar.gz" with gzip;
// anything else is a plain tar.
package bundle

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/note"
)

// ManifestName is the name of the manifest in a bundle.
const ManifestName = "manifest"

// manifestHeader is the first line of a manifest.
const manifestHeader = "modvault bundle 1"

// tileHeight is the height of the checksum databases' tiles.
const tileHeight = 8

// maxSmall bounds the files an import reads into memory (a .info, .mod,
// lookup, tile, head or the manifest).
const maxSmall = 16 << 20

// FileSum is one manifest line: a file of the bundle, its size and sha256
// (hex).
type FileSum struct {
	Name   string
	Size   int64
	SHA256 string
}

// formatManifest returns the manifest text of files.
func formatManifest(files []FileSum) string {
	var b strings.Builder
	b.WriteString(manifestHeader + "\n")
	for _, f := range files {
		fmt.Fprintf(&b, "%s %d %s\n", f.SHA256, f.Size, f.Name)
	}
	return b.String()
}

// parseManifest parses the text of a manifest.
func parseManifest(text string) ([]FileSum, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() || sc.Text() != manifestHeader {
		return nil, fmt.Errorf("manifest: the first line is not %q", manifestHeader)
	}
	var files []FileSum
	seen := map[string]bool{}
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) != 3 || len(f[0]) != 64 {
			return nil, fmt.Errorf("manifest: malformed line %q", sc.Text())
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("manifest: malformed size in %q", sc.Text())
		}
		if seen[f[2]] {
			return nil, fmt.Errorf("manifest: %s is listed twice", f[2])
		}
		seen[f[2]] = true
		files = append(files, FileSum{SHA256: f[0], Size: size, Name: f[2]})
	}
	return files, sc.Err()
}

// GenerateKey returns a new note signing key and its verifier key for name.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// compressor wraps w by the bundle name's extension.
func compressor(name string, w io.Writer) (io.WriteCloser, error) {
	switch {
	case strings.HasSuffix(name, ".tar.zst"):
		return zstd.NewWriter(w)
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return gzip.NewWriter(w), nil
	}
	return nopCloser{w}, nil
}

// decompressor reads r as the bundle name's extension says, or, when the
// name says nothing, by its first bytes.
func decompressor(name string, r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case strings.HasSuffix(name, ".tar.zst") || bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	case strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz") || bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		g, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	}
	return br, func() {}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
