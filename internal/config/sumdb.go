package config

import (
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/modvault/modvault/internal/redact"
)

// SumDB is a checksum database named in GOSUMDB.
type SumDB struct {
	Name string // the database's name, as in its /sumdb/NAME/ paths
	// Key is the verifier key ("name+hash+keydata"): the one given, or the
	// known key of a database the go command knows by name; "" for an
	// unknown database given by name alone, which cannot verify anything.
	Key string
	URL string // where the database is reached directly; "" for https://Name
}

// String returns db as GOSUMDB gives it: "name+hash+keydata [url]", or the
// name alone when it has no key or the go command knows its key.
func (db SumDB) String() string {
	s := db.Key
	if s == "" || s == knownKey(db.Name) {
		s = db.Name
	}
	if db.URL != "" {
		s += " " + db.URL
	}
	return s
}

// ParseSumDBs parses a GOSUMDB value: "off", or one or more databases
// separated by commas, each a known name, "name+key" or "name+key url". A
// key must be a valid verifier key and a URL an http:// or https:// one.
// It returns no database for "off" or an empty value.
func ParseSumDBs(gosumdb string) ([]SumDB, error) {
	var dbs []SumDB
	for entry := range strings.SplitSeq(gosumdb, ",") {
		f := strings.Fields(entry)
		if len(f) == 0 || len(f) == 1 && f[0] == "off" {
			continue
		}
		if len(f) > 2 {
			return nil, fmt.Errorf("%q: want name+key [url]", redact.List(strings.TrimSpace(entry)))
		}
		name, _, hasKey := strings.Cut(f[0], "+")
		db := SumDB{Name: name, Key: knownKey(name)}
		if hasKey {
			if _, err := note.NewVerifier(f[0]); err != nil {
				return nil, fmt.Errorf("%q: not a checksum database key (name+hash+keydata): %v", f[0], err)
			}
			db.Key = f[0]
		}
		if len(f) == 2 {
			u, err := url.Parse(f[1])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%s: %q is not an http:// or https:// URL", name, redact.URL(f[1]))
			}
			db.URL = f[1]
		}
		dbs = append(dbs, db)
	}
	return dbs, nil
}

// knownKey returns the verifier key of a checksum database the go command
// knows by name (cmd/go/internal/modfetch), so that GOSUMDB may name it
// without a key.
func knownKey(name string) string {
	switch name {
	case "sum.golang.org", "sum.golang.google.cn":
		return "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
	}
	return ""
}
