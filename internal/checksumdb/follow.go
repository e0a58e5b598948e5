package checksumdb

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/modvault/modvault/internal/upstream"
)

// DefaultFollowEvery is how often [Verifier.Follow] reads the upstream's
// tree head by default.
//
// The interval bounds how far a client that talks to the database directly
// can be ahead of modvault: if the upstream goes away, a client holding a
// head newer than modvault's cannot verify through it. Following does not
// change how many full tiles are fetched (each once, as the tree grows),
// but each refresh that moved costs a /latest request and about one partial
// tile per tile level (four for the public database), fetched and kept in
// the store: hourly that is about a hundred small objects a day, every
// minute thousands. Heads passed on in lookups are followed within a
// minute anyway.
const DefaultFollowEvery = time.Hour

// FollowOptions configures [Verifier.Follow].
type FollowOptions struct {
	// Every is how often the upstream's tree head is read; 0 means
	// DefaultFollowEvery.
	Every time.Duration
	// Soon is how soon after the last refresh a head that a lookup moved
	// forward is followed; 0 means min(Every, 1 minute).
	Soon time.Duration
}

// Follow keeps the verifier's head current until ctx ends: it refreshes
// ([Verifier.Refresh]) at once, then every opts.Every, and opts.Soon after
// the last refresh once a lookup moved the head forward, so that the tiles
// a client holding that head may ask for are stored. Failures are logged;
// the next refresh tries again. Follow returns when ctx is done and leaves
// nothing running.
func (v *Verifier) Follow(ctx context.Context, opts FollowOptions) {
	every := opts.Every
	if every <= 0 {
		every = DefaultFollowEvery
	}
	soon := opts.Soon
	if soon <= 0 {
		soon = min(every, time.Minute)
	}
	var last time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.ops.headMoved:
			timer.Reset(max(0, time.Until(last.Add(soon))))
			continue
		case <-timer.C:
		}
		last = time.Now()
		var ue *upstream.Error
		switch err := v.Refresh(ctx); {
		case err == nil, ctx.Err() != nil, errors.Is(err, ErrSecurity):
			// A fork was logged when it was found.
		case errors.As(err, &ue) && ue.URL == "":
			v.ops.log.Debug("no upstream to follow the checksum database's tree head from", "db", v.name)
		default:
			v.ops.log.Warn("following the checksum database's tree head failed", "db", v.name, "err", err)
		}
		timer.Reset(every)
	}
}

// Follow follows every database (see [Verifier.Follow]) until ctx ends.
func (a All) Follow(ctx context.Context, opts FollowOptions) {
	var wg sync.WaitGroup
	for _, v := range a {
		wg.Go(func() { v.Follow(ctx, opts) })
	}
	wg.Wait()
}
