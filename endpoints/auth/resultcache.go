package auth

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// resultCache holds external authorizer answers for a TTL. Concurrent
// misses for one key make one call (single-flight); the others wait for
// it. Answers that are not cacheable (errors) are handed to the waiters and
// then dropped. It is bounded: when full, expired entries go first, then
// arbitrary answered ones.
type resultCache struct {
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]*cacheEntry
}

type cacheEntry struct {
	done chan struct{} // closed once res is set
	res  result
	exp  time.Time // zero while loading
}

func newResultCache(max int, now func() time.Time) *resultCache {
	return &resultCache{max: max, now: now, m: make(map[[sha256.Size]byte]*cacheEntry)}
}

// get returns the cached answer for k or calls load. A waiter whose ctx
// ends gets KindAuthorizerUnavailable; the call goes on for the others.
func (c *resultCache) get(ctx context.Context, k [sha256.Size]byte, ttl time.Duration, load func() (result, bool)) result {
	c.mu.Lock()
	e := c.m[k]
	if e != nil {
		select {
		case <-e.done:
			if c.now().Before(e.exp) {
				c.mu.Unlock()
				return e.res
			}
			delete(c.m, k)
			e = nil
		default:
		}
	}
	if e != nil { // a call is in flight
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.res
		case <-ctx.Done():
			return result{err: failErr(KindAuthorizerUnavailable, "waiting for authorizer", ctx.Err())}
		}
	}
	e = &cacheEntry{done: make(chan struct{})}
	c.makeRoom()
	c.m[k] = e
	c.mu.Unlock()

	res, cacheable := load()
	c.mu.Lock()
	e.res = res
	if cacheable {
		e.exp = c.now().Add(ttl)
	} else if c.m[k] == e {
		delete(c.m, k)
	}
	close(e.done)
	c.mu.Unlock()
	return res
}

// makeRoom evicts until there is room for one entry. Called with c.mu held.
func (c *resultCache) makeRoom() {
	if len(c.m) < c.max {
		return
	}
	now := c.now()
	for k, e := range c.m {
		select {
		case <-e.done:
			if !now.Before(e.exp) {
				delete(c.m, k)
			}
		default:
		}
	}
	// Still full: free a sixteenth at once, so a full cache of live
	// entries does not cost a scan on every miss.
	target := c.max - max(c.max/16, 1)
	for k, e := range c.m {
		if len(c.m) <= target {
			return
		}
		select {
		case <-e.done: // never evict a call in flight: its waiters need it
			delete(c.m, k)
		default:
		}
	}
}

// len is the number of entries, for tests.
func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
