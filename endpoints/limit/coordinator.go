package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// CoordinatorConfig configures a Coordinator. Zero fields take the
// documented defaults.
type CoordinatorConfig struct {
	// Lease is how long granted budget stays valid. Default 1s.
	Lease time.Duration
	// MinCapacity: a rate key's bucket holds at least rate×MinCapacity
	// tokens (if its burst is not 0), so that handing out budget once per
	// node round is not starved by a burst smaller than a round's worth.
	// Default 100ms.
	MinCapacity time.Duration
	// LiveAfter: a node not heard from for this long is not live, and its
	// share of every rate (see Peers) is held back for it. It must exceed
	// the limiters' Interval plus a round trip. Default 250ms.
	LiveAfter time.Duration
	// IdleAfter: keys not requested for this long are forgotten. At least
	// Lease. Default 5m.
	IdleAfter time.Duration
	// MaxKeys caps the keys kept in memory. Default 100000.
	MaxKeys int
	// MaxBatch caps the items of one request. Default 10000.
	MaxBatch int
	// Peers returns the number of gateway nodes in the cluster (from
	// gossip). When fewer nodes are live, rate grants are scaled by
	// live/peers, leaving the missing nodes' shares to their local
	// fallback. Nil: no scaling.
	Peers func() int
	// Peer reports whether Peers counts node. Only such nodes count as
	// live: rounds from any other node (one that serves no requests and
	// only sends empty rounds, say) must not raise the live count, or the
	// live nodes would take the shares of counted nodes the coordinator
	// cannot hear. It is called with the coordinator's lock held and must
	// not block. Nil: every node that sends a round counts.
	Peer func(node string) bool
	// Store holds committed quota usage. Nil: quotas start from zero.
	Store QuotaStore
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c CoordinatorConfig) withDefaults() CoordinatorConfig {
	c.Lease = cmp0(c.Lease, time.Second)
	c.MinCapacity = cmp0(c.MinCapacity, 100*time.Millisecond)
	c.LiveAfter = cmp0(c.LiveAfter, 250*time.Millisecond)
	c.IdleAfter = cmp0(c.IdleAfter, 5*time.Minute)
	c.MaxKeys = cmp0(c.MaxKeys, 100_000)
	c.MaxBatch = cmp0(c.MaxBatch, 10_000)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c CoordinatorConfig) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"lease", c.Lease}, {"min_capacity", c.MinCapacity}, {"live_after", c.LiveAfter}, {"idle_after", c.IdleAfter}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %v", d.name, d.v))
		}
	}
	if c.Lease > 0 && c.Lease < time.Millisecond {
		errs = append(errs, fmt.Errorf("lease must be at least 1ms, got %v", c.Lease))
	}
	if c.IdleAfter > 0 && c.IdleAfter < c.Lease {
		errs = append(errs, fmt.Errorf("idle_after (%v) must be at least lease (%v)", c.IdleAfter, c.Lease))
	}
	if c.MaxKeys < 0 || c.MaxBatch < 0 {
		errs = append(errs, errors.New("max_keys and max_batch must not be negative"))
	}
	return errors.Join(errs...)
}

// cmp0 returns v, or def when v is zero.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Coordinator hands out leases of budget for the whole cluster. It runs
// on one node (the Raft leader; the node layer decides which) and is safe
// for concurrent use. It starts no goroutines.
type Coordinator struct {
	cfg CoordinatorConfig

	mu         sync.Mutex
	keys       map[string]*keyState
	head, tail *keyState // recency list, head most recently requested
	live       map[string]time.Time
	pending    map[keyWin][]dayDelta // uncounted by the store; see Drain
}

// keyState is the coordinator's state for one key.
type keyState struct {
	key        string
	spec       Spec
	seen       time.Time
	prev, next *keyState
	nodes      []nodeState

	bucket bucket // rate keys

	win  time.Time // quota keys: start of the current window
	used int64     // quota keys: usage in the window, committed or not
}

// nodeState is one node's record for one key.
type nodeState struct {
	node string
	at   time.Time // last request
	want int64     // rate: tokens last asked for
	// owed is the fraction of a token the node's contended parts have
	// come to beyond the whole tokens granted (rate, below 1).
	owed float64
	// quota, current window:
	known  bool      // stream and cum are valid
	stream uint64    // the node's count
	cum    int64     // the stream's usage counted so far
	out    int64     // budget the node holds
	exp    time.Time // when out is released
}

// maxNodesPerKey bounds a key's node records.
const maxNodesPerKey = 1024

// maxSweep bounds the idle keys forgotten in one request.
const maxSweep = 1000

// NewCoordinator validates cfg and returns a Coordinator.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	return &Coordinator{
		cfg:     cfg.withDefaults(),
		keys:    map[string]*keyState{},
		live:    map[string]time.Time{},
		pending: map[keyWin][]dayDelta{},
	}, nil
}

// Lease answers req at the coordinator's clock; with it a Coordinator is
// an in-memory Transport. It does not block beyond the lock.
func (c *Coordinator) Lease(_ context.Context, req LeaseRequest) (LeaseResponse, error) {
	return c.Grant(c.cfg.Now(), req)
}

// Grant answers req at now: Items[i] of the answer answers req.Items[i].
// It fails only when the request has more than MaxBatch items.
func (c *Coordinator) Grant(now time.Time, req LeaseRequest) (LeaseResponse, error) {
	if len(req.Items) > c.cfg.MaxBatch {
		return LeaseResponse{}, fmt.Errorf("grant %d items (max %d): %w", len(req.Items), c.cfg.MaxBatch, ErrBatchTooLarge)
	}
	resp := LeaseResponse{Items: make([]LeaseGrant, len(req.Items))}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	scale := c.heard(now, req.Node)
	for i := range req.Items {
		resp.Items[i] = c.grantOne(now, req.Node, &req.Items[i], scale)
	}
	return resp, nil
}

// Keys returns the number of keys the coordinator holds.
func (c *Coordinator) Keys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

// heard records node as live (if Peers counts it) and returns the share
// of every rate the live nodes may use: live/peers, at most 1. The asking
// node is one node, counted or not: with no counted node live it gets one
// share.
func (c *Coordinator) heard(now time.Time, node string) float64 {
	if c.cfg.Peer == nil || c.cfg.Peer(node) {
		c.live[node] = now
	}
	if c.cfg.Peers == nil {
		return 1
	}
	n := 0
	for id, at := range c.live {
		switch {
		case now.Sub(at) < c.cfg.LiveAfter:
			n++
		case now.Sub(at) > c.cfg.IdleAfter || len(c.live) > maxNodesPerKey:
			delete(c.live, id)
		}
	}
	n = max(n, 1)
	peers := c.cfg.Peers()
	if peers <= n || peers <= 0 {
		return 1
	}
	return float64(n) / float64(peers)
}

func (c *Coordinator) grantOne(now time.Time, node string, it *LeaseItem, scale float64) LeaseGrant {
	if it.Key == "" {
		return LeaseGrant{Err: "empty key"}
	}
	if err := it.Spec.Validate(); err != nil {
		return LeaseGrant{Err: "invalid spec: " + err.Error()}
	}
	if it.Want < 0 || it.Used < 0 || it.Acked < 0 || it.Held < 0 {
		return LeaseGrant{Err: "negative count"}
	}
	k := c.lookup(now, it.Key, it.Spec)
	if it.Spec.IsQuota() {
		return c.grantQuota(now, node, k, it)
	}
	if k == nil {
		return LeaseGrant{Err: ErrFull.Error()}
	}
	return c.grantRate(now, node, k, it, scale)
}

// grantRate charges the node's unleased admissions to the key's bucket and
// grants min(want, available), split by the active nodes' wants when they
// ask for more than there is.
func (c *Coordinator) grantRate(now time.Time, node string, k *keyState, it *LeaseItem, scale float64) LeaseGrant {
	k.bucket.advance(now)
	k.bucket.rate = k.spec.Rate * scale
	k.bucket.charge(now, it.Used)
	// Stale records go first: pruning moves records, so me is taken
	// after it (a node whose record went is new again, as it would be).
	k.nodes = pruneNodes(k.nodes, func(n *nodeState) bool { return now.Sub(n.at) < c.cfg.LiveAfter })
	me := k.node(node)
	since := c.cfg.LiveAfter
	if !me.at.IsZero() {
		since = min(since, now.Sub(me.at))
	}
	me.at, me.want = now, it.Want
	var total int64
	for i := range k.nodes {
		total += k.nodes[i].want
	}
	want := it.Want
	if avail := k.bucket.whole(); total > avail && total > 0 {
		// Contended: the node gets its part, by want, of what the bucket
		// holds or of what it refilled since the node last asked,
		// whichever is more. The first alone would keep a standing reserve
		// that overflows when rounds bunch up; the second alone would
		// leave the bucket's capacity unused. A part is a fraction of a
		// token when little refills per round: the node is granted the
		// whole tokens and owed the rest. Rounding every part up instead
		// let the nodes that ask first in each interval take it all, so a
		// node whose rounds came last (an edge, one hop further) got
		// nothing round after round.
		part := float64(it.Want) / float64(total)
		fair := max(float64(avail)*part, k.bucket.rate*since.Seconds()*part) + me.owed
		whole := math.Floor(fair)
		me.owed = fair - whole
		want = min(want, int64(whole))
	} else {
		me.owed = 0
	}
	return LeaseGrant{Grant: k.bucket.takeUpTo(now, want), TTL: c.cfg.Lease.Milliseconds()}
}

// rateCapacity is the coordinator's bucket capacity for a rate spec.
func (c *Coordinator) rateCapacity(s Spec) float64 {
	if s.Burst == 0 {
		return 0
	}
	return max(float64(s.Burst), s.Rate*c.cfg.MinCapacity.Seconds())
}

// node returns k's record of node, adding it if needed.
func (k *keyState) node(node string) *nodeState {
	for i := range k.nodes {
		if k.nodes[i].node == node {
			return &k.nodes[i]
		}
	}
	if len(k.nodes) >= maxNodesPerKey {
		k.nodes = k.nodes[1:]
	}
	k.nodes = append(k.nodes, nodeState{node: node})
	return &k.nodes[len(k.nodes)-1]
}

// pruneNodes keeps the records for which keep is true, in place.
func pruneNodes(ns []nodeState, keep func(*nodeState) bool) []nodeState {
	out := ns[:0]
	for i := range ns {
		if keep(&ns[i]) {
			out = append(out, ns[i])
		}
	}
	clear(ns[len(out):])
	return out
}

// lookup returns the state of key, created for spec if needed, and marks
// it most recently used. It returns nil when the coordinator is full and
// no key can be forgotten safely (every key had a lease out within
// Lease).
func (c *Coordinator) lookup(now time.Time, key string, spec Spec) *keyState {
	k := c.keys[key]
	if k == nil {
		if len(c.keys) >= c.cfg.MaxKeys {
			if c.tail == nil || now.Sub(c.tail.seen) < c.cfg.Lease {
				return nil
			}
			c.forget(c.tail)
		}
		k = &keyState{key: key}
		c.keys[key] = k
		c.reset(k, spec)
	} else {
		c.unlink(k)
		if k.spec != spec {
			if k.spec.IsQuota() != spec.IsQuota() {
				c.reset(k, spec)
			}
			k.spec = spec
			k.bucket.advance(now)
			k.bucket.cap = c.rateCapacity(spec)
			k.bucket.tokens = min(k.bucket.tokens, k.bucket.cap)
		}
	}
	k.seen = now
	k.next = c.head
	if c.head != nil {
		c.head.prev = k
	}
	c.head = k
	if c.tail == nil {
		c.tail = k
	}
	return k
}

// reset starts k afresh for spec.
func (c *Coordinator) reset(k *keyState, spec Spec) {
	k.spec = spec
	k.nodes = nil
	k.bucket = newBucket(spec.Rate, c.rateCapacity(spec))
	k.win, k.used = time.Time{}, 0
}

// sweep forgets keys idle for IdleAfter, oldest first, a bounded number.
func (c *Coordinator) sweep(now time.Time) {
	for i := 0; i < maxSweep && c.tail != nil && now.Sub(c.tail.seen) >= c.cfg.IdleAfter; i++ {
		c.forget(c.tail)
	}
}

func (c *Coordinator) forget(k *keyState) {
	c.unlink(k)
	delete(c.keys, k.key)
}

func (c *Coordinator) unlink(k *keyState) {
	if k.prev != nil {
		k.prev.next = k.next
	} else if c.head == k {
		c.head = k.next
	}
	if k.next != nil {
		k.next.prev = k.prev
	} else if c.tail == k {
		c.tail = k.prev
	}
	k.prev, k.next = nil, nil
}
