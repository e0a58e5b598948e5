package checksumdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/upstream"
)

// serveLatest answers /latest for a database modvault verifies with the
// verified tree head ([Verifier.Latest]), never the upstream's answer as
// such.
func (p *Proxy) serveLatest(w http.ResponseWriter, r *http.Request, v *Verifier) error {
	body, err := v.Latest(r.Context())
	if err == nil {
		p.write(w, r, "latest", body)
		return nil
	}
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue) && ue.URL == "":
		return fmt.Errorf("%w: no verified tree head in the store, and no upstream to fetch one from", fault.ErrNotFound)
	case errors.Is(err, errStoredHead):
		p.storeFailed(r.Context(), "read", err)
		return fmt.Errorf("reading the verified tree head: %w", err)
	}
	p.log.Warn("no verified checksum database tree head", "db", v.name, "err", err)
	return fmt.Errorf("%w: no verified tree head yet: %w", fault.ErrUnavailable, err)
}

// errStoredHead marks a failure to read the stored head.
var errStoredHead = errors.New("reading the stored tree head")

// Latest returns the newest signed tree head the verifier has verified
// (signed by the database's key, consistent with every head before it),
// as stored. With none stored yet, it refreshes first ([Verifier.Refresh]).
func (v *Verifier) Latest(ctx context.Context) ([]byte, error) {
	key := v.ops.latestKey()
	b, err := v.ops.store.ReadAll(ctx, key)
	if err == nil && len(b) > 0 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, errors.Join(errStoredHead, err)
	}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	if b, err = v.ops.store.ReadAll(ctx, key); err != nil {
		return nil, errors.Join(errStoredHead, err)
	}
	return b, nil
}
