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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
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
	f, err := os.Open(zipFile)
	if err != nil {
		return fmt.Errorf("checking the zip of %s: %w", mv, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking the zip of %s: %w", mv, err)
	}
	if _, err := modzip.CheckZip(mv, zipFile); err != nil {
		return zipError(mv, "checking", err)
	}
	return CheckZipContents(mv, f, fi.Size(), mod)
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
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return invalid(mv, ".zip: %v", err)
	}
	goModName := mv.Path + "@" + mv.Version + "/go.mod"
	var zipMod []byte
	hasGoMod := false
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return invalid(mv, ".zip: %s: %v", zf.Name, err)
		}
		if zf.Name == goModName {
			// modzip.CheckZip has bounded go.mod's size, and archive/zip
			// fails on more data than the directory declares.
			hasGoMod = true
			zipMod, err = io.ReadAll(rc)
		} else {
			_, err = io.Copy(io.Discard, rc)
		}
		rc.Close()
		if err != nil {
			return invalid(mv, ".zip: %s: %v", zf.Name, err)
		}
	}
	if strings.HasSuffix(mv.Version, "+incompatible") {
		return nil
	}
	if !hasGoMod {
		// As cmd/go's modfetch.LegacyGoMod.
		zipMod = fmt.Appendf(nil, "module %s\n", modfile.AutoQuote(mv.Path))
	}
	if !bytes.Equal(zipMod, mod) {
		if !hasGoMod {
			return invalid(mv, "the zip has no go.mod, and the .mod is not the synthesized one (did the content change?)")
		}
		return invalid(mv, "the zip's go.mod differs from the .mod (did the content change?)")
	}
	return nil
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
