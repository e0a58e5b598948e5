// Package modcheck holds every check a module version must pass before
// modvault stores it, and again whenever it is re-checked: a fill from the
// upstream (internal/vault), `modvault verify` (internal/audit) and an
// import all call these functions, so a version one of them admits the
// others admit too.
//
// A version is valid when
//   - its .info is JSON naming the version ([CheckInfo]);
//   - its .mod declares the module's path ([CheckMod]);
//   - its .zip, if there is one, is a module zip of the version whose every
//     file reads back with its declared size and CRC-32, and whose go.mod
//     is the .mod ([CheckZip]);
//   - its hashes ([ModHash], [ZipHash]) are the ones a checksum database or
//     go.sum line recorded, where there is such a record (the caller
//     compares them).
//
// The functions take bytes and files, never a store: callers read the
// content from wherever it is. Every error about content that fails a
// check is an [*Error], which matches fault.ErrBadUpstream; other errors
// (a file that cannot be opened) are the caller's own failures.
package modcheck

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/protocol"
)

// Error says that content failed a check: it must not be stored (or, once
// stored, must be fetched again). It matches fault.ErrBadUpstream.
type Error struct {
	Version module.Version // the version checked; Version.Version is "" for a query's .info
	Msg     string         // what is wrong, without the version
}

func (e *Error) Error() string { return e.Version.String() + ": " + e.Msg }

// Is makes errors.Is(err, fault.ErrBadUpstream) report invalid content.
func (e *Error) Is(target error) bool { return target == fault.ErrBadUpstream }

// FaultKind returns fault.BadUpstream.
func (e *Error) FaultKind() fault.Kind { return fault.BadUpstream }

func invalid(mv module.Version, format string, args ...any) error {
	return &Error{Version: mv, Msg: fmt.Sprintf(format, args...)}
}

// Info is the JSON document of a .info file.
type Info struct {
	Version string
	Time    time.Time `json:",omitzero"`
}

// ParseInfo checks that body is a .info document of module mod: valid JSON
// naming a canonical version of mod (under the go command's major-version
// rules). It suits the answer to a query (@latest, a branch name), whose
// version is not known in advance.
//
// A pseudo-version's Time is not checked against the time in the version:
// real upstreams answer with times seconds apart from it, and the go command
// accepts them.
func ParseInfo(mod string, body []byte) (Info, error) {
	return parseInfo(module.Version{Path: mod}, body)
}

// CheckInfo checks that body is the .info of mv: [ParseInfo], and the
// version it names is mv.Version.
func CheckInfo(mv module.Version, body []byte) (Info, error) {
	info, err := parseInfo(mv, body)
	if err != nil {
		return Info{}, err
	}
	if info.Version != mv.Version {
		return Info{}, invalid(mv, ".info names version %s instead", info.Version)
	}
	return info, nil
}

// parseInfo is ParseInfo, with errors about mv.
func parseInfo(mv module.Version, body []byte) (Info, error) {
	var info Info
	if err := json.Unmarshal(body, &info); err != nil {
		return Info{}, invalid(mv, ".info is not valid JSON: %v", err)
	}
	if err := protocol.CheckVersion(mv.Path, info.Version); err != nil || module.CanonicalVersion(info.Version) != info.Version {
		return Info{}, invalid(mv, ".info names version %q, which is not a canonical version of the module", info.Version)
	}
	return info, nil
}

// CheckMod checks that mod, the .mod of mv, declares the module path
// mv.Path.
func CheckMod(mv module.Version, mod []byte) error {
	if got := modfile.ModulePath(mod); got != mv.Path {
		return invalid(mv, ".mod declares module path %q, want %q", got, mv.Path)
	}
	return nil
}

// CheckZip checks that the file zipFile is a valid zip of mv whose go.mod
// is mod, the version's .mod: its structure with golang.org/x/mod/zip's
// CheckZip (names, sizes, and what the go command refuses to extract), then
// its contents with [CheckZipContents].
func CheckZip(mv module.Version, zipFile string, mod []byte) error {
	_, err := checkZipFile(mv, zipFile, mod, false)
	return err
}

// CheckZipHash is [CheckZip] and [ZipHash] in one pass over the zip's
// contents: it checks the zip as CheckZip does and returns its "h1:" hash,
// reading and decompressing every file once (a large zip's files on
// several cores).
func CheckZipHash(mv module.Version, zipFile string, mod []byte) (string, error) {
	return checkZipFile(mv, zipFile, mod, true)
}

// checkZipFile is CheckZip, and also returns the zip's hash if hash is set.
func checkZipFile(mv module.Version, zipFile string, mod []byte, hash bool) (string, error) {
	f, err := os.Open(zipFile)
	if err != nil {
		return "", fmt.Errorf("checking the zip of %s: %w", mv, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("checking the zip of %s: %w", mv, err)
	}
	if _, err := modzip.CheckZip(mv, zipFile); err != nil {
		return "", zipError(mv, "checking", err)
	}
	return checkContents(mv, f, fi.Size(), mod, hash)
}

// zipError returns err about the zip of mv: the caller's own failure if it
// is one of the file system (the file cannot be read), else a content
// error.
func zipError(mv module.Version, doing string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s the zip of %s: %w", doing, mv, err)
	}
	return invalid(mv, ".zip is not a valid module zip: %v", err)
}

// CheckZipContents reads every file of the zip of mv in r (size bytes
// long), which modzip.CheckZip does not (it looks only at the zip's
// directory), so that archive/zip checks each file's size and CRC-32. It
// also checks that the zip's go.mod (or, without one, the go.mod the go
// command synthesizes, "module <path>") is mod, the version's .mod, so that
// a zip fetched after its tag moved cannot pair with the .mod of the old
// commit. The .mod of an +incompatible version is not compared: it is
// synthesized whatever the zip holds.
func CheckZipContents(mv module.Version, r io.ReaderAt, size int64, mod []byte) error {
	_, err := checkContents(mv, r, size, mod, false)
	return err
}

// parallelUnzip is the total uncompressed size from which a zip's files
// are read by several goroutines.
const parallelUnzip = 4 << 20

// checkContents is CheckZipContents, and also returns the zip's "h1:" hash
// (dirhash.Hash1 over its files, as dirhash.HashZip computes it) if hash is
// set. Large zips are read by up to four goroutines (no more than
// GOMAXPROCS), each reading whole files.
func checkContents(mv module.Version, r io.ReaderAt, size int64, mod []byte, hash bool) (string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return "", invalid(mv, ".zip: %v", err)
	}
	goModName := mv.Path + "@" + mv.Version + "/go.mod"
	var total uint64
	goMod := -1 // the index of go.mod (the last one, should there be more)
	for i, zf := range zr.File {
		total += zf.UncompressedSize64
		if zf.Name == goModName {
			goMod = i
		}
	}
	workers := 1
	if total >= parallelUnzip {
		workers = min(runtime.GOMAXPROCS(0), 4, len(zr.File))
	}
	sums := make([][sha256.Size]byte, len(zr.File))
	errs := make([]error, len(zr.File))
	var zipMod bytes.Buffer // written by the goroutine that reads go.mod
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			h := sha256.New()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(zr.File) {
					return
				}
				zf := zr.File[i]
				var w io.Writer = io.Discard
				if hash {
					h.Reset()
					w = h
				}
				if i == goMod {
					// modzip.CheckZip has bounded go.mod's size, and
					// archive/zip fails on more data than the directory
					// declares.
					w = io.MultiWriter(w, &zipMod)
				}
				if err := readFile(zf, w, buf); err != nil {
					errs[i] = err
					failed.Store(true)
					return
				}
				if hash {
					h.Sum(sums[i][:0])
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return "", invalid(mv, ".zip: %s: %v", zr.File[i].Name, err)
		}
	}
	if !strings.HasSuffix(mv.Version, "+incompatible") {
		hasGoMod := goMod >= 0
		if !hasGoMod {
			// As cmd/go's modfetch.LegacyGoMod.
			fmt.Fprintf(&zipMod, "module %s\n", modfile.AutoQuote(mv.Path))
		}
		if !bytes.Equal(zipMod.Bytes(), mod) {
			if !hasGoMod {
				return "", invalid(mv, "the zip has no go.mod, and the .mod is not the synthesized one (did the content change?)")
			}
			return "", invalid(mv, "the zip's go.mod differs from the .mod (did the content change?)")
		}
	}
	if !hash {
		return "", nil
	}
	return hash1(mv, zr.File, sums)
}

// readFile copies the contents of zf to w with buf, checking its size and
// CRC-32.
func readFile(zf *zip.File, w io.Writer, buf []byte) error {
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.CopyBuffer(w, rc, buf)
	return err
}

// hash1 returns dirhash.Hash1 of files, whose contents' SHA-256 sums are
// sums (by index).
func hash1(mv module.Version, files []*zip.File, sums [][sha256.Size]byte) (string, error) {
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
		if strings.Contains(files[i].Name, "\n") {
			return "", invalid(mv, ".zip: file names with newlines cannot be hashed")
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(files[a].Name, files[b].Name) })
	summary := sha256.New()
	for _, i := range order {
		fmt.Fprintf(summary, "%x  %s\n", sums[i], files[i].Name)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(summary.Sum(nil)), nil
}

// ModHash returns the "h1:" hash of a .mod, as a checksum database and
// go.sum record it for "<version>/go.mod".
func ModHash(mod []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	})
}

// ZipHash returns the "h1:" hash of the zip of mv in the file zipFile, as
// a checksum database and go.sum record it for the version.
func ZipHash(mv module.Version, zipFile string) (string, error) {
	h, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		return "", zipError(mv, "hashing", err)
	}
	return h, nil
}
