package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// postgresInstall is how to install PostgreSQL's server binaries.
const postgresInstall = "apt-get install -y --no-install-recommends postgresql"

var initdbBinary = binary{
	name:    "initdb",
	env:     "MODVAULT_INITDB",
	dirs:    postgresBinDirs,
	install: postgresInstall,
}

// postgresBinDirs returns Debian's directories of PostgreSQL's server
// binaries, /usr/lib/postgresql/VERSION/bin, newest version first.
func postgresBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	return dirs
}

// PostgreSQL is a running PostgreSQL server that trusts every local
// connection, listening on 127.0.0.1 and on a Unix socket in its
// temporary directory.
type PostgreSQL struct {
	// Addr is the server's address, 127.0.0.1:PORT.
	Addr string

	bin       string // the directory of initdb, postgres and psql
	dir       string // the data directory's parent, with the socket and the log
	port      int
	uid, gid  int // the user the server runs as; -1 for this process's
	proc      *process
	databases atomic.Int64
}

// Postgres starts a PostgreSQL server with its data in a new temporary
// directory: initdb, then postgres (fsync off: a test server need not
// survive a machine's crash). PostgreSQL refuses to run as root, so when
// the test runs as root the server runs as the "postgres" user (which
// Debian's package creates), in a directory it owns.
func Postgres(t testing.TB) *PostgreSQL {
	t.Helper()
	initdb := initdbBinary.find(t)
	if p, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = p // a link in PATH to Debian's directory, where postgres and psql are
	}
	bin := filepath.Dir(initdb)
	for _, name := range []string{"postgres", "psql"} {
		if !isExecutable(filepath.Join(bin, name)) {
			t.Fatalf("testserver: %s has no %s next to it; install PostgreSQL with: %s (.ci/run does)", initdb, name, postgresInstall)
		}
	}
	dir, err := os.MkdirTemp("", "modvault-postgres-")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &PostgreSQL{bin: bin, dir: dir, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testserver: PostgreSQL refuses to run as root, and there is no postgres user to run it as (%v); installing PostgreSQL creates it: %s", err, postgresInstall)
		}
		p.uid, _ = strconv.Atoi(u.Uid)
		p.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, p.uid, p.gid); err != nil {
			t.Fatalf("testserver: %v", err)
		}
	}
	cmd := exec.Command(initdb, "-D", p.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = dir
	p.setUser(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testserver: initdb: %v\n%s", err, out)
	}
	args := func(ports []int) []string { return p.args(ports[0]) }
	ready := func(ctx context.Context, ports []int) error {
		_, err := p.psql(ctx, ports[0], "postgres", "SELECT 1")
		return err
	}
	proc, ports := launch(t, "postgres", filepath.Join(bin, "postgres"), 1, args, nil, dir, ready, p.setUser)
	p.proc, p.port = proc, ports[0]
	p.Addr = fmt.Sprintf("127.0.0.1:%d", p.port)
	t.Cleanup(p.Stop) // before start's kill: shut down cleanly
	return p
}

func (p *PostgreSQL) dataDir() string { return filepath.Join(p.dir, "data") }

// args returns the command line of the server on port.
func (p *PostgreSQL) args(port int) []string {
	return []string{"-D", p.dataDir(), "-p", itoa(port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=100"}
}

// setUser makes cmd run as the server's user.
func (p *PostgreSQL) setUser(cmd *exec.Cmd) {
	if p.uid >= 0 {
		runAs(cmd, uint32(p.uid), uint32(p.gid))
	}
}

// psql runs one SQL command in database db on the server at port, and
// returns its output (unaligned, tuples only).
func (p *PostgreSQL) psql(ctx context.Context, port int, db, command string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", itoa(port), "-U", "postgres", "-d", db, "-c", command)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql -c %q: %v: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// URL returns the URL of database db on the server, as pgx takes it.
func (p *PostgreSQL) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", p.Addr, db)
}

// NewDatabase creates a new, empty database and returns its URL. Its
// collation is ICU's en-US, not the byte order of "C": code that pages on
// text must say COLLATE "C" where it needs byte order, or its tests fail.
func (p *PostgreSQL) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test%d_%s", p.databases.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := p.psql(ctx, p.port, "postgres", "CREATE DATABASE "+name+
		" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
	if err != nil {
		t.Fatalf("testserver: creating a database: %v", err)
	}
	return p.URL(name)
}

// Exec runs one SQL command in database db (a name, such as the one at the
// end of a URL of NewDatabase) and returns its output, one row a line.
func (p *PostgreSQL) Exec(t testing.TB, db, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.psql(ctx, p.port, db, command)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	return out
}

// Stop shuts the server down (a fast shutdown: clients are disconnected)
// and waits until it has exited; after 30 seconds it kills it. Calling it
// again does nothing.
func (p *PostgreSQL) Stop() {
	if p.proc.exited() {
		return
	}
	_ = p.proc.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.proc.done:
	case <-time.After(30 * time.Second):
	}
	p.proc.stop()
}

// Start starts the server again after Stop, on the same port and with the
// same data, and waits until it is ready.
func (p *PostgreSQL) Start(t testing.TB) {
	t.Helper()
	if !p.proc.exited() {
		t.Fatalf("testserver: PostgreSQL is already running")
	}
	p.proc = start(t, "postgres", filepath.Join(p.bin, "postgres"), p.args(p.port), nil, p.dir, p.setUser)
	err := p.proc.waitReady(func(ctx context.Context) error {
		_, err := p.psql(ctx, p.port, "postgres", "SELECT 1")
		return err
	})
	if err != nil {
		t.Fatalf("testserver: restarting PostgreSQL: %v", err)
	}
	t.Cleanup(p.Stop) // before this start's kill
}
