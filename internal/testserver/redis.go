package testserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

var redisBinary = binary{
	name:    "redis-server",
	env:     "MODVAULT_REDIS_SERVER",
	install: "apt-get install -y --no-install-recommends redis-server",
}

// Redis is a running redis-server that keeps nothing on disk.
type Redis struct {
	// Addr is the server's address, 127.0.0.1:PORT.
	Addr string

	proc *process
}

// RedisServer starts a redis-server.
func RedisServer(t testing.TB) *Redis {
	t.Helper()
	path := redisBinary.find(t)
	dir := t.TempDir()
	args := func(ports []int) []string {
		return []string{"--bind", "127.0.0.1", "--port", itoa(ports[0]), "--dir", dir,
			"--save", "", "--appendonly", "no"}
	}
	ready := func(ctx context.Context, ports []int) error {
		return redisPing(ctx, fmt.Sprintf("127.0.0.1:%d", ports[0]))
	}
	p, ports := launch(t, "redis-server", path, 1, args, nil, dir, ready)
	return &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), proc: p}
}

// URL returns the server's URL, redis://127.0.0.1:PORT/0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Stop kills the server now, as a crash would, and waits until it has
// exited. Calling it again, or the test's cleanup after it, does nothing.
func (r *Redis) Stop() { r.proc.stop() }

// redisPing sends PING and expects PONG.
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered PING with %q", strings.TrimSpace(line))
	}
	return nil
}
