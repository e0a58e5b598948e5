// Package vulndb mirrors a Go vulnerability database into modvault's store,
// answers which vulnerabilities affect a module version, and serves the
// mirror to govulncheck.
//
// The database is read in its v1 layout, the one the Go vulnerability
// database serves and govulncheck reads (golang.org/x/vuln
// internal/client):
//
//	index/db.json       {"modified": TIME}
//	index/modules.json  [{"path": MODULE, "vulns": [{"id", "modified", "fixed"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/<id>.json        one OSV entry
//
// each also as <name>.json.gz, gzipped. The mirror keeps the same tree in
// the store under "vulndb/", both forms of every file, so a file:// store's
// vulndb directory is itself a database that govulncheck can read.
//
// Invariants:
//   - An entry is stored before any stored index names it: [Mirror] writes
//     ID/ files first, then index/modules.json and index/vulns.json, and
//     index/db.json last. A reader never finds an index entry whose file is
//     missing or older than the index says.
//   - The stored index/db.json changes only when a mirror completed; until
//     it does, the next [Mirror] sees the upstream as changed and resumes.
//   - Every stored entry parsed as an OSV entry with the ID of its file
//     name and valid SEMVER events.
//
// A [DB] is an immutable in-memory index of the stored entries, per module;
// [DB.Vulns] is a map lookup and a few version comparisons.
package vulndb

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Prefix is the store key prefix of the mirror, and the URL path prefix
// under which [Handler] serves it (with a leading "/").
const Prefix = "vulndb/"

// The pseudo-module paths the Go vulnerability database uses for the
// standard library and the toolchain (golang.org/x/vuln internal/osv
// GoStdModulePath and GoCmdModulePath).
const (
	StdlibModule    = "stdlib"
	ToolchainModule = "toolchain"
)

// The endpoints of the v1 layout, without extension.
const (
	dbEndpoint      = "index/db"
	modulesEndpoint = "index/modules"
	vulnsEndpoint   = "index/vulns"
	idDir           = "ID/"
)

// dbMeta is index/db.json.
type dbMeta struct {
	Modified time.Time `json:"modified"`
}

// moduleMeta is one element of index/modules.json.
type moduleMeta struct {
	Path  string `json:"path"`
	Vulns []struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	} `json:"vulns"`
}

// vulnMeta is one element of index/vulns.json.
type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// entry holds the fields of an OSV entry (https://ossf.github.io/osv-schema/,
// as the Go database uses it: https://go.dev/security/vuln/database#schema)
// that modvault reads. golang.org/x/vuln keeps its OSV types internal.
type entry struct {
	ID         string     `json:"id"`
	Modified   time.Time  `json:"modified"`
	Published  time.Time  `json:"published"`
	Withdrawn  *time.Time `json:"withdrawn,omitempty"`
	Aliases    []string   `json:"aliases"`
	Summary    string     `json:"summary"`
	Details    string     `json:"details"`
	Affected   []affected `json:"affected"`
	References []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"references"`
	DatabaseSpecific *struct {
		URL string `json:"url"`
	} `json:"database_specific"`
}

type affected struct {
	Package struct {
		Name      string `json:"name"`
		Ecosystem string `json:"ecosystem"`
	} `json:"package"`
	Ranges   []osvRange `json:"ranges"`
	Versions []string   `json:"versions"`
}

type osvRange struct {
	Type   string  `json:"type"`
	Events []event `json:"events"`
}

// event is one OSV range event: exactly one field is set.
type event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// parseEntry parses an OSV entry and checks what modvault relies on: its
// ID is id, and every event of a SEMVER range of the Go ecosystem holds
// exactly one valid version (without the "v"; "0" only as introduced).
func parseEntry(data []byte, id string) (*entry, error) {
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", id, err)
	}
	if e.ID != id {
		return nil, fmt.Errorf("entry %s holds id %q", id, e.ID)
	}
	for _, a := range e.Affected {
		if a.Package.Ecosystem != "Go" {
			continue
		}
		for _, v := range a.Versions {
			if !semver.IsValid("v" + v) {
				return nil, fmt.Errorf("entry %s: module %s: invalid version %q", id, a.Package.Name, v)
			}
		}
		for _, r := range a.Ranges {
			if r.Type != "SEMVER" {
				continue
			}
			for _, ev := range r.Events {
				if err := checkEvent(ev); err != nil {
					return nil, fmt.Errorf("entry %s: module %s: %w", id, a.Package.Name, err)
				}
			}
		}
	}
	return &e, nil
}

func checkEvent(ev event) error {
	n, v := 0, ""
	for _, s := range []string{ev.Introduced, ev.Fixed, ev.LastAffected, ev.Limit} {
		if s != "" {
			n, v = n+1, s
		}
	}
	if n != 1 {
		return fmt.Errorf("range event %+v: want exactly one of introduced, fixed, last_affected, limit", ev)
	}
	if v == "0" && ev.Introduced == "0" {
		return nil
	}
	if strings.HasPrefix(v, "v") || !semver.IsValid("v"+v) {
		return fmt.Errorf("range event %+v: %q is not a SEMVER version without \"v\"", ev, v)
	}
	return nil
}

// validID reports whether id can name an entry file: the Go database's IDs
// are GO-YYYY-NNNN; any other database's are letters, digits and "-._".
func validID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
