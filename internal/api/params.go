package api

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/protocol"
)

// Page sizes of the JSON API's listings.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// results are the values the events' result parameter accepts.
var results = []string{index.ResultHit, index.ResultFilled, index.ResultNotFound, index.ResultDenied, index.ResultWarned, index.ResultReport, index.ResultError}

// parseLimit parses a limit parameter of the JSON API: DefaultLimit if
// empty, else an integer from 1 to MaxLimit (unlike /index and /catalog,
// a larger one is refused rather than lowered, so a client never mistakes
// a short page for the end).
func parseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("limit must be an integer from 1 to %d", MaxLimit)
	}
	return n, nil
}

// parseTime parses the time parameter name: zero if empty, else RFC 3339.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time such as 2006-01-02T15:04:05Z", name)
	}
	return t, nil
}

// parseModule checks a plain (not case-encoded) module path, named by
// what (a parameter, or "module path" for one in the URL's path).
func parseModule(what, path string) (string, error) {
	if err := module.CheckPath(path); err != nil {
		return "", fmt.Errorf("%s %q is not a module path: %w", what, path, unwrapPath(err))
	}
	return path, nil
}

// parseModuleVersion parses "<module>@<version>", a plain module path and a
// canonical version of it.
func parseModuleVersion(s string) (module.Version, error) {
	path, version, ok := strings.Cut(s, "@")
	if !ok {
		return module.Version{}, errors.New("the path must end in <module>@<version>")
	}
	if _, err := parseModule("module path", path); err != nil {
		return module.Version{}, err
	}
	if err := protocol.CheckVersion(path, version); err != nil || module.CanonicalVersion(version) != version {
		return module.Version{}, fmt.Errorf("version %q is not a canonical version of %s (such as v1.2.3)", version, path)
	}
	return module.Version{Path: path, Version: version}, nil
}

// parseResult checks the result parameter of the events.
func parseResult(s string) (string, error) {
	if s != "" && !slices.Contains(results, s) {
		return "", fmt.Errorf("result must be one of %s", strings.Join(results, ", "))
	}
	return s, nil
}

// unwrapPath returns the reason of a module.CheckPath error, without the
// path it repeats.
func unwrapPath(err error) error {
	var me *module.InvalidPathError
	if errors.As(err, &me) && me.Err != nil {
		return me.Err
	}
	return err
}
