package limit

import (
	"sync"
	"testing"
	"time"
)

func TestBucketTake(t *testing.T) {
	t.Parallel()
	type step struct {
		at    time.Duration // after t0
		n     int
		ok    bool
		retry time.Duration
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"starts full, then empty", 10, 3, []step{
			{0, 1, true, 0}, {0, 2, true, 0},
			{0, 1, false, 100 * time.Millisecond}, // one token every 100ms
		}},
		{"refills at rate", 10, 3, []step{
			{0, 3, true, 0},
			{50 * time.Millisecond, 1, false, 50 * time.Millisecond},
			{100 * time.Millisecond, 1, true, 0},
		}},
		{"never more than burst", 10, 3, []step{
			{time.Hour, 3, true, 0}, {time.Hour, 1, false, 100 * time.Millisecond},
		}},
		{"n over burst never fits", 10, 3, []step{{0, 4, false, Never}}},
		{"rate 0 does not refill", 0, 1, []step{{0, 1, true, 0}, {time.Hour, 1, false, Never}}},
		{"burst 0 admits nothing", 100, 0, []step{{0, 1, false, Never}}},
		{"n <= 0 is free", 1, 1, []step{{0, 0, true, 0}, {0, -1, true, 0}, {0, 1, true, 0}}},
		{"clock going back refills nothing", 10, 2, []step{
			{time.Second, 2, true, 0}, {0, 1, false, 100 * time.Millisecond},
			{time.Second, 1, false, 100 * time.Millisecond},
			{time.Second + 100*time.Millisecond, 1, true, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewBucket(tc.rate, tc.burst)
			for i, s := range tc.steps {
				ok, retry := b.Take(t0.Add(s.at), s.n)
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d: Take(+%v, %d) = %v, %v; want %v, %v", i, s.at, s.n, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestBucketConcurrent(t *testing.T) {
	t.Parallel()
	// With the clock standing still, exactly burst takes succeed however
	// many goroutines race for them.
	b := NewBucket(1, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 8 {
		wg.Go(func() {
			n := 0
			for range 50 {
				if ok, _ := b.Take(t0, 1); ok {
					n++
				}
			}
			mu.Lock()
			admitted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if admitted != 100 {
		t.Fatalf("admitted %d, want 100", admitted)
	}
}

func TestBucketNoAlloc(t *testing.T) {
	b := NewBucket(1e9, 1e6)
	now := t0
	if a := testing.AllocsPerRun(1000, func() { b.Take(now, 1) }); a != 0 {
		t.Fatalf("Take allocates %v times per call", a)
	}
}
