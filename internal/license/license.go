// Package license detects the licenses in a module version's zip, with
// github.com/google/licensecheck, following the rules of pkg.go.dev
// (golang.org/x/pkgsite internal/licenses/licenses.go), and decides
// whether they are in an allow-list.
//
// The pkgsite rules kept here:
//   - A license file is a file whose base name is, ignoring case, one of
//     [FileNames] (pkgsite's FileNames), at the module root or in any
//     subdirectory, except in a proper subdirectory of a vendor directory
//     (vendor/LICENSE counts, vendor/x/LICENSE does not), and except paths
//     that module.CheckFilePath rejects.
//   - A file is scanned with licensecheck's built-in licenses. If the
//     matches cover less than 75% of its words (pkgsite's
//     coverageThreshold), or nothing matches, its type is UNKNOWN;
//     otherwise its types are the IDs of the matches (SPDX IDs, or
//     licensecheck's own for licenses SPDX lacks), sorted, each once.
//   - A file larger than the module zip format's limit for a LICENSE file
//     (golang.org/x/mod/zip MaxLICENSE, pkgsite's maxLicenseSize) is
//     UNKNOWN.
//   - Some recognized texts are not licenses and are ignored when judging
//     ([Ignorable], pkgsite's ignorableLicenseTypes).
//
// Where it differs: pkgsite also scans with its own extra patterns
// (internal/licenses/exceptions) that recognize odd variants of common
// licenses; without them such a file is UNKNOWN here, which fails closed.
// A file that cannot be read is an error here (the caller retries), not
// UNKNOWN. And [Allowed] judges every license file of the module, not
// only the root's, since every one covers code that would enter.
package license

import (
	"archive/zip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/google/licensecheck"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// Unknown is the type of a license file that could not be recognized with
// confidence.
const Unknown = "UNKNOWN"

// coverageThreshold is the minimum percentage of a file's words that
// recognized license texts must cover (pkgsite's coverageThreshold).
const coverageThreshold = 75

// FileNames are the names of license files, compared ignoring case
// (pkgsite's FileNames).
var FileNames = []string{
	"COPYING", "COPYING.md", "COPYING.markdown", "COPYING.txt",
	"LICENCE", "LICENCE.md", "LICENCE.markdown", "LICENCE.txt",
	"LICENSE", "LICENSE.md", "LICENSE.markdown", "LICENSE.txt",
	"LICENSE-2.0.txt", "LICENCE-2.0.txt",
	"LICENSE-APACHE", "LICENCE-APACHE",
	"LICENSE-APACHE-2.0.txt", "LICENCE-APACHE-2.0.txt",
	"LICENSE-MIT", "LICENCE-MIT", "LICENSE.MIT", "LICENCE.MIT",
	"LICENSE.code", "LICENCE.code", "LICENSE.docs", "LICENCE.docs",
	"LICENSE.rst", "LICENCE.rst",
	"MIT-LICENSE", "MIT-LICENCE", "MIT-LICENSE.md", "MIT-LICENCE.md",
	"MIT-LICENSE.markdown", "MIT-LICENCE.markdown", "MIT-LICENSE.txt", "MIT-LICENCE.txt",
	"MIT_LICENSE", "MIT_LICENCE",
	"UNLICENSE", "UNLICENCE",
}

// Ignorable are the types licensecheck recognizes that are not licenses
// (notices, patent grants, a font license), which [Allowed] skips; but a
// module needs at least one license besides them (pkgsite's
// ignorableLicenseTypes and Redistributable).
var Ignorable = []string{"CC-Notice", "GooglePatentClause", "GooglePatentsFile", "blessing", "OFL-1.1"}

// License is one license file of a module.
type License struct {
	// Path is the file's '/'-separated path from the module root
	// ("LICENSE", "third_party/x/COPYING").
	Path string
	// Types are the licenses recognized in the file, sorted: SPDX IDs
	// such as "MIT" or "Apache-2.0", or [Unknown] alone.
	Types []string
	// Coverage is the percentage of the file's words that recognized
	// licenses cover.
	Coverage float64
}

// AtRoot reports whether the file is in the module's root directory.
func (l License) AtRoot() bool { return !strings.Contains(l.Path, "/") }

// isLicenseFile reports whether a base name is one of FileNames.
func isLicenseFile(name string) bool {
	return slices.ContainsFunc(FileNames, func(f string) bool { return strings.EqualFold(f, name) })
}

// Prepare builds licensecheck's built-in scanner, which the first
// detection otherwise builds: it holds about 80 MB of heap for the life
// of the process and takes seconds of CPU to build. Call it in the
// background at start where licenses will be checked.
func Prepare() { licensecheck.Scan(nil) }

// DetectFile detects the licenses in the module zip file at zipPath, the
// zip of mv. See [Detect].
func DetectFile(zipPath string, mv module.Version) ([]License, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("license: %s@%s: %w", mv.Path, mv.Version, err)
	}
	defer zr.Close()
	return Detect(&zr.Reader, mv)
}

// Detect returns the license files in zr, the zip of mv, sorted by path,
// each with the licenses recognized in it; none if it has no license
// file. Files outside the directory "mv.Path@mv.Version/" are not part of
// the module and are skipped. An error means a file could not be read.
func Detect(zr *zip.Reader, mv module.Version) ([]License, error) {
	prefix := mv.Path + "@" + mv.Version + "/"
	var found []License
	for _, f := range zr.File {
		rel, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || !isLicenseFile(path.Base(rel)) || isVendored(rel) || module.CheckFilePath(rel) != nil {
			continue
		}
		if f.FileInfo().IsDir() {
			continue
		}
		l, err := detect(f, rel)
		if err != nil {
			return nil, fmt.Errorf("license: %s@%s: %w", mv.Path, mv.Version, err)
		}
		found = append(found, l)
	}
	slices.SortFunc(found, func(a, b License) int { return strings.Compare(a.Path, b.Path) })
	return found, nil
}

// detect reads and scans one license file.
func detect(f *zip.File, rel string) (License, error) {
	if f.UncompressedSize64 > modzip.MaxLICENSE {
		return License{Path: rel, Types: []string{Unknown}}, nil
	}
	rc, err := f.Open()
	if err != nil {
		return License{}, fmt.Errorf("reading %s: %w", rel, err)
	}
	defer rc.Close()
	text, err := io.ReadAll(io.LimitReader(rc, modzip.MaxLICENSE+1))
	if err != nil {
		return License{}, fmt.Errorf("reading %s: %w", rel, err)
	}
	if len(text) > modzip.MaxLICENSE {
		return License{Path: rel, Types: []string{Unknown}}, nil
	}
	types, coverage := scan(text)
	return License{Path: rel, Types: types, Coverage: coverage}, nil
}

// scan returns the licenses recognized in the text of a license file,
// sorted, or [Unknown] alone, by the pkgsite rules in the package
// comment, and the percentage of the text they cover.
func scan(text []byte) (types []string, coverage float64) {
	cov := licensecheck.Scan(text)
	if cov.Percent < coverageThreshold || len(cov.Match) == 0 {
		return []string{Unknown}, cov.Percent
	}
	for _, m := range cov.Match {
		if !slices.Contains(types, m.ID) {
			types = append(types, m.ID)
		}
	}
	slices.Sort(types)
	return types, cov.Percent
}

// isVendored reports whether name is in a proper subdirectory of a
// vendor directory: "vendor/x/LICENSE" is, "vendor/LICENSE" (a package
// named vendor) is not.
func isVendored(name string) bool {
	var rest string
	if r, ok := strings.CutPrefix(name, "vendor/"); ok {
		rest = r
	} else if i := strings.Index(name, "/vendor/"); i >= 0 {
		rest = name[i+len("/vendor/"):]
	} else {
		return false
	}
	return strings.Contains(rest, "/")
}

// Allowed reports whether the licenses found in a module are all in
// allow (SPDX IDs, compared ignoring case), and if not, why, in a short
// phrase for the go command's user ("license AGPL-3.0 (LICENSE) not
// allowed"). It fails closed: a module needs a license file at its root;
// every license of every file must be allowed, so a file that holds two
// licenses (a dual license, which licensecheck cannot tell from a
// conjunction) needs both in allow; and [Unknown] is never allowed.
// [Ignorable] types are skipped.
func Allowed(found []License, allow []string) (ok bool, reason string) {
	if !slices.ContainsFunc(found, License.AtRoot) {
		return false, "no license file at the module root (UNKNOWN)"
	}
	seen := false // a license, not only ignorable texts
	for _, l := range found {
		for _, t := range l.Types {
			switch {
			case t == Unknown:
				return false, fmt.Sprintf("license of %s not recognized (UNKNOWN)", l.Path)
			case slices.Contains(Ignorable, t):
				continue
			case !slices.ContainsFunc(allow, func(a string) bool { return strings.EqualFold(a, t) }):
				return false, fmt.Sprintf("license %s (%s) not allowed", t, l.Path)
			}
			seen = true
		}
	}
	if !seen {
		return false, "no license, only notices (UNKNOWN)"
	}
	return true, ""
}

// IDs returns the distinct license types of found, sorted: what to show
// for a module version ("Apache-2.0, MIT").
func IDs(found []License) []string {
	var ids []string
	for _, l := range found {
		for _, t := range l.Types {
			if !slices.Contains(ids, t) {
				ids = append(ids, t)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
