package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/fault"
)

// The kinds of request an event records (Event.Kind); modvault may add
// others.
const (
	KindInfo   = "info"
	KindMod    = "mod"
	KindZip    = "zip"
	KindList   = "list"
	KindLatest = "latest"
)

// The results an event records (Event.Result); modvault may add others.
const (
	ResultHit      = "hit"       // served from the store
	ResultFilled   = "filled"    // fetched, verified, stored and served
	ResultNotFound = "not_found" // no such module or version
	ResultDenied   = "denied"    // refused by access control or policy; Reason says why
	ResultWarned   = "warned"    // served with a policy warning; Reason is the policy's line
	ResultReport   = "report"    // policy-mode report: what enforcing would have done; Reason is the policy's line
	ResultError    = "error"     // failed; Reason says how
)

// Event is one entry of the audit trail: a zip served, a fill, a refusal.
//
// What the trail costs on disk, measured by BenchmarkStorage (100,000 rows
// with realistic values, extrapolated; table and indexes): a million events
// take about 250 MB in SQLite and 435 MB in PostgreSQL; a million hit
// counters (one per version, user and day that saw .info or .mod hits)
// about 80 MB and 240 MB.
type Event struct {
	// ID is the event's number in the database, set when it is read
	// (ordered like Time only within one replica).
	ID         int64
	Time       time.Time // zero means the time of Record
	User       string    // the user or token name; "" is anonymous
	ClientAddr string    // the client's address
	Replica    string    // the modvault replica that served it ("" means Options.Replica)
	Module     string    // the module path
	Version    string    // the version, if the request named one
	Kind       string    // KindZip, KindInfo, …
	Result     string    // ResultHit, ResultDenied, …
	Reason     string    // why it was denied or failed
	Bytes      int64     // the bytes served
}

// download reports whether e is a zip served to a client.
func (e *Event) download() bool {
	return e.Kind == KindZip && (e.Result == ResultHit || e.Result == ResultFilled)
}

// Filter selects events: each field that is not zero must match.
type Filter struct {
	Since  time.Time // at or after
	Until  time.Time // before
	Module string
	User   string
	Result string
}

// EventsPage is one page of the audit trail, newest first.
type EventsPage struct {
	Events []Event
	// Next is the cursor of the next (older) page, or "" if this is the
	// last one.
	Next string
}

// Events returns up to limit events that match f and come after cursor,
// newest first (by Time, then by ID). The first page has cursor "": the
// cursor of a page is opaque, and paging through it never repeats or
// skips an event, whatever is recorded meanwhile. A malformed cursor is an
// error matching fault.ErrInvalid. Events still in the buffer are not
// listed until they are written ([Index.Flush]).
func (x *Index) Events(ctx context.Context, f Filter, cursor string, limit int) (EventsPage, error) {
	limit = pageSize(limit)
	var conds []string
	var args []any
	cond := func(c string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(c, "$?", "$"+strconv.Itoa(len(args))))
	}
	if !f.Since.IsZero() {
		cond("at >= $?", unixNano(f.Since))
	}
	if !f.Until.IsZero() {
		cond("at < $?", unixNano(f.Until))
	}
	if f.Module != "" {
		cond("module = $?", f.Module)
	}
	if f.User != "" {
		cond("user_name = $?", f.User)
	}
	if f.Result != "" {
		cond("result = $?", f.Result)
	}
	if cursor != "" {
		at, id, err := parseEventCursor(cursor)
		if err != nil {
			return EventsPage{}, err
		}
		args = append(args, at, id)
		conds = append(conds, fmt.Sprintf("(at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	q := "SELECT id, at, user_name, client_addr, replica, module, version, kind, result, reason, bytes FROM events"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(" ORDER BY at DESC, id DESC LIMIT $%d", len(args))
	page := EventsPage{Events: []Event{}}
	err := x.query(ctx, q, args, func(rows *sql.Rows) error {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.User, &e.ClientAddr, &e.Replica, &e.Module, &e.Version,
			&e.Kind, &e.Result, &e.Reason, &e.Bytes); err != nil {
			return err
		}
		e.Time = fromUnixNano(at)
		page.Events = append(page.Events, e)
		return nil
	})
	if err != nil {
		return EventsPage{}, fmt.Errorf("index: reading events: %w", err)
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		page.Next = eventCursor(page.Events[limit-1])
	}
	return page, nil
}

// parseEventCursor parses a cursor of [Index.Events]: "AT.ID".
func parseEventCursor(c string) (at, id int64, err error) {
	a, i, ok := strings.Cut(c, ".")
	at, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(i, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("index: %w: bad events cursor %q", fault.ErrInvalid, c)
	}
	return at, id, nil
}

// day returns t's day in UTC, as hit_counts keeps it.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
