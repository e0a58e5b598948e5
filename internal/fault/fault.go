// Package fault gives every error modvault can return one meaning, so that
// each layer that must act on an error (the server choosing a status, the
// metrics choosing a label, the vault deciding what to remember as missing)
// reads the same answer from [Of] instead of deciding for itself.
//
// Lower layers say what happened, never which HTTP status it becomes: they
// return errors that wrap one of the sentinel errors below (or a type with a
// FaultKind method, such as an upstream's answer), and the edges map the
// [Kind] (internal/server for statuses, internal/metrics for labels).
package fault

import (
	"context"
	"errors"
	"io/fs"
)

// Kind is what an error means to a client of modvault.
type Kind uint8

// The kinds of error, from the most to the least specific. [Of] returns
// the first that matches.
const (
	// Internal is modvault's own failure (a store that cannot be read,
	// a temporary directory that cannot be written); the zero Kind.
	Internal Kind = iota
	// NotFound: the module or version does not exist, as far as anyone
	// asked can tell (an upstream's 404, a version that cannot belong to
	// the module, a list that ends in "off").
	NotFound
	// Gone: it existed and was removed (an upstream's 410).
	Gone
	// Invalid: the request itself is malformed (a path that names no
	// module, a bad parameter).
	Invalid
	// Refused: an upstream refused to serve it (an upstream's 403 or
	// other 4xx), with its reason.
	Refused
	// Unavailable: the upstream could not be reached or failed (a refused
	// connection, an upstream's 5xx).
	Unavailable
	// BadUpstream: an upstream answered 200 with content that cannot be
	// used (cut off, not the version asked for, not a valid zip).
	BadUpstream
	// TooLarge: the content is larger than modvault accepts.
	TooLarge
	// Verification: the content's hash is not the one the checksum
	// database recorded, or the database could not be asked.
	Verification
	// Unverifiable: the checksum database could not be asked, so the
	// content could not be verified (and was not stored).
	Unverifiable
	// Security: the checksum database was caught misbehaving; modvault
	// refuses to verify anything until an operator acts.
	Security
	// Timeout: the work did not finish in time (a fill timeout, an
	// upstream that stalled).
	Timeout
	// Canceled: the work was cancelled (modvault shutting down, every
	// client gone).
	Canceled
	// Policy: modvault's policy refuses the version.
	Policy
	numKinds
)

// Kinds returns every Kind, in order: Kinds()[k] == k.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// String returns the Kind's name, as used in metric labels.
func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not_found"
	case Gone:
		return "gone"
	case Invalid:
		return "invalid"
	case Refused:
		return "refused"
	case Unavailable:
		return "unavailable"
	case BadUpstream:
		return "bad_upstream"
	case TooLarge:
		return "too_large"
	case Verification:
		return "verification"
	case Unverifiable:
		return "unverifiable"
	case Security:
		return "security"
	case Timeout:
		return "timeout"
	case Canceled:
		return "canceled"
	case Policy:
		return "policy"
	}
	return "internal"
}

// Missing reports whether k says that the thing asked for is not to be had
// (NotFound or Gone): the answers a go command's GOPROXY list falls through
// on, and the ones worth remembering for a while.
func (k Kind) Missing() bool { return k == NotFound || k == Gone }

// sentinel is an error that carries its Kind.
type sentinel struct {
	kind Kind
	msg  string
}

func (e *sentinel) Error() string   { return e.msg }
func (e *sentinel) FaultKind() Kind { return e.kind }

// Is makes a NotFound or Gone sentinel match fs.ErrNotExist.
func (e *sentinel) Is(target error) bool { return e.kind.Missing() && target == fs.ErrNotExist }

// New returns a sentinel error of kind k with message msg. Errors that wrap
// it (fmt.Errorf with %w) have kind k. A NotFound or Gone sentinel also
// matches fs.ErrNotExist.
func New(k Kind, msg string) error { return &sentinel{kind: k, msg: msg} }

// The sentinel errors of each kind, for errors that have no more specific
// sentinel of their own package. Wrap them with %w.
var (
	ErrNotFound     = New(NotFound, "not found")
	ErrInvalid      = New(Invalid, "invalid request")
	ErrUnavailable  = New(Unavailable, "upstream unavailable")
	ErrBadUpstream  = New(BadUpstream, "invalid upstream content")
	ErrTooLarge     = New(TooLarge, "too large")
	ErrVerification = New(Verification, "verification failed")
	ErrTimeout      = New(Timeout, "timed out")
)

// Kinder is implemented by errors that know their Kind, such as an
// upstream's answer, whose Kind depends on its status.
type Kinder interface {
	FaultKind() Kind
}

// Of returns the Kind of err. An error caused by an ended context is
// Canceled or Timeout whatever else it says (the work was cut off; what the
// upstream would have answered is unknown); else the Kind is that of the
// outermost error in the chain that implements [Kinder]; else NotFound for
// fs.ErrNotExist; else Internal. Of(nil) is Internal; callers check for
// nil first.
func Of(err error) Kind {
	var k Kinder
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.As(err, &k):
		return k.FaultKind()
	case errors.Is(err, fs.ErrNotExist):
		return NotFound
	}
	return Internal
}
