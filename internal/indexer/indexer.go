// Package indexer keeps the metadata index (package index) in step with the
// store: it records what a fill stores (the vault's Stored hook), finds
// stored versions the index lacks at start (Reconcile), and rebuilds the
// index from a walk of the store (Reindex). The store is the truth: a
// version is read back from its stored objects, never from memory alone.
package indexer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// Config says how stored versions are described in the index.
type Config struct {
	// SumDBs are the names of the checksum databases whose stored lookups
	// prove a version's hashes, in the order they are tried.
	SumDBs []string
	// NoVerify is the GONOSUMDB-style list of private module patterns.
	NoVerify string
	// TempDir holds zips while their h1: hash is computed; "" means the
	// system's.
	TempDir string
	// Licenses turns on the detection of the license files of stored zips
	// (package license), for the policy's license check: the Recorder
	// detects them after a fill stores a zip, before Stored returns;
	// Reindex and Reconcile detect them for the zips whose licenses the
	// index lacks. Off, nothing builds licensecheck's scanner (about 80 MB
	// of heap).
	Licenses bool
	// Log receives the failures of license detection in Reindex and
	// Reconcile; nil means slog.Default().
	Log *slog.Logger
}

// private reports whether path is a private (unverified) module.
func (c Config) private(path string) bool {
	return c.NoVerify != "" && module.MatchPrefixPatterns(c.NoVerify, path)
}

// origin is the Origin of a .info, as the go command writes it for a
// version fetched from version control.
type origin struct {
	Origin *struct {
		VCS, URL, Ref, Hash string
	}
}

// source returns where the version of .info came from: direct, with the
// .info's Origin, if it has one; else upstream (from, which may be "").
func source(info []byte, from string) index.Source {
	var o origin
	if json.Unmarshal(info, &o) == nil && o.Origin != nil && (from == "" || from == "direct") {
		return index.Source{Kind: index.SourceDirect, VCS: o.Origin.VCS, URL: o.Origin.URL, Ref: o.Origin.Ref, Hash: o.Origin.Hash}
	}
	if from == "direct" {
		return index.Source{Kind: index.SourceDirect}
	}
	return index.Source{Kind: index.SourceUpstream, Upstream: from}
}

// fileOf returns the size and SHA-256 of b.
func fileOf(b []byte) index.File {
	sum := sha256.Sum256(b)
	return index.File{Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// lookup is what a stored checksum-database lookup says about a version.
type lookup struct {
	proof        *index.Proof
	modH1, zipH1 string
}

// readLookup reads the stored lookup of mv from the first database of
// c.SumDBs that has one: "sumdb/<name>/lookup/<escaped mod>@<escaped ver>",
// whose first line is the record number and whose signed tree head gives
// the tree size. It returns the zero lookup if there is none.
func (c Config) readLookup(ctx context.Context, st *store.Store, mv module.Version) lookup {
	escMod, err1 := module.EscapePath(mv.Path)
	escVer, err2 := module.EscapeVersion(mv.Version)
	if err1 != nil || err2 != nil {
		return lookup{}
	}
	for _, db := range c.SumDBs {
		b, err := st.ReadAll(ctx, "sumdb/"+db+"/lookup/"+escMod+"@"+escVer)
		if err != nil {
			continue
		}
		if l, ok := parseLookup(db, mv, b); ok {
			return l
		}
	}
	return lookup{}
}

// parseLookup parses a lookup answer: the record number, the record's
// go.sum lines, a blank line, then the signed note of the tree head
// ("go.sum database tree", the size, the hash, a blank line, signatures).
func parseLookup(db string, mv module.Version, b []byte) (lookup, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return lookup{}, false
	}
	rec, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
	if err != nil {
		return lookup{}, false
	}
	l := lookup{proof: &index.Proof{DB: db, Record: rec}}
	prefix := mv.Path + " " + mv.Version
	for sc.Scan() && sc.Text() != "" {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix+"/go.mod "); ok {
			l.modH1 = rest
		} else if rest, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
			l.zipH1 = rest
		}
	}
	if sc.Scan() && strings.HasSuffix(sc.Text(), "tree") && sc.Scan() {
		l.proof.TreeSize, _ = strconv.ParseInt(sc.Text(), 10, 64)
	}
	return l, true
}

// describe returns the index's row for a version whose .info and .mod are
// stored, from what a fill had in hand (from: the upstream entry that
// answered; modH1: the .mod's hash, "" to compute it).
func (c Config) describe(ctx context.Context, st *store.Store, mv module.Version, info, mod []byte, from, modH1 string) (index.Version, lookup, error) {
	l := c.readLookup(ctx, st, mv)
	if modH1 == "" {
		var err error
		if modH1, err = modcheck.ModHash(mod); err != nil {
			return index.Version{}, l, fmt.Errorf("hashing the .mod of %s: %w", mv, err)
		}
	}
	v := index.Version{
		Path: mv.Path, Version: mv.Version,
		Source:  source(info, from),
		Info:    fileOf(info),
		Mod:     fileOf(mod),
		ModH1:   modH1,
		Proof:   l.proof,
		Private: c.private(mv.Path),
	}
	return v, l, nil
}

// readZip reads the stored zip of mv, if there is one, and returns its
// size, SHA-256 and h1: hash (the lookup's, when it has one: the fill
// verified the zip against it; else computed from a temporary copy).
func (c Config) readZip(ctx context.Context, st *store.Store, mv module.Version, knownH1 string) (*index.File, string, error) {
	f, err := protocol.NewFile(mv, protocol.Zip)
	if err != nil {
		return nil, "", err
	}
	obj, err := st.Open(ctx, f.Key)
	if err != nil {
		return nil, "", err
	}
	defer obj.Close()
	h := sha256.New()
	var w io.Writer = h
	var tmp *os.File
	if knownH1 == "" {
		if tmp, err = os.CreateTemp(c.TempDir, "modvault-reindex-*.zip"); err != nil {
			return nil, "", err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = io.MultiWriter(h, tmp)
	}
	n, err := io.Copy(w, obj)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", f.Key, err)
	}
	h1 := knownH1
	if tmp != nil {
		if h1, err = modcheck.ZipHash(mv, tmp.Name()); err != nil {
			return nil, "", err
		}
	}
	return &index.File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, h1, nil
}

// FromStore returns the index's row for the stored version mv, read from
// the store: its .info, .mod and (if stored) zip. The source is that of
// the .info's Origin (direct) or, without one, an unknown upstream.
func (c Config) FromStore(ctx context.Context, st *store.Store, mv module.Version, withZip bool) (index.Version, error) {
	fi, err := protocol.NewFile(mv, protocol.Info)
	if err != nil {
		return index.Version{}, err
	}
	info, err := st.ReadAll(ctx, fi.Key)
	if err != nil {
		return index.Version{}, err
	}
	mod, err := st.ReadAll(ctx, fi.As(protocol.Mod).Key)
	if err != nil {
		return index.Version{}, err
	}
	v, l, err := c.describe(ctx, st, mv, info, mod, "", "")
	if err != nil {
		return index.Version{}, err
	}
	if withZip {
		if v.Zip, v.ZipH1, err = c.readZip(ctx, st, mv, l.zipH1); err != nil {
			return index.Version{}, err
		}
	}
	return v, nil
}

// isNotExist reports whether err says an object is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
