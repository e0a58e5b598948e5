package vault

import (
	"context"
	"slices"
	"time"

	"github.com/modvault/modvault/internal/fault"
)

// upstreamAnswer is an upstream answer remembered for ListTTL: a list, an
// @latest .info, or "not found" (err) for one of them or for a version
// (under the key "missing <.info key>").
type upstreamAnswer struct {
	body    []byte
	err     error
	expires time.Time
}

// cachedGet fetches a small upstream answer (list or latest), reusing an
// answer, success or not-found, for ListTTL. Concurrent callers share one
// upstream request. Other failures are not remembered. fresh, if not nil,
// is called once with each answer that arrives from the upstream.
func (v *Vault) cachedGet(ctx context.Context, path string, limit int64, fresh func(ctx context.Context, body []byte)) ([]byte, Source, error) {
	if c, ok := v.cachedAnswer(path); ok {
		return c.body, Cached, c.err
	}
	val, err := v.shared(ctx, "get "+path, func(fctx context.Context) (any, error) {
		// An earlier flight may have ended just before this one started.
		if c, ok := v.cachedAnswer(path); ok {
			return c.body, c.err
		}
		body, err := v.up.GetBytes(fctx, path, limit)
		if err == nil || fault.Of(err).Missing() {
			v.remember(path, body, err)
		}
		if err == nil && fresh != nil {
			fresh(fctx, body)
		}
		return body, err
	})
	body, _ := val.([]byte)
	return slices.Clip(body), Upstream, err
}

// remember keeps an upstream answer under key for ListTTL.
func (v *Vault) remember(key string, body []byte, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.answers) >= maxMemo {
		clear(v.answers)
	}
	v.answers[key] = upstreamAnswer{body: body, err: err, expires: time.Now().Add(v.opts.ListTTL)}
}

// cachedAnswer returns the unexpired upstream answer remembered under key.
func (v *Vault) cachedAnswer(key string) (upstreamAnswer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.answers[key]
	return c, ok && time.Now().Before(c.expires)
}
