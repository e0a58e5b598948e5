package lock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// takeTurns has each locker take key rounds times, holding it for hold, and
// checks that no two ever held it at once and that every turn happened.
func takeTurns(t *testing.T, ctx context.Context, lockers []Locker, key string, rounds int, hold time.Duration) {
	t.Helper()
	var inside, maxInside, turns atomic.Int32
	var wg sync.WaitGroup
	for _, l := range lockers {
		wg.Go(func() {
			for range rounds {
				release, held, err := l.Acquire(ctx, key)
				if err != nil || !held {
					t.Errorf("Acquire = held %v, err %v; want held", held, err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(hold)
				inside.Add(-1)
				turns.Add(1)
				release()
			}
		})
	}
	wg.Wait()
	if got := maxInside.Load(); got != 1 {
		t.Errorf("at most %d holders at once, want exactly 1", got)
	}
	if got, want := int(turns.Load()), len(lockers)*rounds; got != want {
		t.Errorf("%d turns completed, want %d", got, want)
	}
}

func TestLocalMutualExclusion(t *testing.T) {
	var l Local
	lockers := make([]Locker, 8)
	for i := range lockers {
		lockers[i] = &l
	}
	takeTurns(t, context.Background(), lockers, "k", 50, 50*time.Microsecond)
	if n := l.size(); n != 0 {
		t.Errorf("%d keys left in the map, want 0", n)
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	var l Local
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	releaseA := mustAcquire(t, ctx, &l, "a")
	defer releaseA()
	releaseB := mustAcquire(t, ctx, &l, "b") // does not wait for "a"
	releaseB()
}

func TestLocalCancelWhileWaiting(t *testing.T) {
	var l Local
	release := mustAcquire(t, context.Background(), &l, "k")

	ctx, cancel := context.WithCancel(context.Background())
	res := goAcquire(ctx, &l, "k")
	assertBlocked(t, res, 50*time.Millisecond)
	cancel()
	got := receive(t, res, time.Second)
	if !errors.Is(got.err, context.Canceled) || got.held || got.release == nil {
		t.Fatalf("Acquire = release %v, held %v, err %v; want a release func, held=false, context.Canceled",
			got.release != nil, got.held, got.err)
	}
	got.release() // a no-op: must not release the holder's lease

	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, held, err := l.Acquire(ctx2, "k"); !errors.Is(err, context.DeadlineExceeded) || held {
		t.Fatalf("Acquire while held = held %v, err %v; want context.DeadlineExceeded", held, err)
	}

	release()
	if n := l.size(); n != 0 {
		t.Errorf("%d keys left in the map, want 0", n)
	}
}

func TestLocalReleaseIsIdempotent(t *testing.T) {
	var l Local
	ctx := context.Background()
	releaseA := mustAcquire(t, ctx, &l, "k")
	releaseA()
	releaseB := mustAcquire(t, ctx, &l, "k")
	releaseA() // must not release B's hold

	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, held, err := l.Acquire(ctx2, "k"); !errors.Is(err, context.DeadlineExceeded) || held {
		t.Fatalf("Acquire while B holds = held %v, err %v; want context.DeadlineExceeded", held, err)
	}
	releaseB()
	mustAcquire(t, ctx, &l, "k")()
}

func TestLocalHandsOverInTurn(t *testing.T) {
	var l Local
	ctx := context.Background()
	release := mustAcquire(t, ctx, &l, "k")
	res := goAcquire(ctx, &l, "k")
	assertBlocked(t, res, 50*time.Millisecond)
	release()
	got := receive(t, res, time.Second)
	if got.err != nil || !got.held {
		t.Fatalf("waiter: held %v, err %v; want held", got.held, got.err)
	}
	got.release()
}
