package vault

import (
	"context"
	"errors"
)

// flight is the context of the work shared by the callers with one key.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
}

// shared runs fn once for all concurrent callers with the same key. fn runs
// detached from each caller's context, so a client that goes away does not
// cut off work that others wait for; it is bounded by FillTimeout and by
// Shutdown, and cancelled when every caller waiting for it has gone (then
// nobody would get its result, and a fetch from version control would go on
// running subprocesses for nothing). While fn runs, it counts in Busy.
func (v *Vault) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	for attempt := 0; ; attempt++ {
		f := v.join(key)
		ch := v.fills.DoChan(key, func() (any, error) {
			v.workStarted()
			defer v.workDone()
			return fn(f.ctx)
		})
		select {
		case r := <-ch:
			v.leave(key, f)
			// A caller that joined just as the last one left may get
			// the cancelled work's error: it tries once more.
			if attempt == 0 && errors.Is(r.Err, context.Canceled) && ctx.Err() == nil && v.base.Err() == nil {
				continue
			}
			return r.Val, r.Err
		case <-ctx.Done():
			v.leave(key, f)
			return nil, ctx.Err()
		}
	}
}

// join registers a caller of the work with key and returns its flight.
func (v *Vault) join(key string) *flight {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.flights[key]
	if !ok {
		ctx, cancel := context.WithTimeout(v.base, v.opts.FillTimeout)
		f = &flight{ctx: ctx, cancel: cancel}
		v.flights[key] = f
	}
	f.waiters++
	return f
}

// leave unregisters a caller; the last one to leave cancels the flight,
// which stops the work if it is still running.
func (v *Vault) leave(key string, f *flight) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if v.flights[key] == f {
			delete(v.flights, key)
		}
	}
}

// workStarted and workDone count the shared work running, for Busy and
// Shutdown. Unlike a sync.WaitGroup, the count may rise from zero while
// Shutdown waits, as requests still in progress start work (which fails
// once Shutdown cancels it).
func (v *Vault) workStarted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.busy++
}

func (v *Vault) workDone() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.busy--
	if v.busy == 0 && v.idle != nil {
		close(v.idle)
		v.idle = nil
	}
}
