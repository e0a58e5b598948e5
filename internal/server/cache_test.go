package server

import (
	"strings"
	"testing"
	"time"
)

// TestFileCacheStaysWithinItsBound fills the cache past its size: it never
// holds more than its bound, keeps what fits, and refuses what never fits.
func TestFileCacheStaysWithinItsBound(t *testing.T) {
	const max = 10 * (entryOverhead + 100)
	c := newFileCache(max)
	body := []byte(strings.Repeat("x", 90))
	for i := range 50 {
		key := strings.Repeat("k", 8) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		c.put(key, &fileEntry{small: newSmallObject(body, `"e"`, time.Now())})
		if c.size > max {
			t.Fatalf("after %d puts the cache holds %d bytes, over its bound of %d", i+1, c.size, max)
		}
		if e, ok := c.get(key); !ok || string(e.small.body) != string(body) {
			t.Fatalf("a just-added entry is missing")
		}
		c.put(key, &fileEntry{small: newSmallObject(body, `"e"`, time.Now())}) // replacing is no growth
		if c.size > max {
			t.Fatalf("after replacing entry %d the cache holds %d bytes, over its bound of %d", i+1, c.size, max)
		}
	}
	c.put("huge", &fileEntry{small: newSmallObject(make([]byte, max+1), `"e"`, time.Now())})
	if _, ok := c.get("huge"); ok {
		t.Error("an object larger than the whole cache was kept")
	}
}
