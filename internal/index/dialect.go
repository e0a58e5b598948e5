package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// dialect is what differs between SQLite and PostgreSQL. Everything else,
// the queries included, is shared: both take $N parameters (but see
// param), row values, ON CONFLICT upserts and multi-row VALUES.
type dialect struct {
	name string // "sqlite" or "postgres": the folder of its migrations
	// lock takes the lock that serializes migrations between processes
	// on conn, and returns its release.
	lock func(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// greatest is the function that returns the largest of its arguments.
	greatest string
	// ilike is the case-insensitive (ASCII) LIKE operator.
	ilike string
	// maxParams is the most parameters one statement may have.
	maxParams int
	// reset empties the versions and modules tables.
	reset []string
	// numbered is set if long statements number their parameters ($n)
	// rather than writing them in order (?); see param.
	numbered bool
	// optimize refreshes the planner's statistics.
	optimize string
	// trigrams is set if modules_fts is an FTS5 trigram index of
	// modules.path (SQLite), which SearchModules must ask explicitly;
	// PostgreSQL's planner uses its trigram index for ILIKE by itself.
	trigrams bool
}

var sqliteDialect = &dialect{
	name: "sqlite",
	// The writer's transactions begin IMMEDIATE (see openSQLite): each
	// migration's transaction holds the file's write lock from its start,
	// and checks whether it was applied after taking it.
	lock:      func(context.Context, *sql.Conn) (func(), error) { return func() {}, nil },
	greatest:  "max",
	ilike:     "LIKE", // case-insensitive for ASCII unless PRAGMA case_sensitive_like
	maxParams: 32766,
	reset:     []string{"DELETE FROM versions", "DELETE FROM modules"},
	trigrams:  true,
	optimize:  "PRAGMA optimize=0x10002", // 0x10000: look at every table, not only those this connection used
}

// migrationLockKey is the PostgreSQL advisory lock that serializes the
// migrations of replicas that start together.
const migrationLockKey = 0x6d6f647661756c74 // "modvault"

var postgresDialect = &dialect{
	name: "postgres",
	lock: func(ctx context.Context, conn *sql.Conn) (func(), error) {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLockKey)); err != nil {
			return nil, fmt.Errorf("taking the migration lock: %w", err)
		}
		return func() {
			// Closing the session releases the lock too, should this fail.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", int64(migrationLockKey))
		}, nil
	},
	greatest:  "GREATEST",
	ilike:     "ILIKE",
	maxParams: 65535,
	reset:     []string{"TRUNCATE versions, modules"},
	numbered:  true,
	optimize:  "ANALYZE modules, versions, events, hit_counts, first_seen",
}

// openPostgres opens a pool of connections to the PostgreSQL database dsn
// and checks that it answers.
func openPostgres(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	// Plan every query for its parameters: after five runs of a prepared
	// statement PostgreSQL may switch to a generic plan, and the generic
	// plan of SearchModules cannot tell a rare substring (for the trigram
	// index) from a common one (for the walk in order), so a search would
	// become a walk of every module. Planning takes well under a
	// millisecond.
	cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL at %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, err)
	}
	return db, nil
}

// sqliteParams are the connection settings of every SQLite connection:
// write-ahead logging (readers never wait for the writer), waiting up to
// 10s for another process's lock instead of failing, and syncing only at
// checkpoints (a crash of the machine may lose the last transactions; the
// index is rebuilt from the store, and events are an audit trail, not a
// ledger).
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"

// openSQLite opens the SQLite file that dsn names (see [Open]), creating it
// and its directory if missing: one connection for writes, whose
// transactions begin IMMEDIATE (they take the write lock at once, so they
// never fail midway on a lock upgrade), and a pool of read-only ones.
func openSQLite(ctx context.Context, dsn, dir string) (w, r *sql.DB, err error) {
	base, query, path, err := sqliteSource(dsn, dir)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("creating the directory of the SQLite file: %w", err)
	}
	if query != "" {
		query += "&"
	}
	w, err = sql.Open("sqlite", base+"?"+query+sqliteParams+"&_txlock=immediate")
	if err != nil {
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	// The first connection creates the file and switches it to WAL
	// before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	r, err = sql.Open("sqlite", base+"?"+query+sqliteParams+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return w, r, nil
}

// sqliteSource returns what to hand the driver for dsn (base and query,
// without the "?") and the file's path.
func sqliteSource(dsn, dir string) (base, query, path string, err error) {
	switch {
	case dsn == "":
		if dir == "" {
			return "", "", "", errors.New("no database named and no data directory for the default SQLite file")
		}
		path = filepath.Join(dir, DefaultFile)
		return path, "", path, nil
	case strings.HasPrefix(dsn, "file:"):
		// An SQLite URI: the driver hands it to SQLite as it is.
		base, query, _ = strings.Cut(dsn, "?")
		path = strings.TrimPrefix(base, "file:")
		if strings.HasPrefix(path, "//") { // file://HOST/PATH; SQLite accepts only "" and localhost
			_, path, _ = strings.Cut(path[2:], "/")
			path = "/" + path
		}
		return base, query, path, nil
	case strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", "", fmt.Errorf("unknown database scheme %q: use postgres://, sqlite:// or a file path", scheme)
	}
	path, query, _ = strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
	if path == "" {
		return "", "", "", fmt.Errorf("database %q names no file", dsn)
	}
	return path, query, path, nil
}
