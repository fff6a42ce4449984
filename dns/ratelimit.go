package dns

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Response-rate limiting: a token bucket of responses per second for
// each client network (/24 for IPv4, /56 for IPv6, as BIND's RRL). UDP
// sources can be spoofed, so without it the server is an amplifier
// aimed at whoever the spoofed address belongs to. A limited query is
// dropped, except every Slip-th one, which gets an empty truncated
// response: a real resolver behind a shared address retries over TCP
// (never limited) and still gets its answer.

// verdict is the limiter's decision for one response.
type verdict uint8

const (
	verdictAllow verdict = iota
	verdictDrop
	verdictSlip
)

// limiterShards spreads the buckets over independently locked maps.
const limiterShards = 64

// limiter is a set of token buckets keyed by client network. Its memory
// is bounded: each shard holds at most perShard buckets, and a full
// shard frees at least an eighth of its room before adding one (idle
// buckets first, which lose nothing: a bucket idle long enough to refill
// is the same as a new one).
type limiter struct {
	rate     float64 // tokens per second
	burst    float64
	slip     int // every slip-th limited response is truncated; 0 never
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]bucket
}

type bucket struct {
	tokens  float64
	last    time.Time
	limited uint64 // limited responses so far, for the slip count
}

// newLimiter returns nil (no limiting) when cfg.Rate is negative.
func newLimiter(cfg RateLimitConfig, now func() time.Time) *limiter {
	if cfg.Rate < 0 {
		return nil
	}
	l := &limiter{
		rate:     cfg.Rate,
		burst:    float64(cfg.Burst),
		slip:     max(cfg.Slip, 0),
		perShard: max(cfg.MaxNetworks/limiterShards, 1),
		now:      now,
		seed:     maphash.MakeSeed(),
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]bucket)
	}
	return l
}

// take spends a token for a response to src and says what to do.
func (l *limiter) take(src netip.Addr) verdict {
	key := networkOf(src.WithZone(""))
	sh := &l.shards[maphash.Comparable(l.seed, key)%limiterShards]
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[key]
	if !ok {
		if len(sh.buckets) >= l.perShard {
			l.evict(sh, now)
		}
		b = bucket{tokens: l.burst, last: now}
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.last = now
	v := verdictAllow
	if b.tokens >= 1 {
		b.tokens--
	} else {
		b.limited++
		v = verdictDrop
		if l.slip > 0 && b.limited%uint64(l.slip) == 0 {
			v = verdictSlip
		}
	}
	sh.buckets[key] = b
	return v
}

// evict frees at least an eighth of a full shard: idle (refilled)
// buckets first, then any. At most two passes over perShard entries.
func (l *limiter) evict(sh *limiterShard, now time.Time) {
	want := max(l.perShard/8, 1)
	refill := time.Duration(float64(time.Second) * l.burst / max(l.rate, 1e-9))
	freed := 0
	for k, b := range sh.buckets {
		if now.Sub(b.last) >= refill {
			delete(sh.buckets, k)
			freed++
		}
	}
	for k := range sh.buckets {
		if freed >= want {
			break
		}
		delete(sh.buckets, k)
		freed++
	}
}

// size is the number of buckets held, for tests.
func (l *limiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// networkOf is the client network of a: its /24 or /56.
func networkOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	p, _ := a.Prefix(clientBits(a))
	return p.Addr()
}
