package index

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"strings"
	"time"
)

// inTx runs fn in a transaction of the writer, and commits if it returns
// nil.
func (x *Index) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// query runs a read query and calls row for each row.
func (x *Index) query(ctx context.Context, q string, args []any, row func(*sql.Rows) error) error {
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// valuesRow writes the placeholders of one row of a multi-row VALUES list,
// numbered from first+1, preceded by a comma unless it is the first row.
// Each placeholder is written by d.param, with the row's parameter types
// (as d.param takes them) in types, "" for a plain parameter.
func (d *dialect) valuesRow(q *strings.Builder, first int, types ...string) {
	if first > 0 {
		q.WriteByte(',')
	}
	q.WriteByte('(')
	for i, typ := range types {
		if i > 0 {
			q.WriteByte(',')
		}
		d.param(q, first+i+1, typ)
	}
	q.WriteByte(')')
}

// param writes parameter number n of a long statement, cast to typ unless
// that is "". SQLite gets a plain "?": it looks up every numbered or named
// parameter in a list of those seen, which makes a statement with
// thousands of them (a batch) take seconds to prepare; "?" takes the next
// number, so the parameters must be written in order. PostgreSQL gets $n.
func (d *dialect) param(q *strings.Builder, n int, typ string) {
	if typ != "" {
		q.WriteString("CAST(")
	}
	if d.numbered {
		fmt.Fprintf(q, "$%d", n)
	} else {
		q.WriteByte('?')
	}
	if typ != "" {
		fmt.Fprintf(q, " AS %s)", typ)
	}
}

// plain returns n empty types, for valuesRow.
func plain(n int) []string { return make([]string, n) }

// chunks yields s in consecutive pieces of at most n.
func chunks[T any](s []T, n int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// unixNano returns t as Unix nanoseconds, clamped to what an int64 holds
// (years 1678 to 2262), so that a zero time is the smallest value.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// fromUnixNano returns the UTC time of n Unix nanoseconds.
func fromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
