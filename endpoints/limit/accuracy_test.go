package limit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestClusterAccuracy runs three limiters against one coordinator in real
// time: 900 requests/s offered to a limit of 300/s with burst 30, spread
// over the three nodes, for 2s. The cluster must admit rate×2s+burst
// within ±10%, and each node roughly its share.
//
// An ideal token bucket is fed the same arrivals. If it too misses
// rate×2s+burst by more than 5%, the machine stalled the load generator
// (a slow shared machine running -race) and there is nothing to measure
// against: the test is skipped rather than asserting a timing.
func TestClusterAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	t.Parallel()
	const (
		rate, burst = 300.0, 30
		nodes       = 3
		perNode     = 300.0 // offered requests per second
		span        = 2 * time.Second
	)
	spec := RateSpec(rate, burst)
	c := mustCoordinator(t, CoordinatorConfig{Peers: func() int { return nodes }})
	limiters := make([]*Limiter, nodes)
	for i := range limiters {
		limiters[i] = mustLimiter(t, LimiterConfig{
			Node:      string(rune('a' + i)),
			Transport: c,
			Peers:     func() int { return nodes },
			Interval:  50 * time.Millisecond,
		})
	}
	ideal := NewBucket(rate, burst)

	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	defer func() { cancel(); runs.Wait() }()
	start := time.Now()
	for _, l := range limiters {
		runs.Go(func() { _ = l.Run(ctx) })
	}
	var (
		load             sync.WaitGroup
		mu               sync.Mutex
		admitted         = make([]int, nodes)
		offered, idealOK int
	)
	for i, l := range limiters {
		load.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			sent, ok, iok := 0, 0, 0
			for range 10 * span / (5 * time.Millisecond) { // bounded: stops at span
				el := time.Since(start)
				if el >= span {
					break
				}
				// Catch up to the offered rate: a stalled goroutine does
				// not lower the load.
				for float64(sent) < perNode*el.Seconds() {
					sent++
					if l.Allow("api/stage", spec).OK() {
						ok++
					}
					if o, _ := ideal.Take(time.Now(), 1); o {
						iok++
					}
				}
				<-tick.C
			}
			mu.Lock()
			admitted[i], offered, idealOK = ok, offered+sent, idealOK+iok
			mu.Unlock()
		})
	}
	load.Wait()
	total := 0
	for _, n := range admitted {
		total += n
	}
	want := rate*span.Seconds() + burst
	t.Logf("admitted %d of %d offered (per node %v), an ideal bucket %d; want %.0f ± 10%%", total, offered, admitted, idealOK, want)
	if f := float64(idealOK); f < 0.95*want || f > 1.05*want {
		t.Skipf("the load generator stalled: an ideal bucket fed the same arrivals admitted %d, not %.0f", idealOK, want)
	}
	if f := float64(total); f < 0.9*want || f > 1.1*want {
		t.Fatalf("admitted %d, want %.0f ± 10%%", total, want)
	}
	for i, n := range admitted {
		if float64(n) < 0.15*float64(total) {
			t.Errorf("node %d admitted %d of %d: far below its share", i, n, total)
		}
	}
}
