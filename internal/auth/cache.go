package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// verifiedCache remembers successful password checks, by [verifiedKey],
// for a time. It holds no password, only hashes.
type verifiedCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newVerifiedCache(ttl time.Duration, max int) *verifiedCache {
	return &verifiedCache{ttl: ttl, max: max, expires: make(map[[sha256.Size]byte]time.Time)}
}

// verifiedKey is the key of a successful check: a SHA-256 of the user, the
// password and the stored hash, so that a changed hash is checked again.
func verifiedKey(user, password string, hash []byte) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range [][]byte{[]byte(user), []byte(password), hash} {
		// Length-prefixed, so that no two triples make the same input.
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
		h.Write(s)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// contains reports whether k was added less than the TTL before now.
func (c *verifiedCache) contains(k [sha256.Size]byte, now time.Time) bool {
	if c.max <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[k]
	if ok && !now.Before(exp) {
		delete(c.expires, k)
		return false
	}
	return ok
}

// add remembers k until now plus the TTL. When full, it forgets the
// expired entries, then, if still full, arbitrary ones.
func (c *verifiedCache) add(k [sha256.Size]byte, now time.Time) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.expires[k]; !ok && len(c.expires) >= c.max {
		for key, exp := range c.expires {
			if !now.Before(exp) {
				delete(c.expires, key)
			}
		}
		for key := range c.expires {
			if len(c.expires) < c.max {
				break
			}
			delete(c.expires, key)
		}
	}
	c.expires[k] = now.Add(c.ttl)
}
