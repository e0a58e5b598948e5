package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/fault"
)

// License is one license file found in a version's zip (the index's copy
// of what internal/license detects).
type License struct {
	// Path is the file's '/'-separated path from the module root.
	Path string `json:"path"`
	// Types are the licenses recognized in it: SPDX IDs, or "UNKNOWN".
	Types []string `json:"types"`
	// Coverage is the percentage of the file's words they cover.
	Coverage float64 `json:"coverage"`
}

// errNoZip is returned for licenses of a version whose zip the index does
// not hold.
var errNoZip = fault.New(fault.NotFound, "version or its zip not in the index")

// SetLicenses records the license files found in the version's recorded
// zip, replacing those recorded before; an empty (or nil) found records
// that the zip has none. They stay with the zip: recording a different zip
// ([Index.RecordZip], [Index.RecordVersions]) forgets them. It fails with
// an error matching fs.ErrNotExist if the index does not hold the version
// with a zip: record the zip first.
func (x *Index) SetLicenses(ctx context.Context, mv module.Version, found []License) error {
	if found == nil {
		found = []License{}
	}
	b, err := json.Marshal(found)
	if err != nil {
		return fmt.Errorf("index: recording the licenses of %s: %w", mv, err)
	}
	res, err := x.w.ExecContext(ctx, "UPDATE versions SET licenses = $1 WHERE esc_key = $2 AND vsort = $3 AND zip_size IS NOT NULL",
		string(b), escKey(mv.Path), versionKey(mv.Version))
	if err != nil {
		return fmt.Errorf("index: recording the licenses of %s: %w", mv, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("index: recording the licenses of %s: %w", mv, errNoZip)
	}
	return nil
}

// Licenses returns the license files recorded for the version's zip by
// [Index.SetLicenses] (an empty, non-nil slice if it has none), with ok
// set; ok is false if none were recorded: the index does not hold the
// version or its zip, or its licenses were never detected.
func (x *Index) Licenses(ctx context.Context, mv module.Version) (found []License, ok bool, err error) {
	var b sql.NullString
	err = x.r.QueryRowContext(ctx, "SELECT licenses FROM versions WHERE esc_key = $1 AND vsort = $2",
		escKey(mv.Path), versionKey(mv.Version)).Scan(&b)
	switch {
	case err == sql.ErrNoRows || (err == nil && !b.Valid):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("index: licenses of %s: %w", mv, err)
	}
	found = []License{}
	if err := json.Unmarshal([]byte(b.String), &found); err != nil {
		return nil, false, fmt.Errorf("index: licenses of %s: %w", mv, err)
	}
	return found, true, nil
}

// Licensed reports which of vs the index holds with their licenses
// recorded, in the order of vs: the others need detecting (a reindex asks
// before it reads the zips). It costs one query per 1000 versions.
func (x *Index) Licensed(ctx context.Context, vs []module.Version) ([]module.Version, error) {
	var out []module.Version
	err := x.lookup(ctx, vs, func(mv module.Version, st versionState) {
		if st.licenses {
			out = append(out, mv)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("index: looking up licenses: %w", err)
	}
	return out, nil
}
