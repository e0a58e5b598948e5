package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"

	"golang.org/x/mod/module"
)

// StoredVersion describes files of a version that a fill has just
// committed to the store, for Options.Stored: the .info and .mod (Info and
// Mod set, Zip nil), or the zip (Zip set).
type StoredVersion struct {
	Version module.Version
	// From is the upstream entry that answered the .info: its URL without
	// user information, or "direct" (upstream.FromDirect).
	From string
	// Info and Mod are the stored .info and .mod; ModH1 is the .mod's
	// h1: hash.
	Info, Mod []byte
	ModH1     string
	// Zip is the stored zip's size, SHA-256 (lowercase hex) and h1: hash.
	Zip *StoredZip
	// Private is set when the module is not verified (NoVerify).
	Private bool
}

// StoredZip is the size and hashes of a stored zip.
type StoredZip struct {
	Size   int64
	SHA256 string
	H1     string
}

// stored reports sv to Options.Stored, if set.
func (v *Vault) stored(sv StoredVersion) {
	if v.opts.Stored != nil {
		sv.Private = !v.verifies(sv.Version.Path)
		v.opts.Stored(v.base, sv)
	}
}

// countingHash is a reader that hashes and counts what is read through it.
type countingHash struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newCountingHash(r io.Reader) *countingHash { return &countingHash{r: r, h: sha256.New()} }

func (c *countingHash) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (c *countingHash) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }
