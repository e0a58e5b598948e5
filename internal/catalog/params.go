package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/protocol"
)

// CatalogQuery is the parameters of GET /catalog.
type CatalogQuery struct {
	Cursor string // a case-encoded module path, or "" for the first page
	Limit  int    // 1 to MaxCatalogLimit
}

// IndexQuery is the parameters of GET /index.
type IndexQuery struct {
	Since time.Time      // inclusive; zero means the beginning of time
	After module.Version // the last entry of the previous page, or zero
	Limit int            // 1 to MaxIndexLimit
}

// ParseCatalogQuery parses the query of GET /catalog. Its error's text is
// the reason of a 400 answer, naming the parameter. Every server of
// /catalog (the store walk here, the metadata index in internal/api)
// parses it with this function, so both answer alike.
func ParseCatalogQuery(q url.Values) (CatalogQuery, error) {
	limit, err := parseLimit(q.Get("limit"), DefaultCatalogLimit, MaxCatalogLimit)
	if err != nil {
		return CatalogQuery{}, err
	}
	cursor := q.Get("cursor")
	if cursor != "" {
		if _, err := module.UnescapePath(cursor); err != nil {
			return CatalogQuery{}, errors.New("cursor is not a case-encoded module path")
		}
	}
	return CatalogQuery{Cursor: cursor, Limit: limit}, nil
}

// ParseIndexQuery parses the query of GET /index, as [ParseCatalogQuery]
// does that of /catalog.
func ParseIndexQuery(q url.Values) (IndexQuery, error) {
	var p IndexQuery
	var err error
	if p.Limit, err = parseLimit(q.Get("limit"), DefaultIndexLimit, MaxIndexLimit); err != nil {
		return IndexQuery{}, err
	}
	if s := q.Get("since"); s != "" {
		if p.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return IndexQuery{}, errors.New("since is not an RFC 3339 time such as 2006-01-02T15:04:05.999999999Z")
		}
	}
	if s := q.Get("after"); s != "" {
		if p.After, err = parseAfter(s); err != nil {
			return IndexQuery{}, err
		}
	}
	return p, nil
}

// parseLimit parses a limit parameter: dflt if empty, at most maxLimit.
func parseLimit(s string, dflt, maxLimit int) (int, error) {
	if s == "" {
		return dflt, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit must be a positive integer (at most %d is used)", maxLimit)
	}
	return min(n, maxLimit), nil
}

// parseAfter parses the after parameter: a module path and a canonical
// version of it, joined by "@".
func parseAfter(s string) (module.Version, error) {
	path, version, ok := strings.Cut(s, "@")
	if !ok || protocol.CheckVersion(path, version) != nil || module.CanonicalVersion(version) != version {
		return module.Version{}, errors.New("after must be a module path and canonical version, as path@version")
	}
	return module.Version{Path: path, Version: version}, nil
}
