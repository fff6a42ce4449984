package limit

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLimiterLostAnswers: the coordinator handles requests whose answers
// never arrive; usage reported again is not counted twice.
func TestLimiterLostAnswers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2, t0)
	spec := QuotaSpec(100_000, Week, 1)
	admitted := 0
	for i := range 60 {
		lost := i%5 == 2 || (i >= 20 && i < 24)
		cl.net.set(func(n *netSwitch) { n.lost = lost })
		admitted += cl.step(t, "q", spec, 7)[Allowed]
	}
	cl.net.set(func(n *netSwitch) { n.lost = false })
	cl.step(t, "q", spec, 0)
	cl.store.commit(cl.net.c.Drain())
	if used := cl.store.Used("q", date(2024, 2, 12, 0), date(2024, 2, 19, 0)); used != int64(admitted) {
		t.Fatalf("store counts %d, admitted %d", used, admitted)
	}
}

// TestLimiterRun: Run renews in the background and returns when its
// context ends; no goroutine outlives it.
func TestLimiterRun(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{})
	rounds := make(chan struct{}, 100)
	tr := TransportFunc(func(ctx context.Context, req LeaseRequest) (LeaseResponse, error) {
		select {
		case rounds <- struct{}{}:
		default:
		}
		return c.Lease(ctx, req)
	})
	l := mustLimiter(t, LimiterConfig{Node: "a", Transport: tr, Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	for range 3 {
		<-rounds
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestLimiterTimeout: a coordinator that does not answer costs a round its
// Timeout, and counts as a failure.
func TestLimiterTimeout(t *testing.T) {
	t.Parallel()
	hang := TransportFunc(func(ctx context.Context, _ LeaseRequest) (LeaseResponse, error) {
		<-ctx.Done()
		return LeaseResponse{}, ctx.Err()
	})
	l := mustLimiter(t, LimiterConfig{Node: "a", Transport: hang, Timeout: time.Millisecond})
	if err := l.Round(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("round against a silent coordinator: %v, want a deadline error", err)
	}
}

// TestQuotaRandomized drives four nodes with random demand against one
// quota while a random tenth of the answers are lost: the cluster never
// admits more than the limit plus one request on credit per node, spends
// the quota, and the store ends up with exactly what was admitted.
func TestQuotaRandomized(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 7))
			cl := newCluster(t, 4, t0)
			spec := QuotaSpec(500, Day, 0)
			admitted := 0
			for range 300 {
				lost := r.IntN(10) == 0
				cl.net.set(func(n *netSwitch) { n.lost = lost })
				for _, l := range cl.nodes {
					admitted += allowN(l, "q", spec, r.IntN(6))[Allowed]
				}
				cl.clock.Advance(time.Duration(20+r.IntN(60)) * time.Millisecond)
				for _, l := range cl.nodes {
					_ = l.Round(context.Background())
				}
			}
			if admitted > 500+len(cl.nodes) || admitted < 500 {
				t.Fatalf("admitted %d against a quota of 500", admitted)
			}
			cl.net.set(func(n *netSwitch) { n.lost = false })
			cl.step(t, "q", spec, 0)
			cl.store.commit(cl.net.c.Drain())
			if used := cl.store.Used("q", date(2024, 2, 14, 0), date(2024, 2, 15, 0)); used != int64(admitted) {
				t.Fatalf("store counts %d, admitted %d", used, admitted)
			}
		})
	}
}
