package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"golang.org/x/mod/module"
)

// ModuleTotal is how much of one module the index holds.
type ModuleTotal struct {
	Path     string // the module path (not case-encoded)
	Versions int64  // how many versions
	Bytes    int64  // the sizes of their .info, .mod and .zip files
}

// ModuleTotals returns, for every module the index holds, how many
// versions of it and how many bytes, in the order of [Index.Catalog]. It
// reads every version row once (in the order of the primary key, so
// without sorting): its cost grows with the index, so callers that show
// it on every request keep the answer for a while.
func (x *Index) ModuleTotals(ctx context.Context) ([]ModuleTotal, error) {
	var out []ModuleTotal
	err := x.query(ctx, `SELECT MIN(module), COUNT(*), CAST(SUM(info_size + mod_size + COALESCE(zip_size, 0)) AS BIGINT)
		FROM versions GROUP BY esc_key ORDER BY esc_key`, nil,
		func(rows *sql.Rows) error {
			var t ModuleTotal
			err := rows.Scan(&t.Path, &t.Versions, &t.Bytes)
			out = append(out, t)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("index: module totals: %w", err)
	}
	return out, nil
}

// DayCount is a number of events on one day (UTC).
type DayCount struct {
	Day   time.Time // midnight UTC
	Count int64
}

// Downloader is who downloaded a version's zip.
type Downloader struct {
	User       string // "" is anonymous
	ClientAddr string
	Last       time.Time // the latest download
	Count      int64     // downloads since the time asked about
}

// Downloads is the download history of one version.
type Downloads struct {
	ByDay  []DayCount   // days with downloads, oldest first
	Recent []Downloader // the latest downloaders first
}

// VersionDownloads returns the downloads of mv's zip (events of kind
// [KindZip] whose result is [ResultHit] or [ResultFilled]) at or after
// since: their number per day, and up to recent downloaders (user and
// client address), the latest first. It reads the events of mv's module
// since then (by the events' module index).
func (x *Index) VersionDownloads(ctx context.Context, mv module.Version, since time.Time, recent int) (Downloads, error) {
	const day = int64(24 * time.Hour)
	d := Downloads{ByDay: []DayCount{}, Recent: []Downloader{}}
	where := `FROM events WHERE module = $1 AND at >= $2 AND version = $3 AND kind = '` + KindZip +
		`' AND result IN ('` + ResultHit + `', '` + ResultFilled + `')`
	args := []any{mv.Path, unixNano(since), mv.Version}
	err := x.query(ctx, fmt.Sprintf("SELECT at / %d, COUNT(*) %s GROUP BY at / %d ORDER BY at / %d", day, where, day, day), args,
		func(rows *sql.Rows) error {
			var n, c int64
			if err := rows.Scan(&n, &c); err != nil {
				return err
			}
			d.ByDay = append(d.ByDay, DayCount{Day: time.Unix(0, n*day).UTC(), Count: c})
			return nil
		})
	if err != nil {
		return Downloads{}, fmt.Errorf("index: downloads of %s: %w", mv, err)
	}
	err = x.query(ctx, "SELECT user_name, client_addr, MAX(at), COUNT(*) "+where+
		" GROUP BY user_name, client_addr ORDER BY MAX(at) DESC, user_name, client_addr LIMIT $4", append(args, recent),
		func(rows *sql.Rows) error {
			var dl Downloader
			var last int64
			if err := rows.Scan(&dl.User, &dl.ClientAddr, &last, &dl.Count); err != nil {
				return err
			}
			dl.Last = fromUnixNano(last)
			d.Recent = append(d.Recent, dl)
			return nil
		})
	if err != nil {
		return Downloads{}, fmt.Errorf("index: downloaders of %s: %w", mv, err)
	}
	return d, nil
}
