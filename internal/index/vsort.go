package index

import (
	"strings"

	"golang.org/x/mod/semver"
)

// versionKey returns a string whose byte order is the order of
// compareVersions (semantic version precedence, then the version's text),
// followed by " " and v itself, so that the version can be read back from
// its key ([versionOfKey]). The versions table keeps it in vsort, which
// lets the database sort versions (and page through them) as modvault
// does, with nothing but a byte-wise comparison.
//
// The encoding of a valid version's precedence (its canonical form):
//
//   - major, minor and patch each as one character for the number of
//     digits ('0'+n, so longer numbers sort later) and the digits;
//   - then each prerelease identifier as "\x02" followed by "0" and the
//     number, encoded as above, for a numeric identifier, or by "1" and the
//     identifier for an alphanumeric one (numeric identifiers sort first),
//     and "\x01" after the last identifier (fewer identifiers sort first);
//   - or, for a release, "\x03", which sorts after every prerelease.
//
// No key of one precedence is a prefix of the key of another, so what
// follows it decides only between versions of equal precedence (which
// differ in build metadata, such as "+incompatible"). An invalid version,
// which semver orders before all valid ones, is "!" and the version.
func versionKey(v string) string {
	if !semver.IsValid(v) {
		return "!" + v
	}
	c := strings.TrimPrefix(semver.Canonical(v), "v")
	core, pre, hasPre := strings.Cut(c, "-")
	var b strings.Builder
	b.Grow(2*len(v) + 8)
	for n := range strings.SplitSeq(core, ".") {
		writeNumber(&b, n)
	}
	if !hasPre {
		b.WriteByte('\x03')
	} else {
		for id := range strings.SplitSeq(pre, ".") {
			b.WriteByte('\x02')
			if isNumber(id) {
				b.WriteByte('0')
				writeNumber(&b, id)
			} else {
				b.WriteByte('1')
				b.WriteString(id)
			}
		}
		b.WriteByte('\x01')
	}
	b.WriteByte(' ')
	b.WriteString(v)
	return b.String()
}

// versionOfKey returns the version whose key is k.
func versionOfKey(k string) string {
	if strings.HasPrefix(k, "!") {
		return k[1:]
	}
	return k[strings.LastIndexByte(k, ' ')+1:]
}

// writeNumber writes the decimal number n (no leading zeros) so that
// numbers sort by value: its length first, then its digits.
func writeNumber(b *strings.Builder, n string) {
	b.WriteRune(rune('0' + len(n)))
	b.WriteString(n)
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
