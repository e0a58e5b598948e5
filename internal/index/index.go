// Package index is modvault's metadata index: what the store holds (one
// row per stored version, with where it came from and how it was
// verified), who took it (an audit trail of events, and counters of
// .info/.mod hits), in a SQL database: an embedded SQLite file by default
// (modernc.org/sqlite, pure Go, so CGO_ENABLED=0 builds keep working), or
// PostgreSQL for several replicas (github.com/jackc/pgx/v5).
//
// Invariants:
//
//   - The store is the truth; the index is derived from it. A version row
//     is written after the version's objects are stored ([Index.RecordVersions]
//     after the .info, [Index.RecordZip] after the .zip), so a crash in
//     between leaves a stored version the index lacks, never the reverse;
//     [Index.Missing] finds those, and a reindex ([Index.Reset] or
//     [Index.Sweep]) rebuilds the rows from a walk of the store.
//   - Writing a version is idempotent: recording it again updates its row.
//   - Events and hits never slow a request: [Index.Record] and
//     [Index.CountHit] only append to a bounded buffer in memory, which a
//     background writer flushes in batches. When the database is slow or
//     down, they wait there and are written when it is back; what does not
//     fit is counted ([Index.Stats]) and logged, never dropped silently.
//   - Every listing is paged with a keyset cursor over an index, so the cost
//     of a page depends on the page's size, not on the database's.
//   - A version's first-seen time ([Index.FirstSeen], the policy's minimum
//     age) only ever moves earlier, and outlives the version's row: it is
//     kept in its own table, which Reset, Sweep and Forget leave alone.
//     Detected licenses belong to the recorded zip ([Index.SetLicenses]).
//   - Times are stored as Unix nanoseconds (UTC) and ordered text compares
//     byte by byte, so the order of the database is modvault's order.
//
// The schema is versioned: SQL files embedded in the binary, applied at
// [Open] (see migrate.go).
package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultFile is the name of the SQLite file that [Open] uses in
// Options.Dir when it is given no data source name.
const DefaultFile = "index.sqlite"

// Options configures an [Index]. The zero value works, except that [Open]
// needs Dir when it is given no data source name.
type Options struct {
	// Dir is the directory of the default SQLite file, [DefaultFile].
	Dir string
	// Logger receives the writer's failures and overflows; nil means
	// slog.Default().
	Logger *slog.Logger
	// Replica is set on recorded events that name none.
	Replica string

	// FlushInterval is how often buffered events and hits are written.
	// Zero means 500ms.
	FlushInterval time.Duration
	// BatchSize is the most events written in one transaction, and the
	// number of buffered events that starts a write before the interval
	// has passed. Zero means 1000.
	BatchSize int
	// BufferSize is the most events that wait in memory to be written;
	// more are dropped and counted. Zero means 100,000.
	BufferSize int
	// MaxHitKeys is the most (version, user, day) hit counters that wait
	// in memory to be written; hits of further ones are dropped and
	// counted. Zero means 100,000.
	MaxHitKeys int
	// MaxRetryDelay bounds the wait between attempts to write to a
	// failing database; it starts at 100ms and doubles. Zero means 10s.
	MaxRetryDelay time.Duration
	// CloseTimeout bounds the last write at Close. Zero means 10s.
	CloseTimeout time.Duration

	// Retention is how long events and hit counters are kept; zero keeps
	// them forever. The default of modvault's configuration is 90 days.
	Retention time.Duration
	// PruneInterval is how often events older than Retention are deleted.
	// Zero means one hour.
	PruneInterval time.Duration

	// MaxConns bounds the connections to PostgreSQL. Zero means 10.
	MaxConns int

	// MaxSeenKeys is the most versions whose recorded first-seen time the
	// Index remembers, so that [Index.Seen] writes nothing for them. Zero
	// means 100,000 (about 15 MB).
	MaxSeenKeys int
}

// withDefaults returns o with zero values replaced by the defaults.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.FlushInterval, 500*time.Millisecond)
	def(&o.MaxRetryDelay, 10*time.Second)
	def(&o.CloseTimeout, 10*time.Second)
	def(&o.PruneInterval, time.Hour)
	defInt(&o.BatchSize, 1000)
	defInt(&o.BufferSize, 100_000)
	defInt(&o.MaxHitKeys, 100_000)
	defInt(&o.MaxConns, 10)
	defInt(&o.MaxSeenKeys, 100_000)
	return o
}

// Index is an open index database. Its methods are safe for concurrent
// use.
type Index struct {
	d    *dialect
	w    *sql.DB // writes (SQLite: one connection, so writers queue here and not on the file lock)
	r    *sql.DB // reads (the same as w on PostgreSQL)
	opts Options
	log  *slog.Logger

	buf     *buffer
	seen    *seenCache // versions whose first-seen time is recorded
	flushMu sync.Mutex // one batch write at a time
	// insertStmt inserts eventsPerInsert events.
	insertStmt *sql.Stmt
	stop       context.CancelFunc
	wg         sync.WaitGroup
	closed     sync.Once
}

// Open opens the index database named by dsn, creating it and bringing its
// schema up to date, and starts the background writer (and the pruning of
// old events, if opts.Retention is set).
//
// dsn is one of:
//   - "": the SQLite file [DefaultFile] in opts.Dir;
//   - "postgres://…" or "postgresql://…": a PostgreSQL database (pgx's
//     connection string syntax);
//   - "sqlite://PATH", "file:PATH" or a plain file path: an SQLite file,
//     created if missing (query parameters of modernc.org/sqlite, such as
//     _pragma, may follow a "?").
//
// Open fails if the database cannot be reached, or if its schema is newer
// than this modvault knows.
func Open(ctx context.Context, dsn string, opts Options) (*Index, error) {
	opts = opts.withDefaults()
	var (
		d    *dialect
		w, r *sql.DB
		err  error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d = postgresDialect
		w, err = openPostgres(ctx, dsn, opts.MaxConns)
		r = w
	default:
		d = sqliteDialect
		w, r, err = openSQLite(ctx, dsn, opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	x := &Index{d: d, w: w, r: r, opts: opts, log: opts.Logger, buf: newBuffer(opts), seen: newSeenCache(opts.MaxSeenKeys)}
	if err := x.migrate(ctx); err != nil {
		x.closeDBs()
		return nil, fmt.Errorf("index: migrating the %s schema: %w", d.name, err)
	}
	// Prepared now, while the connection is free: SQLite has only one for
	// writes, which a batch's transaction holds.
	if x.insertStmt, err = w.PrepareContext(ctx, x.insertEventsSQL(eventsPerInsert)); err != nil {
		x.closeDBs()
		return nil, fmt.Errorf("index: %w", err)
	}
	bg, stop := context.WithCancel(context.Background())
	x.stop = stop
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.writeLoop(bg)
	}()
	if opts.Retention > 0 {
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			x.pruneLoop(bg)
		}()
	}
	return x, nil
}

// Driver returns the name of the database kind: "sqlite" or "postgres".
func (x *Index) Driver() string { return x.d.name }

// Close stops the background work, writes what is buffered (for at most
// Options.CloseTimeout; what cannot be written is counted as dropped and
// logged) and closes the database. Events and hits recorded after Close
// are dropped and counted; other methods must not be called after it.
// Calls after the first return nil.
func (x *Index) Close() error {
	var err error
	x.closed.Do(func() {
		x.stop()
		x.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), x.opts.CloseTimeout)
		defer cancel()
		ferr := x.Flush(ctx)
		// What could not be written, or came after the last batch, is
		// dropped and counted; so is whatever is recorded from now on.
		if ev, hits := x.buf.close(); ev > 0 || hits > 0 {
			x.log.Error("index: events and hits not written at close", "events", ev, "hit_counters", hits, "err", ferr)
		}
		err = x.closeDBs()
	})
	return err
}

func (x *Index) closeDBs() error {
	var err error
	if x.insertStmt != nil {
		err = x.insertStmt.Close()
	}
	err = errors.Join(err, x.w.Close())
	if x.r != x.w {
		err = errors.Join(err, x.r.Close())
	}
	return err
}
