// Package protocol parses and builds the paths of the Go module proxy
// protocol (the GOPROXY protocol): $module/@v/list, $module/@latest and
// $module/@v/$version.{info,mod,zip}.
//
// Paths are handled in their case-encoded form ("!" before each lowercase
// letter that was uppercase), which is also the form used for storage keys,
// so that a store laid out with [Key] is itself a valid GOPROXY=file:// tree.
package protocol

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/fault"
)

// Kind is the kind of a module proxy request.
type Kind int

// The kinds of module proxy request.
const (
	List   Kind = iota + 1 // $module/@v/list
	Latest                 // $module/@latest
	Info                   // $module/@v/$version.info
	Mod                    // $module/@v/$version.mod
	Zip                    // $module/@v/$version.zip
)

// String returns the name of the endpoint, as used in logs and metrics.
func (k Kind) String() string {
	switch k {
	case List:
		return "list"
	case Latest:
		return "latest"
	case Info:
		return "info"
	case Mod:
		return "mod"
	case Zip:
		return "zip"
	}
	return "unknown"
}

// Ext returns the file extension of a version file kind (".info", ".mod" or
// ".zip"), or "" for the other kinds.
func (k Kind) Ext() string {
	switch k {
	case Info:
		return ".info"
	case Mod:
		return ".mod"
	case Zip:
		return ".zip"
	}
	return ""
}

// Request is a parsed module proxy request.
type Request struct {
	Kind    Kind
	Module  string // the module path, unescaped and valid (module.CheckPath)
	Version string // the version or version query, unescaped; empty for List and Latest
}

// Canonical reports whether the request names a canonical version (a
// semantic version in its canonical form, +incompatible kept), as opposed to
// a query such as "main", a commit hash or "v1.2".
func (r Request) Canonical() bool {
	return r.Version != "" && module.CanonicalVersion(r.Version) == r.Version
}

// CheckVersion reports whether version can be a version of the module mod
// under the go command's major-version rules. It is module.Check plus the
// rule module.Check leaves out: "+incompatible" marks only a major version
// v2 or higher of a module path without a major-version suffix, so
// "example.com/m@v1.0.0+incompatible" and
// "example.com/m/v2@v2.0.0+incompatible" name no version.
func CheckVersion(mod, version string) error {
	if err := module.Check(mod, version); err != nil {
		return err
	}
	if semver.Build(version) != "+incompatible" {
		return nil
	}
	var reason string
	if _, pathMajor, _ := module.SplitPathVersion(mod); pathMajor != "" {
		reason = "+incompatible suffix not allowed: module path includes a major version suffix"
	} else if m := semver.Major(version); m == "v0" || m == "v1" {
		reason = "+incompatible suffix not allowed: major version " + m + " is compatible"
	} else {
		return nil
	}
	return &module.ModuleError{Path: mod, Err: &module.InvalidVersionError{Version: version, Err: errors.New(reason)}}
}

// ErrMalformed is wrapped by every error [Parse] returns.
var ErrMalformed = errors.New("malformed module proxy path")

// Parse parses the path of a module proxy request. The path is the decoded
// URL path (as in [net/url.URL.Path]) with or without its leading slash:
// "/github.com/!azure/sdk/@v/v1.0.0.info". A "+" is never read as a space.
//
// Parse accepts only paths that name a valid module (module.CheckPath, which
// rejects "..", empty and dot-only elements and uppercase letters that are
// not case-encoded) and a version that is valid as a path element, so no
// parsed request can name a file outside a store. Whether a version suits
// the module (module.Check) is left to the caller: a mismatch is "not found",
// not a malformed request.
func Parse(path string) (Request, error) {
	p := strings.TrimPrefix(path, "/")
	var escMod, rest string
	latest := false
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		escMod, latest = m, true
	} else if i := strings.LastIndex(p, "/@v/"); i >= 0 {
		escMod, rest = p[:i], p[i+len("/@v/"):]
	} else {
		return Request{}, fmt.Errorf("%w: want $module/@v/list, $module/@latest or $module/@v/$version.{info,mod,zip}", ErrMalformed)
	}
	mod, err := module.UnescapePath(escMod)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if latest {
		return Request{Kind: Latest, Module: mod}, nil
	}
	if rest == "list" {
		return Request{Kind: List, Module: mod}, nil
	}
	var kind Kind
	var escVer string
	for _, k := range []Kind{Info, Mod, Zip} {
		if v, ok := strings.CutSuffix(rest, k.Ext()); ok {
			kind, escVer = k, v
			break
		}
	}
	if kind == 0 || escVer == "" || strings.Contains(escVer, "/") {
		return Request{}, fmt.Errorf("%w: %q is not list or $version.{info,mod,zip}", ErrMalformed, rest)
	}
	ver, err := module.UnescapeVersion(escVer)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Request{Kind: kind, Module: mod, Version: ver}, nil
}

// Path returns the case-encoded path of the request, without a leading
// slash, as it appears in a proxy URL and as a storage key. It panics if the
// request holds an invalid module path or version, which [Parse] never
// returns.
func (r Request) Path() string {
	escMod, err := module.EscapePath(r.Module)
	if err != nil {
		panic(fmt.Sprintf("protocol: invalid module path in request: %v", err))
	}
	switch r.Kind {
	case List:
		return escMod + "/@v/list"
	case Latest:
		return escMod + "/@latest"
	}
	escVer, err := module.EscapeVersion(r.Version)
	if err != nil {
		panic(fmt.Sprintf("protocol: invalid version in request: %v", err))
	}
	return escMod + "/@v/" + escVer + r.Kind.Ext()
}

// Key returns the storage key (and proxy path) of one file of a module
// version: "$escapedModule/@v/$escapedVersion$ext".
func Key(mod, version string, kind Kind) (string, error) {
	escMod, err := module.EscapePath(mod)
	if err != nil {
		return "", err
	}
	escVer, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	return escMod + "/@v/" + escVer + kind.Ext(), nil
}

// VersionsPrefix returns the storage key prefix under which the files of all
// stored versions of mod live: "$escapedModule/@v/".
func VersionsPrefix(mod string) (string, error) {
	escMod, err := module.EscapePath(mod)
	if err != nil {
		return "", err
	}
	return escMod + "/@v/", nil
}

// File names one file (.info, .mod or .zip) of a canonical module version,
// with its storage key derived once. It is what a parsed request hands to
// the vault and the vault to the store: nothing below the server re-derives
// keys from module and version strings.
type File struct {
	module.Version
	Kind Kind   // Info, Mod or Zip
	Key  string // "$escapedModule/@v/$escapedVersion$ext": the storage key and proxy path
}

// NewFile returns the file of kind of mv. mv must be a canonical version of
// its module under the go command's rules ([CheckVersion]); any other
// version names no file, and the error wraps [fault.ErrNotFound].
func NewFile(mv module.Version, kind Kind) (File, error) {
	if kind.Ext() == "" {
		return File{}, fmt.Errorf("protocol: %v is not a file kind", kind)
	}
	if err := CheckVersion(mv.Path, mv.Version); err != nil {
		return File{}, fmt.Errorf("%w: %v", fault.ErrNotFound, err)
	}
	if module.CanonicalVersion(mv.Version) != mv.Version {
		return File{}, fmt.Errorf("%w: %s: not a canonical version", fault.ErrNotFound, mv)
	}
	key, err := Key(mv.Path, mv.Version, kind)
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", fault.ErrNotFound, err)
	}
	return File{Version: mv, Kind: kind, Key: key}, nil
}

// As returns the file of another kind of the same version.
func (f File) As(kind Kind) File {
	return File{Version: f.Version, Kind: kind, Key: strings.TrimSuffix(f.Key, f.Kind.Ext()) + kind.Ext()}
}

// File returns the file a request for a canonical version names. It fails
// as [NewFile] does for a List, Latest or query request.
func (r Request) File() (File, error) {
	return NewFile(module.Version{Path: r.Module, Version: r.Version}, r.Kind)
}
