package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/modvault/modvault/internal/fault"
)

type statusError int

func (e statusError) Error() string { return fmt.Sprintf("status %d", int(e)) }
func (e statusError) FaultKind() fault.Kind {
	if e == 404 {
		return fault.NotFound
	}
	return fault.Refused
}

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want fault.Kind
	}{
		{errors.New("disk on fire"), fault.Internal},
		{fs.ErrNotExist, fault.NotFound},
		{fmt.Errorf("open x: %w", fs.ErrNotExist), fault.NotFound},
		{fmt.Errorf("x: %w", fault.ErrBadUpstream), fault.BadUpstream},
		{fmt.Errorf("x: %w", fault.ErrTooLarge), fault.TooLarge},
		{context.DeadlineExceeded, fault.Timeout},
		{fmt.Errorf("fill: %w", context.Canceled), fault.Canceled},
		{fmt.Errorf("get: %w", statusError(403)), fault.Refused},
		{fmt.Errorf("get: %w", statusError(404)), fault.NotFound},
		// An ended context wins over every other kind in the chain.
		{fmt.Errorf("%w: %w", fault.ErrUnavailable, context.Canceled), fault.Canceled},
		{fmt.Errorf("%w: %w", fault.ErrVerification, context.DeadlineExceeded), fault.Timeout},
		// Else the outermost Kinder wins over a cause deeper in the chain.
		{fmt.Errorf("%w: %w", fault.ErrBadUpstream, statusError(404)), fault.BadUpstream},
	} {
		if got := fault.Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestMissingSentinelsMatchErrNotExist(t *testing.T) {
	gone := fault.New(fault.Gone, "gone")
	if !errors.Is(fmt.Errorf("x: %w", gone), fs.ErrNotExist) || !errors.Is(fault.ErrNotFound, fs.ErrNotExist) {
		t.Error("NotFound and Gone sentinels must match fs.ErrNotExist")
	}
	if errors.Is(fault.ErrBadUpstream, fs.ErrNotExist) {
		t.Error("BadUpstream matches fs.ErrNotExist")
	}
}

func TestKindNamesAreDistinct(t *testing.T) {
	seen := map[string]fault.Kind{}
	for _, k := range fault.Kinds() {
		if prev, ok := seen[k.String()]; ok {
			t.Errorf("kinds %d and %d are both named %q", prev, k, k.String())
		}
		seen[k.String()] = k
	}
}
