package limit

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// ask sends one item for node and returns its answer.
func ask(t *testing.T, c *Coordinator, now time.Time, node string, it LeaseItem) LeaseGrant {
	t.Helper()
	resp, err := c.Grant(now, LeaseRequest{Node: node, Items: []LeaseItem{it}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 1 {
		t.Fatalf("%d answers for 1 item", len(resp.Items))
	}
	return resp.Items[0]
}

func TestCoordinatorRateGrants(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{})
	spec := RateSpec(100, 10) // capacity max(10, 100×100ms) = 10
	steps := []struct {
		at   time.Duration
		want int64
		used int64 // admitted locally, charged first
		got  int64
	}{
		{0, 3, 0, 3},                      // less than there is: all of it
		{0, 50, 0, 7},                     // more: what is left
		{0, 50, 0, 0},                     // empty
		{50 * time.Millisecond, 50, 0, 5}, // 5 tokens refilled
		{time.Hour, 50, 0, 10},            // never more than the capacity
		{2 * time.Hour, 50, 4, 6},         // 4 admitted without a lease are charged
		{2*time.Hour + 100*time.Millisecond, 50, 30, 0}, // charged into debt (down to -10)
		{2*time.Hour + 300*time.Millisecond, 50, 0, 10}, // debt repaid after 100ms, then 10
	}
	for i, s := range steps {
		g := ask(t, c, t0.Add(s.at), "a", LeaseItem{Key: "k", Spec: spec, Want: s.want, Used: s.used})
		if g.Grant != s.got || g.TTL != 1000 || g.Err != "" {
			t.Fatalf("step %d: %+v, want grant %d with ttl 1000", i, g, s.got)
		}
	}
}

// TestCoordinatorRateBound checks the overshoot bound on random traffic:
// over every interval [a, b] the grants sum to at most rate×(b-a) plus the
// bucket's capacity.
func TestCoordinatorRateBound(t *testing.T) {
	t.Parallel()
	const rate, burst = 250.0, 20
	c := mustCoordinator(t, CoordinatorConfig{})
	capacity := max(burst, rate*0.1)
	r := rand.New(rand.NewPCG(3, 4))
	type grant struct {
		at time.Time
		n  int64
	}
	var gs []grant
	now := t0
	nodes := []string{"a", "b", "c", "d"}
	for range 2000 {
		now = now.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		g := ask(t, c, now, nodes[r.IntN(len(nodes))], LeaseItem{Key: "k", Spec: RateSpec(rate, burst), Want: int64(r.IntN(60))})
		gs = append(gs, grant{now, g.Grant})
	}
	var total int64
	for i := range gs {
		var sum int64
		for j := i; j < len(gs); j++ {
			sum += gs[j].n
			if limit := rate*gs[j].at.Sub(gs[i].at).Seconds() + capacity; float64(sum) > limit+1e-6 {
				t.Fatalf("grants %d in [%v, %v] exceed %.1f", sum, gs[i].at.Sub(t0), gs[j].at.Sub(t0), limit)
			}
		}
		total += gs[i].n
	}
	if span := now.Sub(t0).Seconds(); float64(total) < 0.9*rate*span {
		t.Fatalf("granted %d over %.1fs, want close to %.0f: demand exceeds the rate", total, span, rate*span)
	}
}

func TestCoordinatorFairShare(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{})
	got := map[string]int64{}
	now := t0
	nodes := []string{"a", "b", "c"}
	for i := range 3000 { // 10s, each node every 10ms, all asking for more than there is
		now = now.Add(10 * time.Millisecond / 3)
		n := nodes[i%3]
		got[n] += ask(t, c, now, n, LeaseItem{Key: "k", Spec: RateSpec(300, 30), Want: 20}).Grant
	}
	for _, n := range nodes {
		if share := float64(got[n]) / 1000; share < 0.8 || share > 1.2 {
			t.Errorf("node %s got %d of ~3000 tokens, want about a third: %v", n, got[n], got)
		}
	}
}

// TestCoordinatorLiveShare: with 3 peers of which only one is heard from,
// that one gets a third of the rate; the others' shares are left to their
// local fallback. Once they are back the whole rate is granted.
func TestCoordinatorLiveShare(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{Peers: func() int { return 3 }})
	spec := RateSpec(300, 30)
	now := t0
	var alone int64
	for range 100 { // 5s
		now = now.Add(50 * time.Millisecond)
		alone += ask(t, c, now, "a", LeaseItem{Key: "k", Spec: spec, Want: 100}).Grant
	}
	if want := 300.0 / 3 * 5; math.Abs(float64(alone)-want) > 30+1 {
		t.Fatalf("one live node of 3 got %d in 5s, want %v ± the capacity", alone, want)
	}
	var all int64
	for range 100 {
		now = now.Add(50 * time.Millisecond)
		for _, n := range []string{"a", "b", "c"} {
			all += ask(t, c, now, n, LeaseItem{Key: "k", Spec: spec, Want: 100}).Grant
		}
	}
	if want := 300.0 * 5; math.Abs(float64(all)-want) > 30+1 {
		t.Fatalf("three live nodes got %d in 5s, want %v ± the capacity", all, want)
	}
}

// TestCoordinatorLiveShareCountsOnlyPeers: rounds from a node that Peers
// does not count (a control-only node's heartbeats) do not make it live.
// With 2 gateway peers, one of them silent, the other gets half the rate,
// not all of it; a heartbeat alone makes no node live, so the asking node
// that Peers does not count still gets one share.
func TestCoordinatorLiveShareCountsOnlyPeers(t *testing.T) {
	t.Parallel()
	gateways := map[string]bool{"a": true, "b": true}
	c := mustCoordinator(t, CoordinatorConfig{
		Peers: func() int { return len(gateways) },
		Peer:  func(node string) bool { return gateways[node] },
	})
	spec := RateSpec(300, 30)
	now := t0
	var got int64
	for range 100 { // 5s; b is silent
		now = now.Add(50 * time.Millisecond)
		if _, err := c.Grant(now, LeaseRequest{Node: "control"}); err != nil { // a heartbeat
			t.Fatal(err)
		}
		got += ask(t, c, now, "a", LeaseItem{Key: "k", Spec: spec, Want: 100}).Grant
	}
	if want := 300.0 / 2 * 5; math.Abs(float64(got)-want) > 30+1 {
		t.Fatalf("one live gateway of 2, with a heartbeat from a non-gateway, got %d in 5s, want %v ± the capacity", got, want)
	}
	if scale := c.heard(now, "control"); scale != 0.5 {
		t.Fatalf("share after a non-gateway's round: %v, want 0.5 (a live)", scale)
	}
	c.live = map[string]time.Time{}
	if scale := c.heard(now, "control"); scale != 0.5 {
		t.Fatalf("share of a non-gateway with no gateway live: %v, want one share of 2", scale)
	}
	if len(c.live) != 0 {
		t.Fatalf("a non-gateway counts as live: %v", c.live)
	}
}

func TestCoordinatorQuota(t *testing.T) {
	t.Parallel()
	spec := QuotaSpec(100, Day, 0)
	ws := t0.Truncate(24 * time.Hour).Unix()
	type step struct {
		at   time.Duration
		node string
		it   LeaseItem // Key and Spec filled in
		want LeaseGrant
	}
	reset := func(at time.Duration) int64 { return (12*time.Hour - at).Milliseconds() }
	tests := []struct {
		name  string
		steps []step
	}{
		{"grants stop at the limit", []step{
			{0, "a", LeaseItem{Want: 60}, LeaseGrant{Grant: 60, TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "b", LeaseItem{Want: 60}, LeaseGrant{Grant: 40, TTL: 1000, Win: ws, Reset: reset(0)}},
			// a used all 60; b still holds 40.
			{0, "a", LeaseItem{Want: 10, Used: 60, Win: ws}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "b", LeaseItem{Want: 10, Used: 40, Win: ws}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0), Exhausted: true}},
		}},
		{"an expired lease is released", []step{
			{0, "a", LeaseItem{Want: 80}, LeaseGrant{Grant: 80, TTL: 1000, Win: ws, Reset: reset(0)}},
			{999 * time.Millisecond, "b", LeaseItem{Want: 80}, LeaseGrant{Grant: 20, TTL: 1000, Win: ws, Reset: reset(999 * time.Millisecond)}},
			{time.Second, "c", LeaseItem{Want: 100}, LeaseGrant{Grant: 80, TTL: 1000, Win: ws, Reset: reset(time.Second)}},
			// a comes back and reports 30 used of its expired lease: counted;
			// at 2s b's and c's leases have expired too.
			{time.Second, "a", LeaseItem{Want: 0, Used: 30, Win: ws}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(time.Second)}},
			{2 * time.Second, "a", LeaseItem{Want: 100}, LeaseGrant{Grant: 70, TTL: 1000, Win: ws, Reset: reset(2 * time.Second)}},
		}},
		{"a lost grant is not held back", []step{
			{0, "a", LeaseItem{Want: 60}, LeaseGrant{Grant: 60, TTL: 1000, Win: ws, Reset: reset(0)}},
			// The answer was lost: a holds nothing and says so.
			{0, "a", LeaseItem{Want: 60}, LeaseGrant{Grant: 60, TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "b", LeaseItem{Want: 60}, LeaseGrant{Grant: 40, TTL: 1000, Win: ws, Reset: reset(0)}},
		}},
		{"a report sent again is counted once", []step{
			{0, "a", LeaseItem{Want: 50}, LeaseGrant{Grant: 50, TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "a", LeaseItem{Used: 10, Held: 40, Win: ws, Stream: 7}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0)}},
			// The answer was lost: the node sends it again with more.
			{0, "a", LeaseItem{Used: 15, Held: 35, Win: ws, Stream: 7}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "a", LeaseItem{Used: 5, Acked: 15, Held: 30, Win: ws, Stream: 7}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0)}},
			// used 20, a holds 30 → 50 left.
			{0, "b", LeaseItem{Want: 100}, LeaseGrant{Grant: 50, TTL: 1000, Win: ws, Reset: reset(0)}},
		}},
		{"the lease ends with the window", []step{
			{12*time.Hour - 300*time.Millisecond, "a", LeaseItem{Want: 5}, LeaseGrant{Grant: 5, TTL: 300, Win: ws, Reset: 300}},
		}},
		{"the window resets at midnight", []step{
			{0, "a", LeaseItem{Want: 100}, LeaseGrant{Grant: 100, TTL: 1000, Win: ws, Reset: reset(0)}},
			{0, "a", LeaseItem{Used: 100, Win: ws}, LeaseGrant{TTL: 1000, Win: ws, Reset: reset(0), Exhausted: true}},
			{12*time.Hour - 1, "b", LeaseItem{Want: 1}, LeaseGrant{TTL: 0, Win: ws, Reset: 1, Exhausted: true}},
			{12 * time.Hour, "b", LeaseItem{Want: 100}, LeaseGrant{Grant: 100, TTL: 1000, Win: ws + 86400, Reset: 86400_000}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCoordinator(t, CoordinatorConfig{})
			for i, s := range tc.steps {
				s.it.Key, s.it.Spec = "key1/plan1", spec
				if g := ask(t, c, t0.Add(s.at), s.node, s.it); g != s.want {
					t.Fatalf("step %d: %+v, want %+v", i, g, s.want)
				}
			}
		})
	}
}

// TestCoordinatorUsageAfterRollover: usage reported for the old window
// after midnight does not count against the new one and is drained for
// the old window, on its last day.
func TestCoordinatorUsageAfterRollover(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{})
	spec := QuotaSpec(10, Week, 0) // 2024-02-11 .. 02-18
	g := ask(t, c, t0, "a", LeaseItem{Key: "k", Spec: spec, Want: 10})
	old := g.Win
	next := date(2024, 2, 18, 1)
	g = ask(t, c, next, "a", LeaseItem{Key: "k", Spec: spec, Want: 10, Used: 7, Win: old})
	if g.Grant != 10 || g.Win != date(2024, 2, 18, 0).Unix() {
		t.Fatalf("after the rollover: %+v, want the whole new window", g)
	}
	want := []UsageDelta{{Key: "k", Window: date(2024, 2, 11, 0), Day: date(2024, 2, 17, 0), Delta: 7}}
	if got := c.Drain(); !slices.Equal(got, want) {
		t.Fatalf("Drain() = %+v, want %+v", got, want)
	}
}

// TestCoordinatorDrainContract walks the contract between the in-memory
// counts, Drain and the store: drained usage stays counted, a commit does
// not count it twice, and a new coordinator reads what was committed.
func TestCoordinatorDrainContract(t *testing.T) {
	t.Parallel()
	store := newStore()
	spec := QuotaSpec(100, Month, 0)
	a := mustCoordinator(t, CoordinatorConfig{Store: store})
	report := func(c *Coordinator, at time.Time, node string, used, acked int64) LeaseGrant {
		win, _ := Window(at, Month, 0)
		return ask(t, c, at, node, LeaseItem{Key: "k", Spec: spec, Want: 100, Used: used, Acked: acked, Win: win.Unix()})
	}
	if g := report(a, t0, "n1", 30, 0); g.Grant != 70 {
		t.Fatalf("first grant %d, want 70", g.Grant)
	}
	ds := a.Drain()
	want := []UsageDelta{{Key: "k", Window: date(2024, 2, 1, 0), Day: date(2024, 2, 14, 0), Delta: 30}}
	if !slices.Equal(ds, want) {
		t.Fatalf("Drain() = %+v, want %+v", ds, want)
	}
	if again := a.Drain(); len(again) != 0 {
		t.Fatalf("second Drain() = %+v, want nothing", again)
	}
	store.commit(ds)
	// n1 used its 70 too; after the commit the leader must see 100 used,
	// not 130 (the store's 30 read again) nor 70.
	if g := report(a, t0.Add(time.Second), "n1", 70, 30); g.Grant != 0 || !g.Exhausted {
		t.Fatalf("after commit: %+v, want exhausted", g)
	}
	ds = a.Drain()
	// Give back a failed commit, then commit it.
	a.Requeue(ds)
	if again := a.Drain(); !slices.Equal(again, ds) {
		t.Fatalf("Drain after Requeue = %+v, want %+v", again, ds)
	}
	store.commit(ds)

	// Leader change: b reads the store.
	b := mustCoordinator(t, CoordinatorConfig{Store: store})
	if g := report(b, t0.Add(2*time.Second), "n2", 0, 0); g.Grant != 0 || !g.Exhausted {
		t.Fatalf("new leader: %+v, want exhausted from the store", g)
	}
	// Next month starts afresh on both.
	if g := report(b, date(2024, 3, 1, 0), "n2", 0, 0); g.Grant != 100 {
		t.Fatalf("new month: %+v, want 100", g)
	}
}

func TestCoordinatorForgets(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{MaxKeys: 2, IdleAfter: 2 * time.Second})
	rate := RateSpec(10, 10)
	for _, k := range []string{"a", "b"} {
		ask(t, c, t0, "n", LeaseItem{Key: k, Spec: rate, Want: 10})
	}
	// Full, and both keys have leases out: refused.
	if g := ask(t, c, t0.Add(500*time.Millisecond), "n", LeaseItem{Key: "c", Spec: rate, Want: 1}); g.Err != ErrFull.Error() {
		t.Fatalf("third key while full: %+v, want %q", g, ErrFull)
	}
	ask(t, c, t0.Add(500*time.Millisecond), "n", LeaseItem{Key: "b", Spec: rate, Want: 1})
	// a's lease has expired: it is the oldest and makes room.
	if g := ask(t, c, t0.Add(time.Second), "n", LeaseItem{Key: "c", Spec: rate, Want: 1}); g.Err != "" || g.Grant != 1 {
		t.Fatalf("third key after a's lease: %+v", g)
	}
	if n := c.Keys(); n != 2 {
		t.Fatalf("%d keys, want 2", n)
	}
	// Quota usage survives forgetting: it is pending for the store.
	q := QuotaSpec(10, Day, 0)
	ask(t, c, t0.Add(4*time.Second), "n", LeaseItem{Key: "q", Spec: q, Used: 4})
	if n := c.Keys(); n != 1 {
		t.Fatalf("%d keys after 3s idle, want only the new one", n)
	}
	ask(t, c, t0.Add(8*time.Second), "n", LeaseItem{Key: "x", Spec: rate})
	if g := ask(t, c, t0.Add(8*time.Second), "n", LeaseItem{Key: "q", Spec: q, Want: 10}); g.Grant != 6 {
		t.Fatalf("forgotten quota key came back with grant %d, want 6 (4 used)", g.Grant)
	}
}

func TestCoordinatorRefuses(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{MaxBatch: 3})
	resp, err := c.Grant(t0, LeaseRequest{Node: "n", Items: []LeaseItem{
		{Key: "", Spec: RateSpec(1, 1)},
		{Key: "k", Spec: RateSpec(-1, 1)},
		{Key: "k", Spec: RateSpec(1, 1), Want: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"empty key", "invalid spec: rate must be", "negative count"} {
		if !strings.HasPrefix(resp.Items[i].Err, want) {
			t.Errorf("item %d: %+v, want error %q", i, resp.Items[i], want)
		}
	}
	_, err = c.Grant(t0, LeaseRequest{Node: "n", Items: make([]LeaseItem, 4)})
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("4 items with MaxBatch 3: %v, want ErrBatchTooLarge", err)
	}
	if _, err := NewCoordinator(CoordinatorConfig{Lease: time.Minute, IdleAfter: time.Second}); err == nil {
		t.Fatal("IdleAfter below Lease accepted")
	}
}

// TestCoordinatorLastAskerGetsItsPart: four nodes ask for more than a
// contended key refills, every 100 ms in the same order, so each round's
// part of the refill is a fraction of a token. The node that asks last
// in every interval still gets about its quarter (an edge whose rounds
// take a hop more came last, and got nothing when parts were rounded up).
func TestCoordinatorLastAskerGetsItsPart(t *testing.T) {
	t.Parallel()
	c := mustCoordinator(t, CoordinatorConfig{})
	spec := RateSpec(50, 50)
	t0 := time.Unix(1_700_000_000, 0)
	nodes := []string{"w0", "w1", "w2", "e0"}
	got := map[string]int64{}
	for round := range 100 { // 10 s
		at := t0.Add(time.Duration(round) * 100 * time.Millisecond)
		for i, n := range nodes {
			g := ask(t, c, at.Add(time.Duration(i)*time.Millisecond), n, LeaseItem{Key: "stage", Spec: spec, Want: 20})
			if g.Err != "" {
				t.Fatal(g.Err)
			}
			got[n] += g.Grant
		}
	}
	var total int64
	for _, n := range nodes {
		total += got[n]
	}
	if total < 450 || total > 600 { // 50 rps for 10 s plus the first burst
		t.Errorf("granted %d in all, want about 550", total)
	}
	for _, n := range nodes {
		if share := float64(got[n]) / float64(total); share < 0.2 || share > 0.3 {
			t.Errorf("%s got %d of %d (%.2f), want about a quarter; all: %v", n, got[n], total, share, got)
		}
	}
}
