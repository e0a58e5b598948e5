package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/modvault/modvault/internal/fault"
)

// ErrTooLarge is wrapped by the error of [Client.GetFile] for an answer
// larger than its limit.
var ErrTooLarge = fault.New(fault.TooLarge, "upstream answer too large")

// localError is an error of modvault's own while using an answer, such as
// a file that cannot be written: another upstream would not help, so
// [Client.try] returns it at once.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// unwrapLocal returns the error inside a [localError], else err.
func unwrapLocal(err error) error {
	var local localError
	if errors.As(err, &local) {
		return local.err
	}
	return err
}

// readFailed classifies err, an error reading the body of an answer: a
// stall and the end of ctx stay what they are, anything else (a body cut
// off or shorter than announced) is a bad response.
func readFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, fault.ErrTimeout) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBadResponse, err)
}

// GetBytes is [Client.Get] for small bodies: it reads at most limit bytes and
// fails if the body is longer. A body that fails half-way (cut off, stalled
// past the stall timeout, longer than limit) is that entry's error: after
// "|", the next entry is tried, as the go command does.
func (c *Client) GetBytes(ctx context.Context, path string, limit int64) ([]byte, error) {
	b, _, err := c.GetBytesFrom(ctx, path, limit)
	return b, err
}

// GetBytesFrom is [Client.GetBytes], and also returns which entry of the
// list answered: its URL without user information, or "direct" for
// version control.
func (c *Client) GetBytesFrom(ctx context.Context, path string, limit int64) ([]byte, string, error) {
	var b []byte
	from, err := c.try(ctx, path, func(body io.ReadCloser, size int64) error {
		defer body.Close()
		if size > limit {
			return fmt.Errorf("%w: %s: body of %d bytes is larger than %d bytes", ErrBadResponse, path, size, limit)
		}
		var err error
		if b, err = io.ReadAll(io.LimitReader(body, limit+1)); err != nil {
			return readFailed(ctx, err)
		}
		if int64(len(b)) > limit {
			return fmt.Errorf("%w: %s: body larger than %d bytes", ErrBadResponse, path, limit)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return b, from, nil
}

// GetFile is [Client.Get] into a file: it writes the whole body of the
// answer for path to f, from its start, and returns its size. Before each
// entry of the list it empties f, so that a body that fails half-way (cut
// off, stalled past the stall timeout, shorter than announced, longer than
// limit) leaves nothing behind when, after "|", the next entry is tried, as
// the go command does. A body longer than limit fails with an error
// wrapping [ErrTooLarge]. An error writing f ends GetFile at once; on any
// error, f holds an undefined part of a body.
func (c *Client) GetFile(ctx context.Context, path string, f *os.File, limit int64) (int64, error) {
	var n int64
	_, err := c.try(ctx, path, func(body io.ReadCloser, size int64) error {
		defer body.Close()
		n = 0
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return localError{fmt.Errorf("downloading %s: %w", path, err)}
		}
		if err := f.Truncate(0); err != nil {
			return localError{fmt.Errorf("downloading %s: %w", path, err)}
		}
		if size > limit {
			return fmt.Errorf("%w: %s: %d bytes, more than %d", ErrTooLarge, path, size, limit)
		}
		w := &fileWriter{f: f}
		var err error
		n, err = io.Copy(w, io.LimitReader(body, limit+1))
		switch {
		case w.err != nil:
			return localError{fmt.Errorf("downloading %s: %w", path, w.err)}
		case err != nil:
			return readFailed(ctx, err)
		case n > limit:
			return fmt.Errorf("%w: %s: more than %d bytes", ErrTooLarge, path, limit)
		case size >= 0 && n != size:
			return fmt.Errorf("%w: %s: got %d of %d bytes", ErrBadResponse, path, n, size)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// fileWriter writes to f and keeps the first error, so that a failed copy
// tells modvault's own failure from the upstream's.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}
