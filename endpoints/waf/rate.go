package waf

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxTrackedAddresses is how many client addresses one rate rule
// tracks at most per node (Options.MaxTrackedAddresses). Past it, the
// address seen least recently is forgotten. An entry costs about 150
// bytes, so a full rule holds about 15 MB.
const DefaultMaxTrackedAddresses = 100_000

const (
	// rateSlots is how many counters one window is split into. A request
	// counts towards the limit for at least (1 - 1/rateSlots) of the
	// window and never longer than the window.
	rateSlots = 10
	// rateShards spreads the addresses over independently locked maps.
	rateShards = 16
)

// rateCounter counts requests per client address in a sliding window of
// rateSlots fixed slots, aligned to the clock (slot n covers
// [n*slot, (n+1)*slot)). It is bounded: each shard forgets its least
// recently seen address when full. Safe for concurrent use; hit never
// blocks beyond a short critical section.
type rateCounter struct {
	limit  uint64
	slot   int64 // nanoseconds
	seed   maphash.Seed
	shards [rateShards]rateShard
}

type rateShard struct {
	mu   sync.Mutex
	m    map[netip.Addr]*rateEntry
	max  int
	head *rateEntry // most recently seen; head.prev is the least recent
}

// rateEntry is one address's counters; entries form a circular
// doubly-linked list in order of use.
type rateEntry struct {
	addr       netip.Addr
	prev, next *rateEntry
	last       int64 // slot number counts[last%rateSlots] belongs to
	counts     [rateSlots]uint32
}

func newRateCounter(limit int, window time.Duration, maxAddrs int) *rateCounter {
	c := &rateCounter{
		limit: uint64(limit),
		slot:  max(int64(window)/rateSlots, 1),
		seed:  maphash.MakeSeed(),
	}
	perShard := max((maxAddrs+rateShards-1)/rateShards, 1)
	for i := range c.shards {
		c.shards[i].m = make(map[netip.Addr]*rateEntry)
		c.shards[i].max = perShard
	}
	return c
}

// hit counts one request from a at now and reports whether the address
// is over the limit, this request included.
func (c *rateCounter) hit(a netip.Addr, now time.Time) bool {
	slot := floorDiv(now.UnixNano(), c.slot)
	s := &c.shards[maphash.Comparable(c.seed, a)%rateShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[a]
	if e == nil {
		e = s.insert(a, slot)
	} else {
		s.touch(e)
	}
	if slot > e.last {
		if slot-e.last >= rateSlots {
			e.counts = [rateSlots]uint32{}
		} else {
			for n := e.last + 1; n <= slot; n++ {
				e.counts[mod(n, rateSlots)] = 0
			}
		}
		e.last = slot
	}
	// A clock that went back counts into the newest slot.
	i := mod(e.last, rateSlots)
	if e.counts[i] < math.MaxUint32 {
		e.counts[i]++
	}
	var total uint64
	for _, n := range e.counts {
		total += uint64(n)
	}
	return total > c.limit
}

// tracked reports how many addresses the counter holds.
func (c *rateCounter) tracked() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// insert adds a fresh entry at the front, evicting the least recently
// seen one if the shard is full. s.mu is held.
func (s *rateShard) insert(a netip.Addr, slot int64) *rateEntry {
	var e *rateEntry
	if len(s.m) >= s.max {
		// Reuse the oldest entry's memory.
		e = s.head.prev
		s.unlink(e)
		delete(s.m, e.addr)
		*e = rateEntry{}
	} else {
		e = &rateEntry{}
	}
	e.addr, e.last = a, slot
	s.m[a] = e
	s.pushFront(e)
	return e
}

func (s *rateShard) touch(e *rateEntry) {
	if s.head == e {
		return
	}
	s.unlink(e)
	s.pushFront(e)
}

func (s *rateShard) pushFront(e *rateEntry) {
	if s.head == nil {
		e.prev, e.next = e, e
	} else {
		e.next, e.prev = s.head, s.head.prev
		e.prev.next, e.next.prev = e, e
	}
	s.head = e
}

func (s *rateShard) unlink(e *rateEntry) {
	if e.next == e {
		s.head = nil
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
		if s.head == e {
			s.head = e.next
		}
	}
	e.prev, e.next = nil, nil
}

// floorDiv divides rounding towards negative infinity, so clocks before
// 1970 (as some tests use) still get distinct, ordered slots.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
