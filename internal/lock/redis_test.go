package lock

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testLogger sends a locker's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newLocker returns a Redis locker for url, closed when the test ends.
// Zero fields of opts get short test values rather than the defaults.
func newLocker(t testing.TB, url string, opts RedisOptions) *Redis {
	t.Helper()
	if opts.Lease == 0 {
		opts.Lease = 2 * time.Second
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = 300 * time.Millisecond
	}
	if opts.Poll == 0 {
		opts.Poll = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	r, err := NewRedis(url, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// waitSubscribed waits until r's release subscription has been established
// at least n times and is live.
func waitSubscribed(t testing.TB, r *Redis, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if up, count := r.subscription(); up && count >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	up, count := r.subscription()
	t.Fatalf("release subscription not live after 5s (up=%v, established %d times, want %d)", up, count, n)
}

// rawClient is a plain go-redis client for inspecting and tampering with
// keys behind the locker's back.
func rawClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// mustAcquire acquires key and fails the test unless it is held.
func mustAcquire(t testing.TB, ctx context.Context, l Locker, key string) func() {
	t.Helper()
	release, held, err := l.Acquire(ctx, key)
	if err != nil || !held {
		t.Fatalf("Acquire(%q) = held %v, err %v; want held", key, held, err)
	}
	if release == nil {
		t.Fatalf("Acquire(%q) returned a nil release", key)
	}
	return release
}

type acquireResult struct {
	release func()
	held    bool
	err     error
	at      time.Time
}

// goAcquire runs Acquire in a goroutine and delivers its result.
func goAcquire(ctx context.Context, l Locker, key string) <-chan acquireResult {
	ch := make(chan acquireResult, 1)
	go func() {
		release, held, err := l.Acquire(ctx, key)
		ch <- acquireResult{release, held, err, time.Now()}
	}()
	return ch
}

func receive(t testing.TB, ch <-chan acquireResult, within time.Duration) acquireResult {
	t.Helper()
	select {
	case res := <-ch:
		return res
	case <-time.After(within):
		t.Fatalf("Acquire did not return within %v", within)
		return acquireResult{}
	}
}

// assertBlocked checks that Acquire has not returned after d.
func assertBlocked(t testing.TB, ch <-chan acquireResult, d time.Duration) {
	t.Helper()
	select {
	case res := <-ch:
		t.Fatalf("Acquire returned (held %v, err %v) while another replica held the lease", res.held, res.err)
	case <-time.After(d):
	}
}

// TestRedisMutualExclusion has several replicas, each with its own client,
// take turns on one key: never two at once, and every one gets it.
func TestRedisMutualExclusion(t *testing.T) {
	srv := startRedis(t)
	const replicas, rounds = 4, 5
	// A long poll: hand-overs within the test's time rely on the release
	// wake-ups.
	lockers := make([]*Redis, replicas)
	for i := range lockers {
		lockers[i] = newLocker(t, srv.URL(), RedisOptions{Poll: 5 * time.Second})
		waitSubscribed(t, lockers[i], 1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ls := make([]Locker, len(lockers))
	for i, l := range lockers {
		ls[i] = l
	}
	takeTurns(t, ctx, ls, "example.com/m@v1.0.0", rounds, 20*time.Millisecond)
	var sum Stats
	for _, l := range lockers {
		s := l.Stats()
		sum.Acquired += s.Acquired
		sum.Contended += s.Contended
		sum.Fallbacks += s.Fallbacks
		sum.Lost += s.Lost
	}
	if sum.Acquired != replicas*rounds || sum.Fallbacks != 0 || sum.Lost != 0 || sum.Contended == 0 {
		t.Errorf("summed stats %+v, want Acquired=%d, some Contended, no Fallbacks or Lost", sum, replicas*rounds)
	}
}

// TestRedisHolderDeath checks that a lease whose holder stops renewing is
// taken over once it expires, and not before.
func TestRedisHolderDeath(t *testing.T) {
	const lease = 600 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("raw SET", func(t *testing.T) {
		srv := startRedis(t)
		raw := rawClient(t, srv.URL())
		waiter := newLocker(t, srv.URL(), RedisOptions{Poll: 50 * time.Millisecond})

		start := time.Now()
		// A replica that took the lease and died at once.
		if ok, err := raw.SetNX(ctx, DefaultPrefix+"k", "dead-replica", lease).Result(); err != nil || !ok {
			t.Fatalf("SET NX = %v, %v", ok, err)
		}
		release := mustAcquire(t, ctx, waiter, "k")
		defer release()
		elapsed := time.Since(start)
		if elapsed < lease-100*time.Millisecond || elapsed > lease+time.Second {
			t.Errorf("took over after %v, want about %v (the lease)", elapsed, lease)
		}
	})

	t.Run("replica closed while holding", func(t *testing.T) {
		srv := startRedis(t)
		holder := newLocker(t, srv.URL(), RedisOptions{Lease: lease})
		waiter := newLocker(t, srv.URL(), RedisOptions{Lease: lease, Poll: 50 * time.Millisecond})

		_ = mustAcquire(t, ctx, holder, "k") // never released: the replica dies
		res := goAcquire(ctx, waiter, "k")
		// Renewal keeps the lease alive beyond its length.
		assertBlocked(t, res, 2*lease)

		died := time.Now()
		if err := holder.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		got := receive(t, res, 5*time.Second)
		if got.err != nil || !got.held {
			t.Fatalf("waiter: held %v, err %v; want held", got.held, got.err)
		}
		defer got.release()
		// The last renewal was at most Lease/3 before the death, so the
		// lease ran out between 2/3 Lease and Lease after it.
		after := got.at.Sub(died)
		if after < lease/2 || after > lease+time.Second {
			t.Errorf("waiter took over %v after the holder died, want between %v and %v",
				after, lease/2, lease+time.Second)
		}
	})
}

// TestRedisRenewal checks that a holder keeps its lease for many lease
// lengths while another replica keeps trying.
func TestRedisRenewal(t *testing.T) {
	const lease = 300 * time.Millisecond
	srv := startRedis(t)
	raw := rawClient(t, srv.URL())
	holder := newLocker(t, srv.URL(), RedisOptions{Lease: lease})
	other := newLocker(t, srv.URL(), RedisOptions{Lease: lease, Poll: 30 * time.Millisecond})
	ctx := context.Background()

	release := mustAcquire(t, ctx, holder, "k")
	token, err := raw.Get(ctx, DefaultPrefix+"k").Result()
	if err != nil {
		t.Fatalf("GET lease: %v", err)
	}

	wctx, cancel := context.WithTimeout(ctx, 6*lease)
	defer cancel()
	res := goAcquire(wctx, other, "k")
	for time.Now().Add(50 * time.Millisecond).Before(mustDeadline(t, wctx)) {
		v, err := raw.Get(ctx, DefaultPrefix+"k").Result()
		if err != nil || v != token {
			t.Fatalf("lease value = %q, %v during the hold; want holder's token %q", v, err, token)
		}
		pttl, err := raw.PTTL(ctx, DefaultPrefix+"k").Result()
		if err != nil || pttl <= 0 || pttl > lease {
			t.Fatalf("lease PTTL = %v, %v; want in (0, %v]", pttl, err, lease)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := receive(t, res, 2*time.Second)
	if got.held || !errors.Is(got.err, context.DeadlineExceeded) {
		t.Fatalf("other replica: held %v, err %v; want its ctx to expire while waiting", got.held, got.err)
	}
	got.release()

	release()
	release2 := mustAcquire(t, ctx, other, "k")
	release2()
	if s := holder.Stats(); s.Lost != 0 || s.Acquired != 1 {
		t.Errorf("holder stats %+v, want Acquired=1, Lost=0", s)
	}
}

func mustDeadline(t testing.TB, ctx context.Context) time.Time {
	t.Helper()
	d, ok := ctx.Deadline()
	if !ok {
		t.Fatal("ctx has no deadline")
	}
	return d
}

// TestRedisReleaseWakesWaiter checks that a release on one replica wakes a
// waiter on another at once rather than at its next poll, also after Redis
// restarted and the subscription had to be re-established.
func TestRedisReleaseWakesWaiter(t *testing.T) {
	const poll = 10 * time.Second // a wake-up by polling would take >= 7.5s
	const prompt = 500 * time.Millisecond
	srv := startRedis(t)
	holder := newLocker(t, srv.URL(), RedisOptions{})
	waiter := newLocker(t, srv.URL(), RedisOptions{Poll: poll})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	check := func(t *testing.T) {
		release := mustAcquire(t, ctx, holder, "k")
		res := goAcquire(ctx, waiter, "k")
		assertBlocked(t, res, 200*time.Millisecond)
		released := time.Now()
		release()
		got := receive(t, res, 5*time.Second)
		if got.err != nil || !got.held {
			t.Fatalf("waiter: held %v, err %v; want held", got.held, got.err)
		}
		got.release()
		if d := got.at.Sub(released); d > prompt {
			t.Errorf("waiter woke %v after the release, want under %v", d, prompt)
		}
	}

	waitSubscribed(t, waiter, 1)
	t.Run("first", check)
	srv.restart()
	waitSubscribed(t, waiter, 2)
	t.Run("after restart", check)
}

// TestRedisUnavailable checks that a dead or paused Redis makes Acquire give
// up quickly with held=false and no error.
func TestRedisUnavailable(t *testing.T) {
	const opTimeout = 300 * time.Millisecond
	const margin = 700 * time.Millisecond
	ctx := context.Background()

	t.Run("down", func(t *testing.T) {
		srv := startRedis(t)
		l := newLocker(t, srv.URL(), RedisOptions{OpTimeout: opTimeout, Cooldown: 500 * time.Millisecond})
		mustAcquire(t, ctx, l, "warm-up")() // the pool has a connection
		srv.stop()

		start := time.Now()
		release, held, err := l.Acquire(ctx, "k")
		if err != nil || held || release == nil {
			t.Fatalf("Acquire = release %v, held %v, err %v; want a release func, held=false, no error",
				release != nil, held, err)
		}
		if d := time.Since(start); d > opTimeout+margin {
			t.Errorf("Acquire took %v with Redis down, want under %v", d, opTimeout+margin)
		}
		release()
		release()

		// Redis comes back: after the cooldown the lock works again.
		srv.restart()
		time.Sleep(600 * time.Millisecond)
		mustAcquire(t, ctx, l, "k")()
	})

	t.Run("down from the start", func(t *testing.T) {
		srv := startRedis(t)
		url := srv.URL()
		srv.stop()
		l := newLocker(t, url, RedisOptions{OpTimeout: opTimeout})
		start := time.Now()
		if _, held, err := l.Acquire(ctx, "k"); err != nil || held {
			t.Fatalf("Acquire = held %v, err %v; want held=false, no error", held, err)
		}
		if d := time.Since(start); d > opTimeout+margin {
			t.Errorf("Acquire took %v with Redis down, want under %v", d, opTimeout+margin)
		}
	})

	// pause makes Redis stop answering every client for 3s, as a stuck or
	// overloaded server would.
	pause := func(t *testing.T, srv *testRedis) {
		t.Helper()
		if err := rawClient(t, srv.URL()).Do(ctx, "CLIENT", "PAUSE", 3000, "ALL").Err(); err != nil {
			t.Fatalf("CLIENT PAUSE: %v", err)
		}
	}

	t.Run("slow", func(t *testing.T) {
		srv := startRedis(t)
		l := newLocker(t, srv.URL(), RedisOptions{OpTimeout: opTimeout})
		mustAcquire(t, ctx, l, "warm-up")()
		pause(t, srv)

		start := time.Now()
		release, held, err := l.Acquire(ctx, "k")
		if err != nil || held || release == nil {
			t.Fatalf("Acquire = release %v, held %v, err %v; want a release func, held=false, no error",
				release != nil, held, err)
		}
		if d := time.Since(start); d < opTimeout-50*time.Millisecond || d > opTimeout+margin {
			t.Errorf("Acquire took %v with Redis paused, want about %v", d, opTimeout)
		}
		release()

		// During the cooldown Redis, still paused, is not even asked.
		start = time.Now()
		if _, held, err := l.Acquire(ctx, "k"); err != nil || held {
			t.Fatalf("Acquire in cooldown = held %v, err %v; want held=false, no error", held, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("Acquire in cooldown took %v, want immediate", d)
		}
		if s := l.Stats(); s.Fallbacks != 2 || s.Acquired != 1 {
			t.Errorf("stats %+v, want Acquired=1 (the warm-up), Fallbacks=2", s)
		}
	})

	t.Run("slow while waiting", func(t *testing.T) {
		srv := startRedis(t)
		holder := newLocker(t, srv.URL(), RedisOptions{OpTimeout: opTimeout})
		waiter := newLocker(t, srv.URL(), RedisOptions{OpTimeout: opTimeout, Poll: 100 * time.Millisecond})
		release := mustAcquire(t, ctx, holder, "k")
		res := goAcquire(ctx, waiter, "k")
		assertBlocked(t, res, 200*time.Millisecond)

		pause(t, srv)
		paused := time.Now()
		got := receive(t, res, 5*time.Second)
		if got.err != nil || got.held {
			t.Fatalf("waiter: held %v, err %v; want held=false, no error", got.held, got.err)
		}
		got.release()
		// Its next poll (within 125ms) times out after OpTimeout.
		if d := got.at.Sub(paused); d > 125*time.Millisecond+opTimeout+margin {
			t.Errorf("waiter gave up %v after Redis paused, want under %v", d, 125*time.Millisecond+opTimeout+margin)
		}

		start := time.Now()
		release()
		if d := time.Since(start); d > opTimeout+margin {
			t.Errorf("release took %v with Redis paused, want under %v", d, opTimeout+margin)
		}
	})
}

// TestRedisCancelWhileWaiting checks that a waiter returns its ctx's error
// as soon as ctx ends, and leaves nothing behind.
func TestRedisCancelWhileWaiting(t *testing.T) {
	srv := startRedis(t)
	holder := newLocker(t, srv.URL(), RedisOptions{})
	waiter := newLocker(t, srv.URL(), RedisOptions{Poll: 5 * time.Second})
	release := mustAcquire(t, context.Background(), holder, "k")
	defer release()

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		res := goAcquire(ctx, waiter, "k")
		assertBlocked(t, res, 200*time.Millisecond)
		canceled := time.Now()
		cancel()
		got := receive(t, res, 2*time.Second)
		if !errors.Is(got.err, context.Canceled) || got.held || got.release == nil {
			t.Fatalf("Acquire = release %v, held %v, err %v; want a release func, held=false, context.Canceled",
				got.release != nil, got.held, got.err)
		}
		got.release()
		if d := got.at.Sub(canceled); d > 100*time.Millisecond {
			t.Errorf("Acquire returned %v after cancel, want under 100ms", d)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, held, err := waiter.Acquire(ctx, "k")
		if !errors.Is(err, context.DeadlineExceeded) || held {
			t.Fatalf("Acquire = held %v, err %v; want context.DeadlineExceeded", held, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Acquire returned after %v, want about 300ms", d)
		}
	})

	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, held, err := waiter.Acquire(ctx, "other"); !errors.Is(err, context.Canceled) || held {
			t.Fatalf("Acquire = held %v, err %v; want context.Canceled", held, err)
		}
	})

	if n := waiter.waiting(); n != 0 {
		t.Errorf("%d keys still registered for wake-ups, want 0", n)
	}
	if s := waiter.Stats(); s.Acquired != 0 || s.Fallbacks != 0 {
		t.Errorf("waiter stats %+v, want nothing acquired and no fallbacks", s)
	}
}

// TestRedisLostLease checks that a holder whose lease was taken over neither
// extends nor deletes the new holder's lease.
func TestRedisLostLease(t *testing.T) {
	ctx := context.Background()
	const key = DefaultPrefix + "k"

	t.Run("release", func(t *testing.T) {
		srv := startRedis(t)
		raw := rawClient(t, srv.URL())
		a := newLocker(t, srv.URL(), RedisOptions{Lease: 10 * time.Second})
		b := newLocker(t, srv.URL(), RedisOptions{})

		releaseA := mustAcquire(t, ctx, a, "k")
		// A's lease "expires" and B takes the key.
		if err := raw.Del(ctx, key).Err(); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		releaseB := mustAcquire(t, ctx, b, "k")
		tokenB, err := raw.Get(ctx, key).Result()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}

		releaseA()
		if v, err := raw.Get(ctx, key).Result(); err != nil || v != tokenB {
			t.Fatalf("after the old holder's release the lease is %q, %v; want B's %q", v, err, tokenB)
		}
		releaseB()
		if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Fatalf("after B's release EXISTS = %d, %v; want 0", n, err)
		}
	})

	t.Run("renew", func(t *testing.T) {
		const lease = 300 * time.Millisecond
		srv := startRedis(t)
		raw := rawClient(t, srv.URL())
		a := newLocker(t, srv.URL(), RedisOptions{Lease: lease})

		releaseA := mustAcquire(t, ctx, a, "k")
		// Another replica holds the key now, with no expiry.
		if err := raw.Set(ctx, key, "other-replica", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for a.Stats().Lost == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s := a.Stats(); s.Lost != 1 {
			t.Fatalf("stats %+v, want Lost=1 after a renewal found the lease taken", s)
		}
		if pttl, err := raw.PTTL(ctx, key).Result(); err != nil || pttl != -1 {
			t.Errorf("PTTL of the other holder's key = %v, %v; want -1 (untouched by renewal)", pttl, err)
		}
		releaseA()
		if v, err := raw.Get(ctx, key).Result(); err != nil || v != "other-replica" {
			t.Errorf("after the old holder's release the key is %q, %v; want %q", v, err, "other-replica")
		}
	})
}

// TestRedisReleaseAfterCtxEnd checks that a lease outlives the ctx that
// acquired it and that release works after that ctx ended, and only once.
func TestRedisReleaseAfterCtxEnd(t *testing.T) {
	const lease = 300 * time.Millisecond
	const key = DefaultPrefix + "k"
	srv := startRedis(t)
	raw := rawClient(t, srv.URL())
	l := newLocker(t, srv.URL(), RedisOptions{Lease: lease})
	other := newLocker(t, srv.URL(), RedisOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	release := mustAcquire(t, ctx, l, "k")
	cancel()
	time.Sleep(3 * lease) // still renewed
	if n, err := raw.Exists(context.Background(), key).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS after 3 leases = %d, %v; want 1", n, err)
	}

	release()
	if n, err := raw.Exists(context.Background(), key).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after release = %d, %v; want 0", n, err)
	}

	releaseOther := mustAcquire(t, context.Background(), other, "k")
	defer releaseOther()
	release() // a second call must not touch the new holder's lease
	if n, err := raw.Exists(context.Background(), key).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS after a repeated release = %d, %v; want 1", n, err)
	}
}

// TestRedisWaitCap checks that with Wait set a waiter gives up after Wait
// and goes on without the lease.
func TestRedisWaitCap(t *testing.T) {
	const wait = 300 * time.Millisecond
	srv := startRedis(t)
	holder := newLocker(t, srv.URL(), RedisOptions{})
	waiter := newLocker(t, srv.URL(), RedisOptions{Wait: wait})
	ctx := context.Background()
	release := mustAcquire(t, ctx, holder, "k")
	defer release()

	start := time.Now()
	got, held, err := waiter.Acquire(ctx, "k")
	if err != nil || held || got == nil {
		t.Fatalf("Acquire = release %v, held %v, err %v; want a release func, held=false, no error",
			got != nil, held, err)
	}
	if d := time.Since(start); d < wait || d > wait+500*time.Millisecond {
		t.Errorf("gave up after %v, want about %v", d, wait)
	}
	if s := waiter.Stats(); s.Fallbacks != 1 {
		t.Errorf("stats %+v, want Fallbacks=1", s)
	}
}

// TestRedisClosed checks Acquire and Close after Close.
func TestRedisClosed(t *testing.T) {
	srv := startRedis(t)
	l, err := NewRedis(srv.URL(), RedisOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	release := mustAcquire(t, context.Background(), l, "k")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	release() // safe after Close
	if _, held, err := l.Acquire(context.Background(), "k2"); err != nil || held {
		t.Fatalf("Acquire after Close = held %v, err %v; want held=false, no error", held, err)
	}
}

func TestNewRedisOptions(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		opts      RedisOptions
		wantErr   string
	}{
		{"bad scheme", "http://127.0.0.1:6379", RedisOptions{}, "scheme"},
		{"bad db", "redis://127.0.0.1:6379/x", RedisOptions{}, "database"},
		{"bad port", "redis://user:s3cret@127.0.0.1:port/0", RedisOptions{}, "port"},
		{"negative wait", "redis://127.0.0.1:6379", RedisOptions{Wait: -1}, "Wait"},
		{"short lease", "redis://127.0.0.1:6379", RedisOptions{Lease: time.Millisecond}, "Lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRedis(tc.url, tc.opts)
			if err == nil {
				r.Close()
				t.Fatalf("NewRedis(%q) succeeded, want an error", tc.url)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		r, err := NewRedis("redis://127.0.0.1:1/2", RedisOptions{})
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		defer r.Close()
		o := r.opts
		if o.Lease != DefaultLease || o.OpTimeout != DefaultOpTimeout || o.Poll != DefaultPoll ||
			o.Cooldown != DefaultCooldown || o.Wait != 0 || o.Prefix != DefaultPrefix || o.Logger == nil {
			t.Errorf("options after defaults: %+v", o)
		}
		co := r.client.Options()
		if co.DB != 2 || co.TLSConfig != nil || co.ReadTimeout != DefaultOpTimeout || co.DialTimeout != DefaultOpTimeout {
			t.Errorf("client options: DB %d, TLS %v, read timeout %v, dial timeout %v",
				co.DB, co.TLSConfig != nil, co.ReadTimeout, co.DialTimeout)
		}
	})

	t.Run("rediss", func(t *testing.T) {
		r, err := NewRedis("rediss://user:pw@127.0.0.1:1/0", RedisOptions{})
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		defer r.Close()
		co := r.client.Options()
		if co.TLSConfig == nil || co.Username != "user" || co.Password != "pw" {
			t.Errorf("client options: TLS %v, user %q, password set %v", co.TLSConfig != nil, co.Username, co.Password != "")
		}
	})
}
