package limit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// heldLimiter returns a limiter whose keys hold large leases that outlive
// the benchmark. now nil: time.Now.
func heldLimiter(b testing.TB, keys []string, now func() time.Time) *Limiter {
	c := mustCoordinator(b, CoordinatorConfig{Lease: time.Hour})
	l := mustLimiter(b, LimiterConfig{Node: "a", Transport: c, Headroom: 1e9, Now: now})
	for _, k := range keys {
		l.Allow(k, RateSpec(1e9, 1e9))
	}
	if err := l.Round(context.Background()); err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkAllow measures Allow spending a held lease, from all Ps at once:
// on one hot key (every P on one cache line) and spread over 64 keys. The
// fixed-clock runs leave out time.Now, which costs from 20ns on bare metal
// to well over 100ns on some virtual machines.
func BenchmarkAllow(b *testing.B) {
	spec := RateSpec(1e9, 1e9)
	fixed := time.Now()
	for _, bc := range []struct {
		name string
		keys int
		now  func() time.Time
	}{
		{"hot-key", 1, nil},
		{"64-keys", 64, nil},
		{"hot-key/fixed-clock", 1, func() time.Time { return fixed }},
		{"64-keys/fixed-clock", 64, func() time.Time { return fixed }},
	} {
		n := bc.keys
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "key-" + strconv.Itoa(i)
		}
		b.Run(bc.name, func(b *testing.B) {
			l := heldLimiter(b, keys, bc.now)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if !l.Allow(keys[i%n], spec).OK() {
						b.Fatal("denied on a held lease")
					}
					i++
				}
			})
		})
	}
}

func BenchmarkBucketTake(b *testing.B) {
	bk := NewBucket(1e12, 1e9)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		bk.Take(now, 1)
	}
}

func TestAllowNoAlloc(t *testing.T) {
	l := heldLimiter(t, []string{"k"}, nil)
	spec := RateSpec(1e9, 1e9)
	if a := testing.AllocsPerRun(1000, func() { l.Allow("k", spec) }); a != 0 {
		t.Fatalf("Allow on a held lease allocates %v times per call", a)
	}
}
