package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// server is one kind of server, started by start, which returns the
// storage URLs of two new buckets and the environment to open them.
type server struct {
	name  string
	start func(t *testing.T) (urls [2]string, env []string, p *process)
}

var servers = []server{
	{"minio", func(t *testing.T) ([2]string, []string, *process) {
		s := MinIO(t)
		return [2]string{s.NewBucket(t), s.NewBucket(t)}, s.Env(), s.proc
	}},
	{"fake-gcs-server", func(t *testing.T) ([2]string, []string, *process) {
		g := FakeGCS(t)
		return [2]string{g.NewBucket(t), g.NewBucket(t)}, g.Env(), g.proc
	}},
	{"azurite-blob", func(t *testing.T) ([2]string, []string, *process) {
		a := Azurite(t)
		return [2]string{a.NewContainer(t), a.NewContainer(t)}, a.Env(), a.proc
	}},
}

// TestBuckets starts each storage server, creates two buckets and writes
// to and reads from them through the gocloud.dev/blob URL openers with the
// server's Env, as modvault will; after the test the server's process is
// gone.
func TestBuckets(t *testing.T) {
	for _, s := range servers {
		var pid int
		t.Run(s.name, func(t *testing.T) {
			urls, env, p := s.start(t)
			pid = p.cmd.Process.Pid
			SetEnv(t, env)
			if urls[0] == urls[1] {
				t.Fatalf("two new buckets have the same URL %s", urls[0])
			}
			ctx := context.Background()
			for i, u := range urls {
				b, err := blob.OpenBucket(ctx, u)
				if err != nil {
					t.Fatalf("opening %s: %v", u, err)
				}
				defer b.Close()
				key := "example.com/m/@v/list"
				if _, err := b.ReadAll(ctx, key); gcerrors.Code(err) != gcerrors.NotFound {
					t.Errorf("%s: reading from a new bucket: %v, want NotFound", u, err)
				}
				data := []byte(fmt.Sprintf("v1.0.%d\n", i))
				if err := b.WriteAll(ctx, key, data, nil); err != nil {
					t.Fatalf("%s: writing: %v", u, err)
				}
				got, err := b.ReadAll(ctx, key)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: reading back: %q, %v, want %q", u, got, err, data)
				}
			}
		})
		checkGone(t, s.name, []int{pid})
	}
}

// checkGone checks that the processes have exited and been reaped: a
// zombie would still answer signal 0.
func checkGone(t *testing.T, name string, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after its test: kill(0) = %v", name, pid, err)
		}
	}
}

func TestRedisServer(t *testing.T) {
	var pid int
	t.Run("run", func(t *testing.T) {
		r := RedisServer(t)
		pid = r.proc.cmd.Process.Pid
		if want := "redis://" + r.Addr + "/0"; r.URL() != want {
			t.Errorf("URL() = %q, want %q", r.URL(), want)
		}
		if u, err := url.Parse(r.URL()); err != nil || u.Hostname() != "127.0.0.1" {
			t.Errorf("URL() = %q does not name 127.0.0.1 (%v)", r.URL(), err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := redisPing(ctx, r.Addr); err != nil {
			t.Fatalf("PING: %v", err)
		}
		r.Stop()
		if err := redisPing(ctx, r.Addr); err == nil {
			t.Fatal("PING succeeded after Stop")
		}
		checkGone(t, "redis-server", []int{pid})
		r.Stop() // again: nothing happens
	})
	checkGone(t, "redis-server", []int{pid})
}

// TestTwoServersAtOnce starts two MinIOs in one test: they get different
// ports and directories.
func TestTwoServersAtOnce(t *testing.T) {
	a, b := MinIO(t), MinIO(t)
	if a.Endpoint == b.Endpoint {
		t.Fatalf("both servers listen at %s", a.Endpoint)
	}
	if a.SecretKey == b.SecretKey {
		t.Errorf("both servers have the secret key %q", a.SecretKey)
	}
}

// fatalTB records Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// findFailure returns the message with which b.find fails, or "".
func findFailure(t *testing.T, b binary) string {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.find(tb)
	}()
	<-done
	return tb.msg
}

func TestMissingBinarySaysHowToInstall(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("GOBIN", empty)
	for _, b := range []binary{minioBinary, fakeGCSBinary, redisBinary} {
		t.Setenv(b.env, "")
		msg := findFailure(t, b)
		if !strings.Contains(msg, "not found") || !strings.Contains(msg, b.install) {
			t.Errorf("%s missing: failure %q, want one saying it is not found and %q", b.name, msg, b.install)
		}
	}
	t.Setenv(initdbBinary.env, empty+"/no-such-initdb")
	if msg := findFailure(t, initdbBinary); !strings.Contains(msg, initdbBinary.env) || !strings.Contains(msg, "apt-get install -y --no-install-recommends postgresql") {
		t.Errorf("%s pointing nowhere: failure %q, want one naming it and saying how to install PostgreSQL", initdbBinary.env, msg)
	}
	t.Setenv(minioBinary.env, empty+"/no-such-minio")
	if msg := findFailure(t, minioBinary); !strings.Contains(msg, minioBinary.env) || !strings.Contains(msg, minioBinary.install) {
		t.Errorf("%s pointing nowhere: failure %q, want one naming it and saying how to install minio", minioBinary.env, msg)
	}

	// An explicit path wins over PATH.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(redisBinary.env, exe)
	if got := redisBinary.find(t); got != exe {
		t.Errorf("find with %s=%s = %s", redisBinary.env, exe, got)
	}
}

func TestPostgres(t *testing.T) {
	var pids []int
	t.Run("run", func(t *testing.T) {
		p := Postgres(t)
		pids = append(pids, p.proc.cmd.Process.Pid)
		u1, u2 := p.NewDatabase(t), p.NewDatabase(t)
		if u1 == u2 {
			t.Fatalf("two new databases have the same URL %s", u1)
		}
		pu, err := url.Parse(u1)
		if err != nil || pu.Hostname() != "127.0.0.1" || pu.Scheme != "postgres" {
			t.Fatalf("NewDatabase() = %q, want a postgres:// URL of 127.0.0.1 (%v)", u1, err)
		}
		db := strings.TrimPrefix(pu.Path, "/")
		p.Exec(t, db, "CREATE TABLE t (s TEXT); INSERT INTO t VALUES ('a'), ('B'), ('-c')")
		// ICU's en-US orders letters before their case; "C" orders bytes.
		if got, want := p.Exec(t, db, "SELECT string_agg(s, ',' ORDER BY s) FROM t"), "-c,a,B\n"; got != want {
			t.Errorf("ordered by the database's collation: %q, want %q", got, want)
		}
		if got, want := p.Exec(t, db, `SELECT string_agg(s, ',' ORDER BY s COLLATE "C") FROM t`), "-c,B,a\n"; got != want {
			t.Errorf(`ordered by COLLATE "C": %q, want %q`, got, want)
		}

		// The data outlives a restart on the same address.
		p.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.psql(ctx, p.port, db, "SELECT 1"); err == nil {
			t.Fatal("SELECT 1 succeeded after Stop")
		}
		checkGone(t, "postgres", pids)
		p.Start(t)
		pids = append(pids, p.proc.cmd.Process.Pid)
		if got := p.Exec(t, db, "SELECT count(*) FROM t"); got != "3\n" {
			t.Errorf("after a restart the table has %q rows, want 3", got)
		}
	})
	checkGone(t, "postgres", pids)
}
