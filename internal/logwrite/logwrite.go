// Package logwrite buffers modvault's log output, so that a request log
// line costs a copy into memory rather than a write(2) of its own: under
// load the writes are gathered into one every Interval, as a web server's
// buffered access log does.
//
// Contract: a line handed to Write reaches the underlying writer within
// Interval, or at once when the buffer holds Size bytes, or at Flush or
// Close; lines keep their order and are never split. What a crash of the
// process (SIGKILL, a runtime fatal error) finds in the buffer is lost:
// at most Interval's worth of lines.
package logwrite

import (
	"io"
	"sync"
	"time"
)

// Defaults of New.
const (
	DefaultInterval = 100 * time.Millisecond
	DefaultSize     = 64 << 10
)

// Writer is a buffered io.Writer safe for concurrent use. Make it with New.
type Writer struct {
	w        io.Writer
	interval time.Duration
	size     int

	mu      sync.Mutex
	buf     []byte
	pending bool // a flush is scheduled
	closed  bool
	err     error // the first write error, reported by Flush and Close
}

// New returns a Writer in front of w that flushes every interval and
// whenever size bytes are buffered; zero values take the defaults.
func New(w io.Writer, interval time.Duration, size int) *Writer {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if size <= 0 {
		size = DefaultSize
	}
	return &Writer{w: w, interval: interval, size: size}
}

// Write buffers p (one log record, as log/slog's handlers write them) and
// schedules a flush. After Close it writes p straight through.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	switch {
	case len(b.buf) >= b.size:
		b.flushLocked()
	case !b.pending:
		b.pending = true
		time.AfterFunc(b.interval, b.timed)
	}
	return len(p), nil
}

// timed is the scheduled flush.
func (b *Writer) timed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	b.flushLocked()
}

// flushLocked writes out the buffer; b.mu is held.
func (b *Writer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil && b.err == nil {
		b.err = err
	}
	if cap(b.buf) > 4*b.size { // one huge record: do not keep its memory
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
}

// Flush writes out what is buffered and returns the first write error
// seen so far.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.err
}

// Close flushes; later writes go straight to the underlying writer.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	return b.err
}
