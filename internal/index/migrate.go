package index

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// The schema's migrations, one folder per dialect, applied in the order of
// their numbers (NNNN_name.sql). A released migration is never edited: a
// change of schema is a new file in both folders.
//
// The runner is our own, about a hundred lines: the well-kept libraries
// (golang-migrate, goose) bring drivers, a CLI and down-migrations we do not
// use, and pin their own SQLite driver or need cgo for it, while what we
// need is small: apply each file once, in order, in one transaction with
// its bookkeeping row, under a lock that keeps two replicas starting at
// once from racing (pg_advisory_lock on PostgreSQL; SQLite's write lock,
// taken by every IMMEDIATE transaction).
//
//go:embed migrations
var migrations embed.FS

// migration is one schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the migrations of dialect d, in order.
func loadMigrations(d *dialect) ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if len(ms) > 0 && ms[len(ms)-1].version >= v {
			return nil, fmt.Errorf("migration %s does not follow %s", e.Name(), ms[len(ms)-1].name)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return ms, nil
}

// migrate brings the schema up to date: it applies, in order, each
// migration that schema_migrations does not list, each in a transaction
// with the row that lists it, under the dialect's migration lock. It
// fails, changing nothing, if the database lists a migration this
// modvault does not know (a newer modvault migrated it).
func (x *Index) migrate(ctx context.Context) error {
	ms, err := loadMigrations(x.d)
	if err != nil {
		return err
	}
	conn, err := x.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	unlock, err := x.d.lock(ctx, conn)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var newest int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	if known := ms[len(ms)-1].version; newest > known {
		return fmt.Errorf("the database's schema is at version %d, newer than this modvault knows (%d): run a newer modvault", newest, known)
	}
	for _, m := range ms {
		if err := x.apply(ctx, conn, m); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// apply applies m unless it was, in one transaction.
func (x *Index) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	// Read inside the transaction, under the lock: another process may
	// have applied it since the check above.
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion returns the version of the newest migration applied to the
// database, and the newest this modvault knows.
func (x *Index) SchemaVersion(ctx context.Context) (applied, known int, err error) {
	ms, err := loadMigrations(x.d)
	if err != nil {
		return 0, 0, err
	}
	err = x.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied)
	return applied, ms[len(ms)-1].version, err
}
