package vault

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/modvault/modvault/internal/store"
)

// observedStore is the vault's store, with the failures of its operations
// reported to Options.StoreFailed.
type observedStore struct {
	*store.Store
	failed func(op string, err error)
}

// check reports err if it is a failure of the store.
func (s observedStore) check(ctx context.Context, op string, err error) {
	if err != nil && s.failed != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
		s.failed(op, err)
	}
}

// Open is store.Store.Open, observed.
func (s observedStore) Open(ctx context.Context, key string) (store.Object, error) {
	o, err := s.Store.Open(ctx, key)
	s.check(ctx, "open", err)
	return o, err
}

// Exists is store.Store.Exists, observed.
func (s observedStore) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.Store.Exists(ctx, key)
	s.check(ctx, "exists", err)
	return ok, err
}

// ReadAll is store.Store.ReadAll, observed.
func (s observedStore) ReadAll(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.ReadAll(ctx, key)
	s.check(ctx, "read", err)
	return b, err
}

// Create is store.Store.Create, observed.
func (s observedStore) Create(ctx context.Context, key string, r io.Reader) error {
	err := s.Store.Create(ctx, key, r)
	s.check(ctx, "write", err)
	return err
}

// Put is store.Store.Put, observed.
func (s observedStore) Put(ctx context.Context, key string, r io.Reader) error {
	err := s.Store.Put(ctx, key, r)
	s.check(ctx, "write", err)
	return err
}

// List is store.Store.List, observed.
func (s observedStore) List(ctx context.Context, prefix string, fn func(store.Entry) bool) error {
	err := s.Store.List(ctx, prefix, fn)
	s.check(ctx, "list", err)
	return err
}
