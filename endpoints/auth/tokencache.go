package auth

import (
	"math"
	"sync"
)

// DefaultTokenCacheSize is how many verified tokens a JWT verifier
// remembers.
const DefaultTokenCacheSize = 10000

const tokenShards = 16

// tokenCache remembers tokens that verified, so a client that sends the
// same token on every request pays for the signature check once per key
// set instead of once per request (an RSA or ECDSA verification costs tens
// of microseconds, a lookup well under one). An entry is used only while
// the key set that verified it is still the current one, and exp and nbf
// are checked on every hit. Only tokens that verified are stored, so
// forged tokens cannot fill it.
type tokenCache struct {
	perShard int
	shards   [tokenShards]tokenShard
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[string]*cachedToken
}

type cachedToken struct {
	id       Identity
	exp, nbf float64 // seconds; nbf is -Inf when the token has none
	set      *keySet // the set that verified it; nil for HMAC
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(size/tokenShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cachedToken)
	}
	return c
}

// shard picks a shard from a signature character: the third from the end
// is a full base64 digit of a random-looking signature for every
// algorithm.
func (c *tokenCache) shard(raw string) *tokenShard {
	return &c.shards[raw[len(raw)-3]%tokenShards]
}

func (c *tokenCache) get(raw string) *cachedToken {
	if len(raw) < 3 {
		return nil
	}
	sh := c.shard(raw)
	sh.mu.RLock()
	e := sh.m[raw]
	sh.mu.RUnlock()
	return e
}

func (c *tokenCache) put(raw string, e *cachedToken, now float64) {
	if len(raw) < 3 {
		return
	}
	sh := c.shard(raw)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= c.perShard {
		for k, old := range sh.m {
			if old.exp <= now {
				delete(sh.m, k)
			}
		}
		// Still full: drop a sixteenth, arbitrary entries.
		target := c.perShard - max(c.perShard/16, 1)
		for k := range sh.m {
			if len(sh.m) <= target {
				break
			}
			delete(sh.m, k)
		}
	}
	sh.m[raw] = e
}

func (c *tokenCache) remove(raw string) {
	sh := c.shard(raw)
	sh.mu.Lock()
	delete(sh.m, raw)
	sh.mu.Unlock()
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}

var negInf = math.Inf(-1)
