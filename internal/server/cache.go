package server

import (
	"sync"
	"time"
)

// smallCache keeps the bytes of small stored objects (.info and .mod files)
// in memory. Stored objects never change, so an entry never goes stale; the
// cache only bounds its size, by forgetting everything when it is full,
// which is cheap and good enough for files the go command asks for in
// bursts.
type smallCache struct {
	mu       sync.Mutex
	entries  map[string]*smallObject
	size     int64
	maxBytes int64
}

// smallObject is one cached stored object.
type smallObject struct {
	body    []byte
	etag    string
	modTime time.Time
}

// maxSmallObject is the largest object the cache keeps.
const maxSmallObject = 64 << 10

func newSmallCache(maxBytes int64) *smallCache {
	return &smallCache{entries: make(map[string]*smallObject), maxBytes: maxBytes}
}

func (c *smallCache) get(key string) (*smallObject, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.entries[key]
	return o, ok
}

func (c *smallCache) put(key string, o *smallObject) {
	n := int64(len(o.body) + len(key))
	if n > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size+n > c.maxBytes {
		clear(c.entries)
		c.size = 0
	}
	if _, ok := c.entries[key]; !ok {
		c.entries[key] = o
		c.size += n
	}
}
