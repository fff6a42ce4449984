package limit

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Quota accounting on the coordinator, per key and current window:
//
//	used = base + counted
//	base    = store.Used(key, window) + pending deltas of (key, window),
//	          read once, when the coordinator first sees the key in the window
//	counted = every delta the coordinator counted since
//
// Every counted delta also goes to the pending set. Drain hands the pending
// set to the node layer and clears it, but leaves used alone: once the
// deltas are committed the store holds them, and the coordinator never
// reads the store again for a window it tracks, so nothing is counted
// twice. A new coordinator (leader change, restart) or a key forgotten
// while idle reads the store afresh; its base then holds everything
// committed, and the pending deltas this coordinator still holds.
//
// Grants never exceed limit - used - outstanding, where outstanding sums
// the nodes' unexpired budget: what each node said it held when it last
// asked (LeaseItem.Held) plus what it was granted then. A node spends its
// budget only until its lease ends, which is before the coordinator
// releases it.

// keyWin names a key's window (start, Unix seconds).
type keyWin struct {
	key string
	win int64
}

// dayDelta is pending usage on one day (UTC midnight, Unix seconds).
type dayDelta struct {
	day, n int64
}

func (c *Coordinator) grantQuota(now time.Time, node string, k *keyState, it *LeaseItem) LeaseGrant {
	spec := it.Spec
	win, end := Window(now, spec.Period, spec.Offset)
	ws := win.Unix()
	other := it.Win != 0 && it.Win != ws
	if k == nil { // full: count the usage, grant nothing
		start := ws
		if other {
			start = it.Win
		}
		c.count(now, it.Key, spec, start, it.Used)
		return LeaseGrant{Err: ErrFull.Error()}
	}
	if !k.win.Equal(win) {
		c.roll(k, win, end)
	}
	if other {
		// Usage from another window (the node reports after a rollover)
		// does not touch this window; it only goes to the store.
		c.count(now, k.key, spec, it.Win, it.Used)
	}
	me := k.node(node)
	me.at = now
	if !other {
		d := it.Used
		total := it.Acked + it.Used
		if me.known && me.stream == it.Stream {
			d = max(0, total-me.cum)
			me.cum = max(me.cum, total)
		} else {
			// A stream this coordinator has not seen (a new one, a new
			// leader, a forgotten key): Acked was counted by whoever
			// acknowledged it.
			me.stream, me.cum, me.known = it.Stream, total, true
		}
		me.out = max(0, it.Held)
		k.used += d
		c.count(now, k.key, spec, ws, d)
	}
	var outstanding int64
	for i := range k.nodes {
		n := &k.nodes[i]
		if !now.Before(n.exp) {
			n.out = 0 // lease expired: released
		}
		outstanding += n.out
	}
	ttl := min(c.cfg.Lease, end.Sub(now)).Milliseconds()
	var g int64
	if ttl > 0 {
		g = max(0, min(it.Want, int64(spec.Limit)-k.used-outstanding))
	}
	me.out += g
	me.exp = now.Add(time.Duration(ttl) * time.Millisecond)
	return LeaseGrant{
		Grant:     g,
		TTL:       ttl,
		Win:       ws,
		Reset:     int64(math.Ceil(float64(end.Sub(now)) / float64(time.Millisecond))),
		Exhausted: k.used >= int64(spec.Limit),
	}
}

// roll moves k to the window [win, end): usage from the store plus what is
// pending here, and no leases.
func (c *Coordinator) roll(k *keyState, win, end time.Time) {
	k.win = win
	k.nodes = nil
	k.used = 0
	if c.cfg.Store != nil {
		k.used = c.cfg.Store.Used(k.key, win, end)
	}
	for _, d := range c.pending[keyWin{k.key, win.Unix()}] {
		k.used += d.n
	}
}

// count adds n to the pending usage of key in the window starting at
// start (Unix seconds), on today's date kept within the window.
func (c *Coordinator) count(now time.Time, key string, spec Spec, start, n int64) {
	if n <= 0 {
		return
	}
	ws := time.Unix(start, 0).UTC()
	day := midnight(now)
	if _, end := Window(ws, spec.Period, spec.Offset); !end.IsZero() && !day.Before(end) {
		day = end.AddDate(0, 0, -1)
	}
	if day.Before(ws) {
		day = midnight(ws)
	}
	c.addPending(keyWin{key, start}, day.Unix(), n)
}

func (c *Coordinator) addPending(kw keyWin, day, n int64) {
	ds := c.pending[kw]
	for i := range ds {
		if ds[i].day == day {
			ds[i].n += n
			return
		}
	}
	c.pending[kw] = append(ds, dayDelta{day, n})
}

// Drain returns the usage counted since the last Drain, and forgets it; the
// node layer commits it through Raft (after which QuotaStore.Used includes
// it). The coordinator's own counts keep the drained usage, so it is
// neither lost nor counted twice. Deltas are sorted by key, window, day.
//
// Call it every second or so: usage drained but not yet committed is what
// a leader change loses. If a commit certainly failed (nothing was
// appended), give the deltas back with Requeue.
func (c *Coordinator) Drain() []UsageDelta {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []UsageDelta
	for kw, ds := range c.pending {
		for _, d := range ds {
			out = append(out, UsageDelta{
				Key:    kw.key,
				Window: time.Unix(kw.win, 0).UTC(),
				Day:    time.Unix(d.day, 0).UTC(),
				Delta:  d.n,
			})
		}
	}
	clear(c.pending)
	slices.SortFunc(out, func(a, b UsageDelta) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), a.Window.Compare(b.Window), a.Day.Compare(b.Day))
	})
	return out
}

// Requeue gives back deltas from Drain whose commit failed without being
// appended; the next Drain returns them again. The counts the coordinator
// grants against are unchanged (they never dropped the deltas).
func (c *Coordinator) Requeue(ds []UsageDelta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		if d.Delta > 0 {
			c.addPending(keyWin{d.Key, d.Window.Unix()}, midnight(d.Day).Unix(), d.Delta)
		}
	}
}
