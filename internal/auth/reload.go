package auth

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// watchedFile is a file parsed into a T, read again at most once per
// interval, when it is used, and parsed again when its content changed. A
// version that cannot be read or parsed is logged once and the last good
// value stays in force.
//
// The content is compared, not the modification time: the files are small,
// and a copy that keeps the time (cp -p) or two writes within the file
// system's time granularity are still seen.
type watchedFile[T any] struct {
	path  string // empty: no file, the zero T
	what  string // "users file", for messages
	parse func([]byte) (T, error)
	log   *slog.Logger
	every time.Duration

	next atomic.Int64      // UnixNano of the next check
	val  atomic.Pointer[T] // the value in force

	mu    sync.Mutex        // serializes checks
	state [sha256.Size]byte // hash of the content (or read error) last acted on
}

func newWatchedFile[T any](path, what string, parse func([]byte) (T, error), log *slog.Logger, every time.Duration) *watchedFile[T] {
	f := &watchedFile[T]{path: path, what: what, parse: parse, log: log, every: every}
	var zero T
	f.val.Store(&zero)
	return f
}

// load reads and parses the file for the first time.
func (f *watchedFile[T]) load(now time.Time) error {
	if f.path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.what, err)
	}
	v, err := f.parse(data)
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.what, f.path, err)
	}
	f.state = sha256.Sum256(data)
	f.val.Store(&v)
	f.next.Store(now.Add(f.every).UnixNano())
	return nil
}

// get returns the value in force, first checking the file if the interval
// has passed. Only one caller checks; the others meanwhile get the value in
// force without waiting.
func (f *watchedFile[T]) get(now time.Time) T {
	if f.path != "" {
		n := f.next.Load()
		if now.UnixNano() >= n && f.next.CompareAndSwap(n, now.Add(f.every).UnixNano()) {
			f.check()
		}
	}
	return *f.val.Load()
}

// check reads the file and, if its content changed, parses it.
func (f *watchedFile[T]) check() {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := os.ReadFile(f.path)
	state := sha256.Sum256(data)
	if err != nil {
		state = sha256.Sum256([]byte("error: " + err.Error()))
	}
	if state == f.state {
		return
	}
	f.state = state
	if err != nil {
		f.log.Error("auth: reading the "+f.what+" failed; the previous version stays in force", "err", err)
		return
	}
	v, err := f.parse(data)
	if err != nil {
		f.log.Error("auth: the "+f.what+" changed but is invalid; the previous version stays in force", "path", f.path, "err", err)
		return
	}
	f.val.Store(&v)
	f.log.Info("auth: reloaded the "+f.what, "path", f.path)
}
