package limit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memStore stands for the Raft-replicated usage: counts per key and day,
// summed over a window's days, as cluster.Usage keeps them.
type memStore struct {
	mu   sync.Mutex
	days map[string]map[time.Time]int64
}

func newStore() *memStore { return &memStore{days: map[string]map[time.Time]int64{}} }

func (s *memStore) Used(key string, start, end time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for day, c := range s.days[key] {
		if !day.Before(start) && day.Before(end) {
			n += c
		}
	}
	return n
}

// commit applies drained deltas, as the node layer does through Raft.
func (s *memStore) commit(ds []UsageDelta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if s.days[d.Key] == nil {
			s.days[d.Key] = map[time.Time]int64{}
		}
		s.days[d.Key][d.Day] += d.Delta
	}
}

// netSwitch is an in-memory Transport to whichever coordinator is the
// leader, which a test can cut.
type netSwitch struct {
	mu   sync.Mutex
	c    *Coordinator
	down bool
	lost bool            // the coordinator handles requests but answers are lost
	cut  map[string]bool // nodes cut off from the coordinator
}

var errUnreachable = errors.New("coordinator unreachable")

func (n *netSwitch) Lease(ctx context.Context, req LeaseRequest) (LeaseResponse, error) {
	n.mu.Lock()
	c, down, lost := n.c, n.down || n.cut[req.Node], n.lost
	n.mu.Unlock()
	if down {
		return LeaseResponse{}, errUnreachable
	}
	resp, err := c.Lease(ctx, req)
	if lost {
		return LeaseResponse{}, errUnreachable
	}
	return resp, err
}

func (n *netSwitch) set(f func(*netSwitch)) {
	n.mu.Lock()
	f(n)
	n.mu.Unlock()
}

// testLogger routes logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func mustCoordinator(t testing.TB, cfg CoordinatorConfig) *Coordinator {
	t.Helper()
	c, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustLimiter(t testing.TB, cfg LimiterConfig) *Limiter {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	l, err := NewLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func round(t testing.TB, l *Limiter) {
	t.Helper()
	if err := l.Round(context.Background()); err != nil {
		t.Fatalf("round: %v", err)
	}
}

// allowN calls Allow n times and counts the statuses.
func allowN(l *Limiter, key string, spec Spec, n int) map[Status]int {
	out := map[Status]int{}
	for range n {
		out[l.Allow(key, spec).Status]++
	}
	return out
}

// t0 is a fixed Wednesday.
var t0 = time.Date(2024, 2, 14, 12, 0, 0, 0, time.UTC)
