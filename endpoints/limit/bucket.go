package limit

import (
	"math"
	"sync"
	"time"
)

// Bucket is a token bucket: it holds at most burst tokens, refills at rate
// tokens per second, and starts full. It is safe for concurrent use and
// Take does not allocate. A zero Bucket admits nothing.
type Bucket struct {
	mu sync.Mutex
	b  bucket
}

// NewBucket returns a full bucket of capacity burst refilled at rate
// tokens per second.
func NewBucket(rate float64, burst int) *Bucket {
	return &Bucket{b: newBucket(rate, float64(burst))}
}

// Take removes n tokens if the bucket holds them at now. Otherwise it
// removes nothing and reports how long until n tokens will be there, or
// Never when that cannot happen (n > burst, or rate 0). n <= 0 is always
// admitted. A now before the last call's refills nothing.
func (b *Bucket) Take(now time.Time, n int) (ok bool, retryAfter time.Duration) {
	if n <= 0 {
		return true, 0
	}
	b.mu.Lock()
	ok, retryAfter = b.b.take(now, float64(n))
	b.mu.Unlock()
	return ok, retryAfter
}

// set changes the rate and capacity, keeping the tokens (capped).
func (b *Bucket) set(now time.Time, rate, capacity float64) {
	b.mu.Lock()
	b.b.advance(now)
	b.b.rate, b.b.cap = rate, capacity
	b.b.tokens = min(b.b.tokens, capacity)
	b.mu.Unlock()
}

// bucket is the unlocked token bucket; its owner serialises calls.
// Tokens may go below zero (down to -cap) when usage admitted elsewhere
// is charged to it; the debt is repaid by refills.
type bucket struct {
	rate   float64 // tokens per second
	cap    float64
	tokens float64
	last   time.Time // of the last refill; zero before the first call
}

func newBucket(rate, capacity float64) bucket {
	return bucket{rate: rate, cap: capacity, tokens: capacity}
}

// advance refills the bucket up to now.
func (b *bucket) advance(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	d := now.Sub(b.last)
	if d <= 0 {
		return
	}
	b.last = now
	b.tokens = min(b.cap, b.tokens+d.Seconds()*b.rate)
}

func (b *bucket) take(now time.Time, n float64) (bool, time.Duration) {
	b.advance(now)
	if b.tokens >= n {
		b.tokens -= n
		return true, 0
	}
	if n > b.cap || b.rate <= 0 {
		return false, Never
	}
	wait := math.Ceil((n - b.tokens) / b.rate * float64(time.Second))
	return false, time.Duration(wait)
}

// takeUpTo removes and returns up to want whole tokens.
func (b *bucket) takeUpTo(now time.Time, want int64) int64 {
	b.advance(now)
	g := min(want, b.whole())
	if g <= 0 {
		return 0
	}
	b.tokens -= float64(g)
	return g
}

// whole is the number of whole tokens in the bucket.
func (b *bucket) whole() int64 {
	if b.tokens < 1 {
		return 0
	}
	return int64(b.tokens)
}

// charge removes n tokens admitted without a grant, down to -cap.
func (b *bucket) charge(now time.Time, n int64) {
	if n <= 0 {
		return
	}
	b.advance(now)
	b.tokens = max(-b.cap, b.tokens-float64(n))
}
