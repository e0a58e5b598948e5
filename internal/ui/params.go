package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/fault"
)

// errNoParams is the error of a page that takes no parameters but got
// some.
var errNoParams = errorString("this page takes no parameters")

// errorString is an error that is its text.
type errorString string

func (e errorString) Error() string { return string(e) }

// Page sizes of the listings.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// principal returns who made r, as access control names them; "" if
// anonymous or without access control.
func principal(r *http.Request) string { return auth.Principal(r.Context()) }

// isInvalid reports whether err is a bad cursor (fault.ErrInvalid).
func isInvalid(err error) bool { return errors.Is(err, fault.ErrInvalid) }

// parseLimit parses the limit parameter: DefaultLimit if empty, else an
// integer from 1 to MaxLimit.
func parseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("limit must be a number from 1 to %d", MaxLimit)
	}
	return n, nil
}

// timeLayouts are the forms a time parameter may take: a day, a minute
// (as a browser's datetime-local field sends it) and RFC 3339. Times
// without a zone are UTC.
var timeLayouts = []string{time.DateOnly, "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339}

// parseTime parses the time parameter name: zero if empty.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s must be a day (2006-01-02) or a time (2006-01-02T15:04, or RFC 3339 such as 2006-01-02T15:04:05Z)", name)
}

// parseModule checks a plain (not case-encoded) module path.
func parseModule(what, path string) error {
	if err := module.CheckPath(path); err != nil {
		var pe *module.InvalidPathError
		if errors.As(err, &pe) && pe.Err != nil {
			err = pe.Err
		}
		return fmt.Errorf("%s %q is not a module path: %v", what, path, err)
	}
	return nil
}

// parseModuleVersion parses "<module>@<version>": a plain module path and
// a canonical version of it.
func parseModuleVersion(s string) (module.Version, error) {
	path, version, _ := strings.Cut(s, "@")
	if err := parseModule("the module path", path); err != nil {
		return module.Version{}, err
	}
	if module.Check(path, version) != nil || module.CanonicalVersion(version) != version {
		return module.Version{}, fmt.Errorf("%q is not a canonical version of %s (such as v1.2.3)", version, path)
	}
	return module.Version{Path: path, Version: version}, nil
}

// moduleURL returns the URL path of a module's page.
func moduleURL(path string) string { return Prefix + path }

// versionURL returns the URL path of a version's page.
func versionURL(path, version string) string { return Prefix + path + "@" + version }

// queryURL returns path with the query of the non-empty pairs of kv
// (name, value, name, value, …), in that order.
func queryURL(path string, kv ...string) string {
	var b strings.Builder
	b.WriteString(path)
	sep := "?"
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		b.WriteString(sep)
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
		sep = "&"
	}
	return b.String()
}

// formatBytes returns n bytes in a unit a person reads at a glance.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// formatTime returns t in UTC to the second, or "—" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
