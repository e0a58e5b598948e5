package checksumdb

import (
	"bytes"
	"context"
	"strings"
	"sync"
)

// maxCacheWriters bounds the cache writes of one database running at once.
const maxCacheWriters = 4

// cacheWrites writes the tiles of the sumdb client's cache (authenticated
// tiles) to the store in the background, so that a lookup, on which a fill
// waits, does not wait for a durable write of each tile.
// Until its write has ended, a file is read from memory.
//
// Nothing depends on a cache write being durable: a file lost in a crash
// is fetched from the upstream again, and only what the client
// authenticated is written. The tree head (WriteConfig) is written before
// the client goes on, as before.
type cacheWrites struct {
	mu      sync.Mutex
	pending map[string]*cacheWrite // by file name, as the client names it
	slots   chan struct{}
}

// cacheWrite is a cache file being written.
type cacheWrite struct {
	data []byte
	done chan struct{} // closed when the write has ended
}

// get returns the data of file if it is being written.
func (c *cacheWrites) get(file string) (*cacheWrite, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.pending[file]
	return w, ok
}

// start runs put(data) for file in the background; until it has ended, get
// returns data.
func (c *cacheWrites) start(file string, data []byte, put func([]byte)) {
	w := &cacheWrite{data: data, done: make(chan struct{})}
	c.mu.Lock()
	if c.pending == nil {
		c.pending = make(map[string]*cacheWrite)
		c.slots = make(chan struct{}, maxCacheWriters)
	}
	c.pending[file] = w
	slots := c.slots
	c.mu.Unlock()
	go func() {
		defer close(w.done)
		slots <- struct{}{}
		put(data)
		<-slots
		c.mu.Lock()
		if c.pending[file] == w {
			delete(c.pending, file)
		}
		c.mu.Unlock()
	}()
}

// wait waits until the writes running now have ended, or ctx ends.
func (c *cacheWrites) wait(ctx context.Context) {
	c.mu.Lock()
	running := make([]*cacheWrite, 0, len(c.pending))
	for _, w := range c.pending {
		running = append(running, w)
	}
	c.mu.Unlock()
	for _, w := range running {
		select {
		case <-w.done:
		case <-ctx.Done():
			return
		}
	}
}

// ReadCache reads a cache file: one being written from memory, else from
// the store.
func (o *clientOps) ReadCache(file string) ([]byte, error) {
	if w, ok := o.writes.get(file); ok {
		return bytes.Clone(w.data), nil
	}
	return o.store.ReadAll(context.Background(), "sumdb/"+file)
}

// WriteCache writes a cache file to the store: a tile in the background
// (see [cacheWrites]), a lookup before it returns, so that the lookup of a
// version is stored once its Check returned (the metadata index reads it
// then, for the version's proof).
func (o *clientOps) WriteCache(file string, data []byte) {
	put := func(data []byte) {
		if err := o.store.Put(context.Background(), "sumdb/"+file, bytes.NewReader(data)); err != nil {
			o.log.Warn("checksum database cache write failed", "file", file, "err", err)
		}
	}
	if strings.HasPrefix(file, o.name+"/lookup/") {
		put(data)
		return
	}
	o.writes.start(file, bytes.Clone(data), put)
}

// WaitWrites waits until the checksum database answers that the verifier
// authenticated so far are stored (they are written in the background), or
// ctx ends.
func (v *Verifier) WaitWrites(ctx context.Context) { v.ops.writes.wait(ctx) }

// pending returns the body of the object at key (sumdb/$name/…) if the
// verifier is writing it now.
func (v *Verifier) pending(key string) ([]byte, bool) {
	w, ok := v.ops.writes.get(strings.TrimPrefix(key, "sumdb/"))
	if !ok {
		return nil, false
	}
	return w.data, true
}
