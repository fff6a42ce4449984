package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// cluster is a deterministic test cluster: limiters and a coordinator on
// one injected clock, connected through a netSwitch.
type cluster struct {
	clock *fakeClock
	net   *netSwitch
	store *memStore
	nodes []*Limiter
}

func newCluster(t *testing.T, n int, start time.Time) *cluster {
	t.Helper()
	cl := &cluster{clock: newClock(start), store: newStore()}
	cl.net = &netSwitch{c: cl.coordinator(t)}
	for i := range n {
		cl.nodes = append(cl.nodes, mustLimiter(t, LimiterConfig{
			Node:      string(rune('a' + i)),
			Transport: cl.net,
			Peers:     func() int { return n },
			Interval:  50 * time.Millisecond,
			Now:       cl.clock.Now,
		}))
	}
	return cl
}

// coordinator returns a new coordinator on the cluster's clock and store.
func (cl *cluster) coordinator(t *testing.T) *Coordinator {
	return mustCoordinator(t, CoordinatorConfig{Now: cl.clock.Now, Store: cl.store, Peers: func() int { return len(cl.nodes) }})
}

// step offers each node perNode requests, advances the clock by one
// interval and runs every node's round; it returns the admissions.
func (cl *cluster) step(t *testing.T, key string, spec Spec, perNode int) map[Status]int {
	t.Helper()
	out := map[Status]int{}
	for _, l := range cl.nodes {
		for s, c := range allowN(l, key, spec, perNode) {
			out[s] += c
		}
	}
	cl.clock.Advance(50 * time.Millisecond)
	for _, l := range cl.nodes {
		_ = l.Round(context.Background()) // failures are part of some tests
	}
	return out
}

func (l *Limiter) entry(key string) *entry {
	s := l.shardOf(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[key]
}

func TestLimiterFirstRequests(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, t0)
	l := cl.nodes[0]
	spec := RateSpec(300, 30)
	// No lease yet: the local share, burst 30/3, admits.
	for i := range 10 {
		if d := l.Allow("k", spec); !d.OK() || !d.Degraded {
			t.Fatalf("request %d: %+v, want allowed from the local share", i, d)
		}
	}
	d := l.Allow("k", spec)
	if d.Status != Throttled || d.RetryAfter != 10*time.Millisecond || !d.Degraded {
		t.Fatalf("11th request: %+v, want throttled for 10ms (local rate 100/s)", d)
	}
	round(t, l)
	if d := l.Allow("k", spec); !d.OK() || d.Degraded {
		t.Fatalf("after a round: %+v, want allowed from the lease", d)
	}
	// The 10 local admissions were charged: the coordinator's bucket of 30
	// granted 11 (2 rounds of the smoothed demand of 5.5).
	if e := l.entry("k"); e.bal.Load() != 10 {
		t.Fatalf("balance %d, want 10", e.bal.Load())
	}
}

// recorder is a Transport that remembers each request's items.
type recorder struct {
	next Transport
	mu   sync.Mutex
	reqs [][]LeaseItem
}

func (r *recorder) Lease(ctx context.Context, req LeaseRequest) (LeaseResponse, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, append([]LeaseItem(nil), req.Items...))
	r.mu.Unlock()
	return r.next.Lease(ctx, req)
}

func TestLimiterLeaseSizing(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	rec := &recorder{next: mustCoordinator(t, CoordinatorConfig{Now: clock.Now})}
	l := mustLimiter(t, LimiterConfig{Node: "a", Transport: rec, Interval: 50 * time.Millisecond, Now: clock.Now})
	spec := RateSpec(10_000, 1000)
	phases := []struct {
		perRound int
		rounds   int
		want     int64 // asked for per round once settled
		bal      int64 // held after a round once settled
	}{
		{20, 10, 20, 40},    // two rounds of demand, topped up each round
		{100, 10, 100, 200}, // demand rises: leases follow within rounds
		{0, 30, 0, 0},       // demand gone: no more requests
	}
	for _, p := range phases {
		for i := range p.rounds {
			if st := allowN(l, "k", spec, p.perRound); st[Allowed] != p.perRound {
				t.Fatalf("%d/round, round %d: %v, want all allowed", p.perRound, i, st)
			}
			clock.Advance(50 * time.Millisecond)
			rec.mu.Lock()
			rec.reqs = rec.reqs[:0]
			rec.mu.Unlock()
			round(t, l)
		}
		var want int64
		for _, it := range rec.reqs[len(rec.reqs)-1] {
			want += it.Want
		}
		if want != p.want {
			t.Errorf("%d/round: last request wants %d, want %d", p.perRound, want, p.want)
		}
		if p.perRound > 0 {
			if bal := l.entry("k").bal.Load(); bal != p.bal {
				t.Errorf("%d/round: balance %d after a round, want %d", p.perRound, bal, p.bal)
			}
		}
	}
	if n := l.Keys(); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
}

func TestLimiterQuotaExhaustionAndReset(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2, date(2024, 2, 14, 23).Add(59*time.Minute)) // a minute to midnight
	spec := QuotaSpec(50, Day, 0)
	total := map[Status]int{}
	for range 40 { // 2s, 2×8 requests per round: far more than 50
		for s, n := range cl.step(t, "key/plan", spec, 8) {
			total[s] += n
		}
	}
	if total[Allowed] != 50 {
		t.Fatalf("admitted %d of a quota of 50: %v", total[Allowed], total)
	}
	d := cl.nodes[0].Allow("key/plan", spec)
	if d.Status != QuotaExceeded {
		t.Fatalf("after the quota: %+v, want quota exceeded", d)
	}
	if wantRetry := 58 * time.Second; d.RetryAfter < wantRetry-time.Second || d.RetryAfter > wantRetry {
		t.Fatalf("retry after %v, want about %v (midnight)", d.RetryAfter, wantRetry)
	}
	cl.clock.Advance(58 * time.Second) // midnight
	// The leases ended with the day: each node admits one request on
	// credit until its first lease of the new day arrives.
	if st := cl.step(t, "key/plan", spec, 2); st[Allowed] != 2 || st[Throttled] != 2 {
		t.Fatalf("first round of the day: %v, want 2 allowed on credit, 2 throttled", st)
	}
	for range 10 {
		if st := cl.step(t, "key/plan", spec, 2); st[Allowed] != 4 {
			t.Fatalf("next day: %v, want all 4 admitted", st)
		}
	}
	// The store sees each day's usage once.
	cl.store.commit(cl.net.c.Drain())
	for day, want := range map[int]int64{14: 50, 15: 42} {
		if got := cl.store.Used("key/plan", date(2024, 2, day, 0), date(2024, 2, day+1, 0)); got != want {
			t.Errorf("usage on the %dth: %d, want %d", day, got, want)
		}
	}
}

// TestLimiterPartitionFallback: when the coordinator is unreachable each
// node enforces rate/n with burst/n; after healing, leases take over.
func TestLimiterPartitionFallback(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, t0)
	spec := RateSpec(300, 30)
	for range 20 {
		cl.step(t, "k", spec, 10) // 600/s offered, enough to hold leases
	}
	cl.net.set(func(n *netSwitch) { n.down = true })
	// Leases are spent, then outlive their second; fallback begins after
	// two failed rounds.
	for range 25 {
		cl.step(t, "k", spec, 10)
	}
	for i, l := range cl.nodes {
		if !l.Fallback() {
			t.Fatalf("node %d: not in fallback after 25 failed rounds", i)
		}
	}
	// 2s: each node admits its share, 100/s, plus at most its burst of 10.
	for i, l := range cl.nodes {
		admitted := 0
		for range 40 {
			admitted += allowN(l, "k", spec, 10)[Allowed]
			cl.clock.Advance(50 * time.Millisecond)
			_ = l.Round(context.Background())
		}
		if admitted < 200 || admitted > 210 {
			t.Errorf("node %d admitted %d in 2s of partition, want 200..210", i, admitted)
		}
		cl.clock.Advance(-2 * time.Second) // the next node, same 2s
	}
	cl.clock.Advance(2 * time.Second)
	cl.net.set(func(n *netSwitch) { n.down = false })
	cl.step(t, "k", spec, 10)
	for i, l := range cl.nodes {
		if l.Fallback() {
			t.Fatalf("node %d: still in fallback after healing", i)
		}
		if d := l.Allow("k", spec); d.Degraded {
			t.Fatalf("node %d after healing: %+v, want a leased decision", i, d)
		}
	}
}

// TestClusterPartition: one node of three is cut off. It falls back to its
// local third; the coordinator notices it is not live and grants the other
// two their two thirds, so the cluster stays at the rate.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, t0)
	spec := RateSpec(300, 30)
	for range 20 {
		cl.step(t, "k", spec, 10) // 600/s offered
	}
	cl.net.set(func(n *netSwitch) { n.cut = map[string]bool{"c": true} })
	for range 30 { // 1.5s: c's lease runs out, the coordinator stops counting it
		cl.step(t, "k", spec, 10)
	}
	admitted := make([]int, len(cl.nodes))
	for range 40 { // 2s
		for i, l := range cl.nodes {
			admitted[i] += allowN(l, "k", spec, 10)[Allowed]
		}
		cl.clock.Advance(50 * time.Millisecond)
		for _, l := range cl.nodes {
			_ = l.Round(context.Background())
		}
	}
	t.Logf("admitted in 2s: %v", admitted)
	if !cl.nodes[2].Fallback() || cl.nodes[0].Fallback() || cl.nodes[1].Fallback() {
		t.Fatal("want c, and only c, in fallback")
	}
	// c: its third, 100/s, plus at most its burst of 10. The cluster: 2s
	// at 300/s plus at most the coordinator's capacity and c's burst.
	if admitted[2] < 195 || admitted[2] > 210 {
		t.Errorf("cut-off node admitted %d in 2s, want 200 ± its burst", admitted[2])
	}
	if total := admitted[0] + admitted[1] + admitted[2]; total < 570 || total > 600+30+10 {
		t.Errorf("cluster admitted %d in 2s (per node %v), want 570..640", total, admitted)
	}
}

// TestLimiterPartitionQuota: cut off from the coordinator, a node admits
// only what its last lease left (plus one request on credit), denies as
// throttled rather than quota exceeded, and its usage is counted once the
// partition heals.
func TestLimiterPartitionQuota(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 1, t0)
	spec := QuotaSpec(10_000, Month, 0)
	admitted := 0
	for range 10 {
		admitted += cl.step(t, "q", spec, 10)[Allowed]
	}
	l := cl.nodes[0]
	left := l.entry("q").bal.Load()
	cl.net.set(func(n *netSwitch) { n.down = true })
	var during map[Status]int
	for range 60 { // 3s, well past the lease's second
		st := cl.step(t, "q", spec, 10)
		admitted += st[Allowed]
		during = st
	}
	if during[Throttled] != 10 {
		t.Fatalf("last partitioned round: %v, want all throttled", during)
	}
	if d := l.Allow("q", spec); d.Status != Throttled || !d.Degraded {
		t.Fatalf("partitioned: %+v, want throttled, degraded", d)
	}
	partitionAdmitted := admitted - 100
	if int64(partitionAdmitted) > left+10+1 { // the lease, what the round before the cut brought, credit
		t.Fatalf("admitted %d while partitioned with %d left", partitionAdmitted, left)
	}
	cl.net.set(func(n *netSwitch) { n.down = false })
	cl.step(t, "q", spec, 0)
	cl.store.commit(cl.net.c.Drain())
	if used := cl.store.Used("q", date(2024, 2, 1, 0), date(2024, 3, 1, 0)); used != int64(admitted) {
		t.Fatalf("store counts %d, admitted %d", used, admitted)
	}
}

// TestLimiterLeaderChange: a new coordinator with the same store keeps
// counting; the quota is exceeded by at most the leases the nodes held
// from the old leader.
func TestLimiterLeaderChange(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2, t0)
	spec := QuotaSpec(300, Day, 0)
	admitted := 0
	for i := range 20 {
		admitted += cl.step(t, "q", spec, 5)[Allowed]
		if i%5 == 4 {
			cl.store.commit(cl.net.c.Drain()) // the node layer's periodic commit
		}
	}
	var held int64
	for _, l := range cl.nodes {
		held += l.entry("q").bal.Load()
	}
	cl.store.commit(cl.net.c.Drain()) // the old leader's last commit
	cl.net.set(func(n *netSwitch) { n.c = cl.coordinator(t) })
	for range 100 {
		admitted += cl.step(t, "q", spec, 5)[Allowed]
	}
	if admitted < 300 || int64(admitted) > 300+held {
		t.Fatalf("admitted %d across a leader change, want 300..%d (leases held: %d)", admitted, 300+held, held)
	}
	cl.store.commit(cl.net.c.Drain())
	if used := cl.store.Used("q", date(2024, 2, 14, 0), date(2024, 2, 15, 0)); used != int64(admitted) {
		t.Fatalf("store counts %d, admitted %d", used, admitted)
	}
}

func TestLimiterRejects(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	l := mustLimiter(t, LimiterConfig{Node: "a", Transport: mustCoordinator(t, CoordinatorConfig{Now: clock.Now}), MaxKeys: 2, IdleAfter: time.Second, Now: clock.Now})
	if d := l.Allow("bad", RateSpec(-1, 1)); d.OK() || d.Err == nil {
		t.Fatalf("invalid spec: %+v, want denied with an error", d)
	}
	spec := RateSpec(10, 10)
	l.Allow("a", spec)
	l.Allow("b", spec)
	if d := l.Allow("c", spec); d.OK() || !errors.Is(d.Err, ErrFull) {
		t.Fatalf("third key with MaxKeys 2: %+v, want ErrFull", d)
	}
	if d := l.Allow("a", RateSpec(10, -1)); d.OK() || d.Err == nil {
		t.Fatalf("held key with an invalid spec: %+v, want denied with an error", d)
	}
	round(t, l)
	clock.Advance(2 * time.Second)
	round(t, l) // demand decays to zero
	round(t, l) // idle for IdleAfter: forgotten
	if n := l.Keys(); n != 0 {
		t.Fatalf("%d keys after idling, want 0", n)
	}
	if d := l.Allow("c", spec); !d.OK() {
		t.Fatalf("after idle keys were forgotten: %+v", d)
	}
	if _, err := NewLimiter(LimiterConfig{}); err == nil {
		t.Fatal("a limiter without node and transport was accepted")
	}
}

// TestLimiterRemembersUsedUpQuotaWhileIdle: a used-up quota key that goes
// idle for longer than IdleAfter is not forgotten before its window ends,
// so it gets no fresh credit.
func TestLimiterRemembersUsedUpQuotaWhileIdle(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 1, date(2024, 2, 14, 8))
	spec := QuotaSpec(3, Day, 0)
	admitted := 0
	for range 20 {
		admitted += cl.step(t, "key/plan", spec, 2)[Allowed]
	}
	if admitted != 3 {
		t.Fatalf("admitted %d of a quota of 3", admitted)
	}
	for range 4 { // four idle gaps longer than IdleAfter (5m)
		cl.clock.Advance(6 * time.Minute)
		for range 300 { // demand decays per round

			cl.clock.Advance(50 * time.Millisecond)
			_ = cl.nodes[0].Round(context.Background())
		}
		if d := cl.nodes[0].Allow("key/plan", spec); d.Status != QuotaExceeded {
			t.Fatalf("after an idle gap: %+v, want quota exceeded", d)
		}
		cl.clock.Advance(50 * time.Millisecond)
		_ = cl.nodes[0].Round(context.Background())
	}
}

// TestLimiterSmallMaxKeysRemembersUsedUpQuota: with a MaxKeys below 10 a
// single key is not memory pressure (90% of 5 is 4.5 keys), so a used-up
// quota is remembered while idle and gets no fresh credit. Under real
// pressure it is forgotten after ten idle rounds, even when IdleAfter is
// shorter than that.
func TestLimiterSmallMaxKeysRemembersUsedUpQuota(t *testing.T) {
	t.Parallel()
	spec := QuotaSpec(3, Day, 0)
	setup := func(idleAfter time.Duration) (*fakeClock, *Limiter) {
		clock := newClock(date(2024, 2, 14, 8))
		net := &netSwitch{c: mustCoordinator(t, CoordinatorConfig{Now: clock.Now, Store: newStore()})}
		l := mustLimiter(t, LimiterConfig{Node: "a", Transport: net, Interval: 50 * time.Millisecond, MaxKeys: 5, IdleAfter: idleAfter, Now: clock.Now})
		admitted := 0
		for range 20 {
			admitted += allowN(l, "key/plan", spec, 2)[Allowed]
			clock.Advance(50 * time.Millisecond)
			round(t, l)
		}
		if admitted != 3 {
			t.Fatalf("admitted %d of a quota of 3", admitted)
		}
		return clock, l
	}
	idle := func(clock *fakeClock, l *Limiter, rounds int) {
		for range rounds {
			clock.Advance(50 * time.Millisecond)
			round(t, l)
		}
	}

	clock, l := setup(0) // IdleAfter 5m
	idle(clock, l, 40)   // 2s: four times ten rounds
	if l.Keys() != 1 {
		t.Fatalf("the used-up quota key was forgotten without memory pressure (%d keys of 5)", l.Keys())
	}
	if d := l.Allow("key/plan", spec); d.Status != QuotaExceeded {
		t.Fatalf("after 40 idle rounds: %+v, want quota exceeded", d)
	}

	clock, l = setup(200 * time.Millisecond) // shorter than ten rounds
	// Four busy keys keep the limiter at 5 of 5 keys.
	for range 40 {
		for _, k := range []string{"r1", "r2", "r3", "r4"} {
			l.Allow(k, RateSpec(100, 10))
		}
		idle(clock, l, 1)
	}
	if l.entry("key/plan") != nil || l.Keys() != 4 {
		t.Fatalf("%d keys held after 40 idle rounds under memory pressure, want the idle quota key forgotten", l.Keys())
	}
}

// TestRoundDoneClosesAfterEachRound: RoundDone's channel closes when the
// round in progress (or the next) ends, failed rounds included, and a
// fresh one follows.
func TestRoundDoneClosesAfterEachRound(t *testing.T) {
	t.Parallel()
	clock := newClock(date(2024, 2, 14, 8))
	net := &netSwitch{c: mustCoordinator(t, CoordinatorConfig{Now: clock.Now, Store: newStore()})}
	l := mustLimiter(t, LimiterConfig{Node: "a", Transport: net, Now: clock.Now})
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	first := l.RoundDone()
	if closed(first) {
		t.Fatal("RoundDone is closed before any round")
	}
	round(t, l)
	if !closed(first) {
		t.Fatal("RoundDone not closed after a round")
	}
	second := l.RoundDone()
	if closed(second) {
		t.Fatal("the next RoundDone is already closed")
	}
	net.set(func(n *netSwitch) { n.down = true })
	_ = l.Round(context.Background())
	if !closed(second) {
		t.Fatal("RoundDone not closed after a failed round")
	}
}
