package vulndb

import (
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// affects is the compiled form of one entry's "affected" element for one
// module: its SEMVER ranges with the "v" added back and the events sorted,
// and its enumerated versions.
type affects struct {
	ranges   [][]cevent
	versions []string // canonical, with "v"
	all      bool     // no SEMVER range and no version: every version
}

// cevent is an event with its version canonical ("v" added; "" for the
// introduced "0", which sorts before every version).
type cevent struct {
	kind    eventKind
	version string
}

type eventKind uint8

const (
	introduced eventKind = iota
	fixed
	lastAffected
	limit
)

// compileAffected compiles a's ranges. Ranges of other types than SEMVER
// are ignored; a has been checked by parseEntry.
func compileAffected(a affected) affects {
	var c affects
	for _, v := range a.Versions {
		c.versions = append(c.versions, "v"+v)
	}
	for _, r := range a.Ranges {
		if r.Type != "SEMVER" {
			continue
		}
		evs := make([]cevent, 0, len(r.Events))
		for _, e := range r.Events {
			switch {
			case e.Introduced == "0":
				evs = append(evs, cevent{introduced, ""})
			case e.Introduced != "":
				evs = append(evs, cevent{introduced, "v" + e.Introduced})
			case e.Fixed != "":
				evs = append(evs, cevent{fixed, "v" + e.Fixed})
			case e.LastAffected != "":
				evs = append(evs, cevent{lastAffected, "v" + e.LastAffected})
			case e.Limit != "":
				evs = append(evs, cevent{limit, "v" + e.Limit})
			}
		}
		// The OSV schema's evaluation sorts the events by version, the
		// introduced "0" first.
		slices.SortStableFunc(evs, func(a, b cevent) int { return compare(a.version, b.version) })
		c.ranges = append(c.ranges, evs)
	}
	// As govulncheck does (golang.org/x/vuln internal/semver Affects): with
	// no SEMVER range (and here, no enumerated version), every version is
	// affected.
	c.all = len(c.ranges) == 0 && len(c.versions) == 0
	return c
}

// compare compares canonical versions, "" (the introduced "0") first.
func compare(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	return semver.Compare(a, b)
}

// match reports whether the canonical version v is affected, and if so the
// version that fixes it (the first "fixed" event after v in the range that
// contains it, with "v"), or "" when none is known.
func (c *affects) match(v string) (ok bool, fix string) {
	if c.all || slices.Contains(c.versions, v) {
		return true, ""
	}
	for _, evs := range c.ranges {
		if inRange(evs, v) {
			return true, nextFix(evs, v)
		}
	}
	return false, ""
}

// inRange evaluates one range as the OSV schema's evaluation section says:
// walking the sorted events, an introduced event at or below v makes v
// vulnerable, a fixed event at or below v makes it not, a last_affected
// event strictly below v makes it not; and v must be below one of the
// range's limit events, if it has any.
func inRange(evs []cevent, v string) bool {
	vulnerable := false
	hasLimit, belowLimit := false, false
	for _, e := range evs {
		switch e.kind {
		case introduced:
			if compare(v, e.version) >= 0 {
				vulnerable = true
			}
		case fixed:
			if compare(v, e.version) >= 0 {
				vulnerable = false
			}
		case lastAffected:
			if compare(v, e.version) > 0 {
				vulnerable = false
			}
		case limit:
			hasLimit = true
			if compare(v, e.version) < 0 {
				belowLimit = true
			}
		}
	}
	return vulnerable && (!hasLimit || belowLimit)
}

// nextFix returns the first fixed version above v in the sorted events.
func nextFix(evs []cevent, v string) string {
	for _, e := range evs {
		if e.kind == fixed && compare(e.version, v) > 0 {
			return e.version
		}
	}
	return ""
}

// canonicalVersion returns the version to compare with the database's for
// a version of mod: the version itself for a module, and for the stdlib
// and toolchain pseudo-modules also a Go release name (go1.21.3, go1.22rc1)
// turned into its semantic version (v1.21.3, v1.22.0-rc.1). ok is false
// for an invalid version.
func canonicalVersion(mod, v string) (string, bool) {
	if (mod == StdlibModule || mod == ToolchainModule) && strings.HasPrefix(v, "go") {
		v = goReleaseSemver(v)
	}
	if !semver.IsValid(v) {
		return "", false
	}
	return v, true
}

// goReleaseSemver turns a Go release name into a semantic version, as
// golang.org/x/vuln internal/semver GoTagToSemver does: go1.21 → v1.21.0,
// go1.21.3 → v1.21.3, go1.21rc2 → v1.21.0-rc.2. It returns "" for other
// strings.
func goReleaseSemver(tag string) string {
	s := strings.TrimPrefix(tag, "go")
	pre := ""
	for _, p := range []string{"beta", "rc"} {
		if i := strings.Index(s, p); i > 0 {
			s, pre = s[:i], "-"+p+"."+s[i+len(p):]
			break
		}
	}
	parts := strings.Split(s, ".")
	switch len(parts) {
	case 1:
		s += ".0.0"
	case 2:
		s += ".0"
	}
	v := "v" + s + pre
	if !semver.IsValid(v) || semver.Build(v) != "" {
		return ""
	}
	return v
}
