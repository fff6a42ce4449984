package cluster

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a jittered exponential wait for retry loops (following
// config, joining gossip): it starts at Min, doubles up to Max, and Reset
// brings it back to Min. The jitter (each wait is between half and all of
// the current step) spreads hundreds of nodes retrying at once. The zero
// value is not usable; set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next is the step the next Wait will use (for logging).
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	}
	return b.cur
}

// Wait sleeps for the next step, bounded by ctx; it reports whether the
// step passed (false: ctx ended).
func (b *Backoff) Wait(ctx context.Context) bool {
	step := b.Next()
	b.cur = min(b.cur*2, b.Max)
	t := time.NewTimer(step/2 + rand.N(step/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reset starts the next wait at Min again.
func (b *Backoff) Reset() { b.cur = 0 }
