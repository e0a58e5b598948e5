package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/route"
)

// fileCache remembers, by request path, what the path of a version's
// .info, .mod or .zip parsed to, and the bytes of small stored objects
// (.info and .mod files), so that a warm request is answered without
// parsing and validating its path again and without a store operation.
// Parsing is a pure function of the path and stored objects never change,
// so an entry never goes stale; the cache only bounds its size, by
// forgetting everything when it is full, which is cheap and good enough for
// files the go command asks for in bursts.
type fileCache struct {
	mu       sync.Mutex
	entries  map[string]*fileEntry
	size     int64
	maxBytes int64
}

// fileEntry is what fileCache keeps for one request path.
type fileEntry struct {
	path  string // the request path, cached-only prefix and all
	rt    route.Route
	file  protocol.File
	small *smallObject // nil until the stored object was read (never, for a large one)
}

// smallObject is one cached stored object, with the values of its response
// headers made once: a warm answer allocates none of them.
type smallObject struct {
	body    []byte
	modTime time.Time
	etag    []string // the ETag header's value
	header  []string // Last-Modified
	length  []string // Content-Length
}

// newSmallObject returns the cached form of a stored object.
func newSmallObject(body []byte, etag string, modTime time.Time) *smallObject {
	o := &smallObject{body: body, modTime: modTime, etag: []string{etag}, length: []string{strconv.Itoa(len(body))}}
	if !modTime.IsZero() && !modTime.Equal(time.Unix(0, 0)) {
		o.header = []string{modTime.UTC().Format(http.TimeFormat)}
	}
	return o
}

// maxSmallObject is the largest object the cache keeps.
const maxSmallObject = 64 << 10

// entryOverhead is what an entry costs besides its path and body, roughly.
const entryOverhead = 512

func newFileCache(maxBytes int64) *fileCache {
	return &fileCache{entries: make(map[string]*fileEntry), maxBytes: maxBytes}
}

// get returns the entry of a request path.
func (c *fileCache) get(path string) (*fileEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	return e, ok
}

// put remembers e for path, replacing an entry there; e must not be
// changed afterwards.
func (c *fileCache) put(path string, e *fileEntry) {
	n := int64(len(path) + entryOverhead)
	if e.small != nil {
		n += int64(len(e.small.body))
	}
	if n > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[path]; ok {
		c.size -= int64(len(path) + entryOverhead)
		if old.small != nil {
			c.size -= int64(len(old.small.body))
		}
	}
	if c.size+n > c.maxBytes {
		clear(c.entries)
		c.size = 0
	}
	c.entries[path] = e
	c.size += n
}
