package waf

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestRateCounterWindow walks one address through a 60 s window with a
// limit of 3, checking each request's verdict.
func TestRateCounterWindow(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("2001:db8::1")
	type step struct {
		at   time.Duration // since start
		addr netip.Addr
		over bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"limit then block", []step{
			{0, a, false}, {0, a, false}, {0, a, false}, {0, a, true}, {time.Second, a, true},
		}},
		{"addresses are separate", []step{
			{0, a, false}, {0, a, false}, {0, a, false}, {0, a, true},
			{0, b, false}, {0, b, false}, {0, b, false}, {0, b, true},
		}},
		{"forgotten after one window", []step{
			{0, a, false}, {0, a, false}, {0, a, false}, {0, a, true},
			{60 * time.Second, a, false},
		}},
		{"blocked requests count too", []step{
			{0, a, false}, {0, a, false}, {0, a, false},
			{30 * time.Second, a, true}, {30 * time.Second, a, true}, {30 * time.Second, a, true},
			{60 * time.Second, a, true}, // the three at 0 are gone, the three blocked at 30 s are not
		}},
		{"sliding, not fixed", []step{
			{0, a, false}, {0, a, false},
			{50 * time.Second, a, false},
			{65 * time.Second, a, false}, // the two at 0 are gone: 50 s + this = 2
			{70 * time.Second, a, false}, // 3
			{75 * time.Second, a, true},  // 4
		}},
		{"long idle resets", []step{
			{0, a, false}, {0, a, false}, {0, a, false}, {0, a, true},
			{10 * time.Hour, a, false},
		}},
		{"clock going back counts as now", []step{
			{time.Minute, a, false}, {time.Minute, a, false},
			{0, a, false}, {0, a, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newRateCounter(3, time.Minute, 100)
			for i, s := range tt.steps {
				if got := c.hit(s.addr, t0.Add(s.at)); got != s.over {
					t.Fatalf("step %d (%v, %s): over = %v, want %v", i, s.at, s.addr, got, s.over)
				}
			}
		})
	}
}

// TestRateCounterGranularity checks the bound doc.go promises: a request
// counts for at most one window and at least 9/10 of it, wherever in a
// slot it falls.
func TestRateCounterGranularity(t *testing.T) {
	t.Parallel()
	const w = 100 * time.Second
	a := netip.MustParseAddr("192.0.2.1")
	for _, off := range []time.Duration{0, time.Second, 9999 * time.Millisecond} {
		c := newRateCounter(1, w, 10)
		start := t0.Add(off)
		c.hit(a, start)
		if !c.hit(a, start.Add(w*9/10-time.Nanosecond)) {
			t.Errorf("offset %v: forgotten before 9/10 of the window", off)
		}
		c = newRateCounter(1, w, 10)
		c.hit(a, start)
		if c.hit(a, start.Add(w)) {
			t.Errorf("offset %v: still counted after one window", off)
		}
	}
}

// TestRateCounterBounded checks that the counter never tracks more than
// its bound and forgets the address seen least recently.
func TestRateCounterBounded(t *testing.T) {
	t.Parallel()
	const maxAddrs = 64
	c := newRateCounter(1, time.Minute, maxAddrs)
	hot := netip.MustParseAddr("198.51.100.1")
	c.hit(hot, t0)
	for i := range 10_000 {
		c.hit(hot, t0) // keeps it recent; over the limit from now on
		c.hit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), t0)
		if n := c.tracked(); n > maxAddrs {
			t.Fatalf("after %d addresses: tracking %d, bound %d", i+1, n, maxAddrs)
		}
	}
	if !c.hit(hot, t0) {
		t.Error("the recently seen address was evicted")
	}
	if c.hit(netip.AddrFrom4([4]byte{10, 0, 0, 0}), t0) {
		t.Error("the oldest address was not evicted")
	}
}

func TestFloorDiv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ a, b, q, m int64 }{
		{7, 2, 3, 1}, {-7, 2, -4, 1}, {-8, 2, -4, 0}, {0, 5, 0, 0}, {-1, 10, -1, 9},
	} {
		if q := floorDiv(tt.a, tt.b); q != tt.q {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tt.a, tt.b, q, tt.q)
		}
		if m := mod(tt.a, tt.b); m != tt.m {
			t.Errorf("mod(%d, %d) = %d, want %d", tt.a, tt.b, m, tt.m)
		}
	}
}

func BenchmarkRateCounterHit(b *testing.B) {
	c := newRateCounter(1_000_000, time.Minute, DefaultMaxTrackedAddresses)
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	now := t0
	i := 0
	for b.Loop() {
		c.hit(addrs[i%len(addrs)], now)
		i++
	}
}
