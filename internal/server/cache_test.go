package server

import (
	"strings"
	"testing"
)

// TestSmallCacheStaysWithinItsBound fills the cache past its size: it never
// holds more than its bound, keeps what fits, and refuses what never fits.
func TestSmallCacheStaysWithinItsBound(t *testing.T) {
	const max = 1000
	c := newSmallCache(max)
	body := []byte(strings.Repeat("x", 90))
	for i := range 50 {
		key := strings.Repeat("k", 10) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		c.put(key, &smallObject{body: body})
		if c.size > max {
			t.Fatalf("after %d puts the cache holds %d bytes, over its bound of %d", i+1, c.size, max)
		}
		if o, ok := c.get(key); !ok || string(o.body) != string(body) {
			t.Fatalf("a just-added entry is missing")
		}
	}
	c.put("huge", &smallObject{body: make([]byte, max+1)})
	if _, ok := c.get("huge"); ok {
		t.Error("an object larger than the whole cache was kept")
	}
}
