// Package lock hands out named leases that let modvault replicas avoid
// duplicate work.
//
// A lease is an optimisation, never a correctness guarantee: the store's
// create-once writes and commit-marker order keep the cache consistent even
// when two replicas fill the same version at once. A Locker therefore never
// fails a caller because a lease could not be obtained; it reports held=false
// and the caller does the work itself.
//
// The intended use around a cache fill is:
//
//	release, held, err := locker.Acquire(ctx, key)
//	if err != nil {
//		return err // ctx ended while waiting
//	}
//	defer release()
//	// Whether or not held is true, look in the store again first: the
//	// previous holder has probably filled it while this caller waited.
package lock

import (
	"context"
	"fmt"
	"sync"
)

// Locker hands out named leases shared by every replica.
type Locker interface {
	// Acquire waits until it holds the lease on key, ctx ends, or the locker
	// gives up (Redis slow or down); it then returns release (never nil) and
	// held, which is false when the caller goes on without the lease.
	// An error is returned only when ctx ended.
	Acquire(ctx context.Context, key string) (release func(), held bool, err error)
}

var (
	_ Locker = (*Local)(nil)
	_ Locker = (*Redis)(nil)
)

// noop is the release func returned when no lease is held.
func noop() {}

// Local is a Locker for one process: each key is an in-process mutex, so
// concurrent Acquire calls for the same key in this process take turns, and
// processes do not coordinate with each other at all.
//
// Local is a per-key mutex rather than a no-op so that a single replica
// without Redis gets the same one-fill-per-key behaviour as a fleet sharing
// Redis, and so that callers can be tested against it. It never gives up:
// Acquire returns held=true once the previous holder releases, or the ctx
// error if ctx ends first. There is no lease expiry, because a holder cannot
// die without the whole process dying; a holder that never calls release
// blocks later callers for that key until their ctx ends.
//
// The zero value is ready to use. A Local must not be copied after first use.
type Local struct {
	mu   sync.Mutex
	keys map[string]*localKey
}

// localKey is one key's mutex and the number of callers holding or waiting
// for it; the entry is dropped when that number reaches zero.
type localKey struct {
	sem  chan struct{} // capacity 1: a value in it means the key is held
	refs int
}

// Acquire waits until no other caller in this process holds key, then holds
// it. It returns held=true, or held=false and ctx's error if ctx ends first.
func (l *Local) Acquire(ctx context.Context, key string) (release func(), held bool, err error) {
	if err := ctx.Err(); err != nil {
		return noop, false, fmt.Errorf("lock: acquire %q: %w", key, err)
	}
	k := l.ref(key)
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		l.unref(key, k)
		return noop, false, fmt.Errorf("lock: acquire %q: %w", key, ctx.Err())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-k.sem
			l.unref(key, k)
		})
	}, true, nil
}

func (l *Local) ref(key string) *localKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[string]*localKey)
	}
	k := l.keys[key]
	if k == nil {
		k = &localKey{sem: make(chan struct{}, 1)}
		l.keys[key] = k
	}
	k.refs++
	return k
}

func (l *Local) unref(key string, k *localKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k.refs--
	if k.refs == 0 {
		delete(l.keys, key)
	}
}

// size reports how many keys are held or waited for; tests use it to check
// that entries are not leaked.
func (l *Local) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
