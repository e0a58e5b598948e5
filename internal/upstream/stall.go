package upstream

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/modvault/modvault/internal/fault"
)

// DefaultStallTimeout is the [Options.StallTimeout] used when none is set:
// how long an upstream answer's body may go without sending a byte.
//
// Half a minute: a healthy connection, however slow, delivers a TCP segment
// every few seconds at worst, and recovers from a few lost segments well
// within it (retransmission backs off 1+2+4+8 s), so only an upstream that
// stopped sending reaches it. The go command that waits for modvault sets
// no timeout of its own on a proxy's body and would hang as long as modvault
// does, so a stalled upstream costs the user this much before the next "|"
// entry is tried or the go command gets a 504, instead of the fill timeout.
const DefaultStallTimeout = 30 * time.Second

// stallError is the error of an answer whose body sent nothing for the
// stall timeout. Its kind is [fault.Timeout]; like the other timeouts of
// an upstream (those of the direct fetcher), it also matches
// context.DeadlineExceeded.
type stallError struct {
	url     string // the request URL, without credentials
	timeout time.Duration
}

func (e *stallError) Error() string {
	return fmt.Sprintf("upstream %s: stalled: no data for %v", e.url, e.timeout)
}

func (e *stallError) Unwrap() []error { return []error{fault.ErrTimeout, context.DeadlineExceeded} }

// stallBody is the body of an answer, watched for stalls: a Read that gets
// no byte for the stall timeout fails with a [stallError], which it passes
// to the request's context to cut the connection. Only the time spent in
// Read counts, so a slow reader is no stall. Read and Close must not be
// called concurrently. Close releases the request's context and timer.
type stallBody struct {
	rc      io.ReadCloser
	url     string                  // the request URL, without credentials
	cancel  context.CancelCauseFunc // cancels the request
	timeout time.Duration           // no stall limit if <= 0
	timer   *time.Timer             // runs cancel(stall) while a Read waits
	stall   error
	err     error // the first error other than io.EOF, returned from then on
}

// watchBody returns rc, the body of a request to url whose context cancel
// cancels, watched for stalls of timeout.
func watchBody(rc io.ReadCloser, url string, timeout time.Duration, cancel context.CancelCauseFunc) *stallBody {
	b := &stallBody{rc: rc, url: url, cancel: cancel, timeout: timeout}
	b.stall = &stallError{url: url, timeout: timeout}
	return b
}

// Read reads from the body. Errors other than io.EOF name the URL; a stall
// is a [stallError]; an error after the caller's context ended wraps that
// context's cause, as the transport reports it.
func (b *stallBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.timeout > 0 {
		if b.timer == nil {
			b.timer = time.AfterFunc(b.timeout, func() { b.cancel(b.stall) })
		} else {
			b.timer.Reset(b.timeout)
		}
	}
	n, err := b.rc.Read(p)
	if b.timer != nil && !b.timer.Stop() {
		// The timer fired during this Read, which then waited for the
		// whole timeout: the request is cancelled, whatever Read says.
		err = b.stall
	}
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case err == b.stall:
		b.err = err
	default:
		b.err = fmt.Errorf("upstream %s: reading body: %w", b.url, err)
	}
	return n, b.err
}

// Close closes the body and releases the request's context and timer.
func (b *stallBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
