package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for RedisOptions.
const (
	DefaultLease     = 30 * time.Second
	DefaultOpTimeout = time.Second
	DefaultPoll      = time.Second
	DefaultCooldown  = 5 * time.Second
	DefaultPrefix    = "modvault:lock:"
)

const (
	// healthInterval is how long the release subscription may stay silent
	// before it is pinged to check that the connection still works.
	healthInterval = 5 * time.Second
	// minResubscribeDelay and maxResubscribeDelay bound the back-off
	// between attempts to re-establish the release subscription.
	minResubscribeDelay = 100 * time.Millisecond
	maxResubscribeDelay = 30 * time.Second
	// warnEvery is the minimum gap between two "Redis unavailable" warnings;
	// the ones in between are counted and reported with the next.
	warnEvery = 10 * time.Second
)

// renewScript extends the lease only if it still holds our token.
const renewScript = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`

// releaseScript deletes the lease only if it still holds our token, and then
// tells waiters on every replica that the key is free.
const releaseScript = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.call("PUBLISH", ARGV[2], KEYS[1])
	return 1
end
return 0
`

// RedisOptions tunes a Redis locker. The zero value gives the defaults.
type RedisOptions struct {
	// Lease is how long a lease lives without renewal: the time waiters
	// wait for a holder that died. The holder renews it every Lease/3 while
	// it holds it. Default 30s; at least 3ms.
	Lease time.Duration

	// Wait caps how long Acquire waits for another replica's lease before
	// giving up and returning held=false. Zero, the default, means no cap
	// other than ctx: a waiter waits for as long as the holder keeps
	// renewing (a fill may take minutes for a large zip), because giving
	// up early only causes the duplicate fetch the lock exists to avoid.
	// A holder that dies stops renewing, so its lease expires within
	// Lease and a waiter takes over. Waiting never hides a Redis outage:
	// every retry is a Redis command bounded by OpTimeout, and its failure
	// ends the wait with held=false, so a waiter notices an outage within
	// about Poll+OpTimeout.
	Wait time.Duration

	// OpTimeout bounds each Redis command, including dialing a new
	// connection. A command slower than this counts as Redis being
	// unavailable: Acquire returns held=false. Default 1s.
	OpTimeout time.Duration

	// Poll is how often a waiter retries. Releases are also published
	// on a channel, so a waiter normally wakes as soon as the holder
	// releases; polling covers leases that expire (their holder died) and
	// releases missed while the subscription was down. Default 1s.
	Poll time.Duration

	// Cooldown is how long Acquire returns held=false straight away,
	// without asking Redis, after a Redis command failed, so that an
	// outage does not add OpTimeout to every cache miss. Default 5s.
	Cooldown time.Duration

	// Prefix is prepended to every key. Releases are published on the
	// channel Prefix+"released". Default "modvault:lock:".
	Prefix string

	// Logger receives warnings about Redis trouble and lost leases.
	// Default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Redis locker did since it was created.
type Stats struct {
	// Acquired counts Acquire calls that returned held=true.
	Acquired uint64
	// Contended counts those of Acquired that first had to wait for
	// another holder.
	Contended uint64
	// Fallbacks counts Acquire calls that returned held=false without a
	// ctx error: Redis failed or was slow, was in its cooldown, or the
	// Wait cap was reached.
	Fallbacks uint64
	// Lost counts leases that a holder found were no longer its own when
	// it tried to renew them.
	Lost uint64
}

// Redis is a Locker whose leases live in Redis, shared by every replica that
// uses the same Redis and Prefix. Use NewRedis to create one and Close it when
// done.
type Redis struct {
	client  *redis.Client
	opts    RedisOptions
	log     *slog.Logger
	channel string
	renew   *redis.Script
	release *redis.Script

	stop context.CancelFunc // ends the background goroutines
	done <-chan struct{}    // closed by stop
	wg   sync.WaitGroup     // background goroutines

	mu         sync.Mutex
	closed     bool
	subscribed bool                                  // the release subscription is live
	subs       int                                   // subscriptions established so far
	waiters    map[string]map[chan struct{}]struct{} // Redis key -> wake channels

	skipUntil atomic.Int64 // unix nanoseconds until which Acquire skips Redis

	warnMu         sync.Mutex
	lastWarn       time.Time
	suppressedWarn int

	acquired  atomic.Uint64
	contended atomic.Uint64
	fallbacks atomic.Uint64
	lost      atomic.Uint64
}

// NewRedis returns a Locker using the Redis server at rawURL, which has the
// form redis://[user:password@]host:port/db, or rediss://… for TLS (the
// unix:// form of go-redis is accepted too). It does not contact Redis:
// Redis being down at start-up only makes Acquire return held=false until
// it is back. NewRedis fails only on a bad URL or bad options.
func NewRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ropt, err := redis.ParseURL(rawURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("lock: parse redis URL: %w", err)
	}
	ropt.DialTimeout = opts.OpTimeout
	ropt.DialerRetries = 1 // a retry would only burn the OpTimeout budget
	ropt.MaxRetries = 1    // one retry covers a pooled connection gone stale
	ropt.ReadTimeout = opts.OpTimeout
	ropt.WriteTimeout = opts.OpTimeout
	ropt.PoolTimeout = opts.OpTimeout
	ropt.ContextTimeoutEnabled = true

	ctx, stop := context.WithCancel(context.Background())
	r := &Redis{
		client:  redis.NewClient(ropt),
		opts:    opts,
		log:     opts.Logger.With("redis", ropt.Addr),
		channel: opts.Prefix + "released",
		renew:   redis.NewScript(renewScript),
		release: redis.NewScript(releaseScript),
		stop:    stop,
		done:    ctx.Done(),
		waiters: make(map[string]map[chan struct{}]struct{}),
	}
	r.wg.Add(1)
	go r.listen(ctx)
	return r, nil
}

func (o RedisOptions) withDefaults() (RedisOptions, error) {
	for _, d := range []struct {
		name string
		val  *time.Duration
		def  time.Duration
	}{
		{"Lease", &o.Lease, DefaultLease},
		{"Wait", &o.Wait, 0},
		{"OpTimeout", &o.OpTimeout, DefaultOpTimeout},
		{"Poll", &o.Poll, DefaultPoll},
		{"Cooldown", &o.Cooldown, DefaultCooldown},
	} {
		if *d.val < 0 {
			return o, fmt.Errorf("lock: RedisOptions.%s is negative (%v)", d.name, *d.val)
		}
		if *d.val == 0 {
			*d.val = d.def
		}
	}
	if o.Lease < 3*time.Millisecond {
		return o, fmt.Errorf("lock: RedisOptions.Lease %v is shorter than 3ms", o.Lease)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Close stops lease renewal and the release subscription and closes the
// connections to Redis. Leases still held are not released: they expire
// after Lease, as if this replica had died. Acquire returns held=false after
// Close; release funcs stay safe to call.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()

	r.stop()
	err := r.client.Close()
	r.wg.Wait()
	if err != nil {
		return fmt.Errorf("lock: close redis client: %w", err)
	}
	return nil
}

// Stats returns the locker's counters.
func (r *Redis) Stats() Stats {
	return Stats{
		Acquired:  r.acquired.Load(),
		Contended: r.contended.Load(),
		Fallbacks: r.fallbacks.Load(),
		Lost:      r.lost.Load(),
	}
}

// Acquire implements Locker. It tries SET key token NX PX Lease and, while
// another replica holds the key, waits for a release message or the next
// poll and tries again. It returns held=false as soon as a Redis command
// fails or takes longer than OpTimeout, during the Cooldown after such a
// failure, after Close, and when the Wait cap (if any) is reached.
func (r *Redis) Acquire(ctx context.Context, key string) (release func(), held bool, err error) {
	if err := ctx.Err(); err != nil {
		return noop, false, fmt.Errorf("lock: acquire %q: %w", key, err)
	}
	select {
	case <-r.done:
		r.fallbacks.Add(1)
		return noop, false, nil
	default:
	}
	if time.Now().UnixNano() < r.skipUntil.Load() {
		r.fallbacks.Add(1)
		return noop, false, nil
	}

	rkey := r.opts.Prefix + key
	token := rand.Text()
	wake := r.addWaiter(rkey)
	defer r.removeWaiter(rkey, wake)

	var waitCap <-chan time.Time
	if r.opts.Wait > 0 {
		t := time.NewTimer(r.opts.Wait)
		defer t.Stop()
		waitCap = t.C
	}

	start := time.Now()
	waited := false
	for {
		ok, err := r.trySet(ctx, rkey, token)
		if err != nil {
			if !isDialError(err) {
				// The SET may have reached Redis even though its
				// reply did not reach us: take it back so that others
				// need not wait for it to expire.
				r.goDelete(context.WithoutCancel(ctx), rkey, token)
			}
			if ctx.Err() != nil {
				return noop, false, fmt.Errorf("lock: acquire %q: %w", key, ctx.Err())
			}
			r.skipUntil.Store(time.Now().Add(r.opts.Cooldown).UnixNano())
			r.fallbacks.Add(1)
			r.warnUnavailable("lock: redis unavailable; going on without the lease",
				"key", key, "err", err, "cooldown", r.opts.Cooldown)
			return noop, false, nil
		}
		if ok {
			r.acquired.Add(1)
			if waited {
				r.contended.Add(1)
				r.log.Debug("lock: acquired after waiting", "key", key, "waited", time.Since(start))
			}
			return r.hold(ctx, key, rkey, token), true, nil
		}

		waited = true
		poll := time.NewTimer(r.pollDelay())
		select {
		case <-ctx.Done():
			poll.Stop()
			return noop, false, fmt.Errorf("lock: acquire %q: %w", key, ctx.Err())
		case <-waitCap:
			poll.Stop()
			r.fallbacks.Add(1)
			r.log.Info("lock: gave up waiting for another holder; going on without the lease",
				"key", key, "waited", time.Since(start))
			return noop, false, nil
		case <-r.done:
			poll.Stop()
			r.fallbacks.Add(1)
			return noop, false, nil
		case <-wake:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// trySet runs SET rkey token NX PX Lease and reports whether it took the
// lease.
func (r *Redis) trySet(ctx context.Context, rkey, token string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	defer cancel()
	ok, err := r.client.SetNX(ctx, rkey, token, r.opts.Lease).Result()
	if err != nil {
		return false, fmt.Errorf("set %s NX: %w", rkey, err)
	}
	return ok, nil
}

// isDialError reports whether err means that no connection to Redis could
// be made, so that no command was sent.
func isDialError(err error) bool {
	var oerr *net.OpError
	return errors.As(err, &oerr) && oerr.Op == "dial"
}

// pollDelay returns Poll with ±25% jitter, so that waiters on different
// replicas do not retry in lock step.
func (r *Redis) pollDelay() time.Duration {
	quarter := r.opts.Poll / 4
	if quarter <= 0 {
		return r.opts.Poll
	}
	return r.opts.Poll - quarter + mrand.N(2*quarter)
}

// hold starts renewing the lease and returns its release func.
func (r *Redis) hold(ctx context.Context, key, rkey, token string) func() {
	// The lease outlives the ctx that acquired it: the holder's work may
	// go on after that request is gone, and release must still work.
	ctx = context.WithoutCancel(ctx)
	stopRenew := make(chan struct{})
	r.goBackground(func() { r.renewLoop(ctx, key, rkey, token, stopRenew) })

	var once sync.Once
	return func() {
		once.Do(func() {
			close(stopRenew)
			r.del(ctx, key, rkey, token)
		})
	}
}

// renewLoop extends the lease every Lease/3 until stopRenew is closed, the
// locker is closed, or the lease turns out to be lost.
func (r *Redis) renewLoop(ctx context.Context, key, rkey, token string, stopRenew <-chan struct{}) {
	tick := time.NewTicker(r.opts.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-stopRenew:
			return
		case <-r.done:
			return
		case <-tick.C:
		}
		ok, err := r.renewOnce(ctx, rkey, token)
		select {
		case <-stopRenew:
			// Released meanwhile: a "lost" answer is our own release.
			return
		case <-r.done:
			// Closed meanwhile: the error is the closed client.
			return
		default:
		}
		switch {
		case err != nil:
			r.warnUnavailable("lock: renewing lease failed; retrying", "key", key, "err", err)
		case !ok:
			r.lost.Add(1)
			r.log.Warn("lock: lease lost (it expired and may have been taken by another replica); "+
				"work goes on, another replica may duplicate it", "key", key)
			return
		}
	}
}

func (r *Redis) renewOnce(ctx context.Context, rkey, token string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	defer cancel()
	n, err := r.renew.Run(ctx, r.client, []string{rkey}, token, r.opts.Lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew %s: %w", rkey, err)
	}
	return n == 1, nil
}

// del deletes the lease if it still holds token, and publishes the release.
func (r *Redis) del(ctx context.Context, key, rkey, token string) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	defer cancel()
	n, err := r.release.Run(ctx, r.client, []string{rkey}, token, r.channel).Int()
	switch {
	case err != nil && r.isClosed():
		r.log.Debug("lock: locker closed; lease will expire by itself", "key", key)
	case err != nil:
		r.warnUnavailable("lock: releasing lease failed; it will expire by itself",
			"key", key, "err", err)
	case n == 0:
		r.log.Debug("lock: lease was already gone at release", "key", key)
	}
}

func (r *Redis) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// goDelete runs del in the background.
func (r *Redis) goDelete(ctx context.Context, rkey, token string) {
	r.goBackground(func() {
		ctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
		defer cancel()
		// Best effort: the lease expires anyway.
		_ = r.release.Run(ctx, r.client, []string{rkey}, token, r.channel).Err()
	})
}

// goBackground runs fn in a goroutine that Close waits for, unless the
// locker is already closed.
func (r *Redis) goBackground(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

// addWaiter registers a channel that is signalled when rkey is released.
func (r *Redis) addWaiter(rkey string) chan struct{} {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.waiters[rkey]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		r.waiters[rkey] = set
	}
	set[ch] = struct{}{}
	return ch
}

func (r *Redis) removeWaiter(rkey string, ch chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.waiters[rkey]
	delete(set, ch)
	if len(set) == 0 {
		delete(r.waiters, rkey)
	}
}

// wake signals the waiters for rkey, or every waiter if rkey is "".
func (r *Redis) wake(rkey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, set := range r.waiters {
		if rkey != "" && k != rkey {
			continue
		}
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// listen keeps a subscription to the release channel and wakes waiters when
// a key they wait for is released. While it is down, waiters still poll.
func (r *Redis) listen(ctx context.Context) {
	defer r.wg.Done()
	delay := minResubscribeDelay
	for {
		wasUp, err := r.listenOnce(ctx)
		r.setSubscribed(false)
		if ctx.Err() != nil {
			return
		}
		if wasUp {
			delay = minResubscribeDelay
		}
		r.log.Debug("lock: release subscription down; waiters poll until it is back",
			"err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxResubscribeDelay)
	}
}

// listenOnce subscribes and relays release messages until the connection
// fails. It reports whether the subscription was established.
func (r *Redis) listenOnce(ctx context.Context) (bool, error) {
	ps := r.client.Subscribe(ctx) // no channels yet: does no I/O
	defer ps.Close()

	sctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	err := ps.Subscribe(sctx, r.channel)
	cancel()
	if err != nil {
		return false, fmt.Errorf("subscribe %s: %w", r.channel, err)
	}

	up := false
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return up, ctx.Err()
			}
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() && !pinged {
				// Silence: check that the connection is still alive.
				pctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
				err = ps.Ping(pctx)
				cancel()
				if err == nil {
					pinged = true
					continue
				}
			}
			return up, fmt.Errorf("receive on %s: %w", r.channel, err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !up {
				up = true
				r.setSubscribed(true)
				// Releases may have been missed while the
				// subscription was down: let every waiter retry.
				r.wake("")
			}
		case *redis.Message:
			r.wake(m.Payload)
		}
	}
}

func (r *Redis) setSubscribed(up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribed = up
	if up {
		r.subs++
	}
}

// subscription reports whether the release subscription is live and how
// many times it has been established; tests use it.
func (r *Redis) subscription() (up bool, count int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subscribed, r.subs
}

// waiting reports how many keys have Acquire calls registered for wakeups;
// tests use it to check that registrations are not leaked.
func (r *Redis) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiters)
}

// warnUnavailable logs a warning about Redis trouble, at most once per
// warnEvery; the warnings dropped in between are counted in the next one.
func (r *Redis) warnUnavailable(msg string, args ...any) {
	r.warnMu.Lock()
	now := time.Now()
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < warnEvery {
		r.suppressedWarn++
		r.warnMu.Unlock()
		return
	}
	suppressed := r.suppressedWarn
	r.lastWarn = now
	r.suppressedWarn = 0
	r.warnMu.Unlock()

	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Warn(msg, args...)
}
