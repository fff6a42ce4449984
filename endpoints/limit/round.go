package limit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// demandAlpha is the weight of the last round in a key's smoothed demand.
const demandAlpha = 0.5

// maxTTL (milliseconds) caps a lease's lifetime, whatever the answer says.
const maxTTL = int64(time.Hour / time.Millisecond)

// maxReset (milliseconds) caps the time to a window's end: a MONTH.
const maxReset = int64(31 * 24 * time.Hour / time.Millisecond)

// itemRef ties a request item to its entry.
type itemRef struct {
	e     *entry
	quota bool
	old   bool // usage of the previous quota window
}

// Run renews leases every Interval until ctx ends, then returns nil. Call
// it once, from a goroutine the node layer owns and waits for.
func (l *Limiter) Run(ctx context.Context) error {
	tick := time.NewTicker(l.cfg.Interval)
	defer tick.Stop()
	for {
		_ = l.Round(ctx) // failures are logged and drive the fallback
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round runs one renewal round: it updates every key's demand, sends one
// request with the keys that run low or have usage to report (an empty
// request is a heartbeat: the coordinator counts the node as live), and
// installs the grants. It blocks for the Transport call, at most Timeout.
// Run calls it; tests call it directly with an injected clock.
func (l *Limiter) Round(ctx context.Context) error {
	l.roundMu.Lock()
	defer l.roundMu.Unlock()
	defer func() {
		next := make(chan struct{})
		close(*l.rounds.Swap(&next))
	}()
	now := l.cfg.Now()
	sent := l.since(now)
	n := l.peers()
	l.collect()
	l.items, l.refs = l.items[:0], l.refs[:0]
	idleAfter := int64(l.cfg.IdleAfter)
	// Memory pressure (90% of MaxKeys held): forget keys idle for ten
	// rounds. Multiplied out, so that a small MaxKeys is not truncated to
	// a threshold of 0.
	pressure := l.count.Load()*10 >= int64(l.cfg.MaxKeys)*9
	if pressure {
		idleAfter = min(idleAfter, int64(10*l.cfg.Interval))
	}
	for _, e := range l.scan {
		l.prepare(e, now, sent, n, idleAfter, pressure)
	}
	clear(l.scan)
	l.evict()
	defer func() { clear(l.items); clear(l.refs) }()

	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	resp, err := l.cfg.Transport.Lease(cctx, LeaseRequest{Node: l.cfg.Node, Items: l.items})
	cancel()
	if err == nil && len(resp.Items) != len(l.items) {
		err = fmt.Errorf("coordinator answered %d items for %d", len(resp.Items), len(l.items))
	}
	if err != nil {
		for _, r := range l.refs {
			if !r.quota {
				r.e.unl = 0 // stale by the time the coordinator is back
			}
		}
		if !l.failing.Swap(true) {
			l.log.Warn("lease round failed", "err", err, "items", len(l.items))
		}
		return fmt.Errorf("lease round: %w", err)
	}
	recv := l.since(l.cfg.Now())
	for i, r := range l.refs {
		l.apply(r, &l.items[i], &resp.Items[i], sent, recv)
	}
	l.lastOK.Store(sent)
	if l.failing.Swap(false) {
		l.log.Info("lease round recovered")
	}
	return nil
}

// collect lists every entry, starting at a different shard each round so a
// full batch does not always favour the same keys.
func (l *Limiter) collect() {
	l.scan = l.scan[:0]
	for i := range nShards {
		s := &l.shards[(l.start+i)%nShards]
		s.mu.RLock()
		for _, e := range s.m {
			l.scan = append(l.scan, e)
		}
		s.mu.RUnlock()
	}
	l.start = (l.start + 1) % nShards
}

// prepare updates e's demand and local share and adds its items to the
// request when it needs budget or has usage to report. Keys idle for
// idleAfter are marked for eviction; pressure says memory is short.
func (l *Limiter) prepare(e *entry, now time.Time, t int64, n int, idleAfter int64, pressure bool) {
	spec := *e.spec.Load()
	quota := spec.IsQuota()
	h := e.hits.Swap(0)
	e.demand += demandAlpha * (float64(h) - e.demand)
	if e.demand < 1e-3 {
		e.demand = 0
	}
	if h > 0 {
		e.active = t
	}
	e.low.Store(int64(math.Ceil(e.demand / 2)))
	if spec != e.localSpec || n != e.localN {
		e.localSpec, e.localN = spec, n
		rate, capacity := localShare(spec, n)
		e.local.set(now, rate, capacity)
	}
	var used int64
	if quota {
		if e.win != 0 && t >= e.resetAt.Load() {
			// The window has ended by this node's clock: what is pending
			// is the old window's, new usage is reported as the current
			// window's (Win 0) until the coordinator names it.
			e.oldPend += e.pend
			e.oldWin = e.win
			e.pend, e.acked, e.win = 0, 0, 0
			e.stream = l.streams.Add(1)
		}
		e.pend += e.used.Swap(0)
		used = e.pend
	} else {
		e.unl += e.unleased.Swap(0)
		used = e.unl
	}
	var bal int64
	if t < e.exp.Load() {
		bal = max(0, e.bal.Load())
	}
	if len(l.items)+2 > l.cfg.MaxBatch {
		return // next round; pending stays set
	}
	pending := e.pending.Swap(false)
	renewBelow := e.demand * max(0.5, l.cfg.Headroom-0.5)
	need := pending || used > 0 || (e.demand > 0 && float64(bal) < renewBelow)
	if need {
		want := max(0, int64(math.Ceil(e.demand*l.cfg.Headroom))-bal)
		if pending && want == 0 {
			want = 1
		}
		it := LeaseItem{Key: e.key, Spec: spec, Want: want, Used: used}
		if quota {
			it.Acked, it.Win, it.Stream, it.Held = e.acked, e.win, e.stream, bal
		}
		l.items = append(l.items, it)
		l.refs = append(l.refs, itemRef{e: e, quota: quota})
	}
	if quota && e.oldPend > 0 {
		l.items = append(l.items, LeaseItem{Key: e.key, Spec: spec, Used: e.oldPend, Win: e.oldWin})
		l.refs = append(l.refs, itemRef{e: e, quota: true, old: true})
	}
	// A used-up quota is remembered until its window ends (unless memory
	// is short): forgetting it would give the key a fresh credit.
	keepExhausted := e.exhausted.Load() && t < e.resetAt.Load() && !pressure
	if !need && h == 0 && e.oldPend == 0 && t-e.active >= idleAfter && !keepExhausted {
		l.idle = append(l.idle, e)
	}
}

// evict forgets the idle entries that nothing has touched since prepare.
// Allow holds the shard's read lock while it uses an entry, so under the
// write lock no admission can slip past the check.
func (l *Limiter) evict() {
	for _, e := range l.idle {
		s := l.shardOf(e.key)
		s.mu.Lock()
		if s.m[e.key] == e && e.hits.Load() == 0 && e.used.Load() == 0 && e.unleased.Load() == 0 {
			delete(s.m, e.key)
			l.count.Add(-1)
		}
		s.mu.Unlock()
	}
	clear(l.idle)
	l.idle = l.idle[:0]
}

// apply installs one answer. sent and recv are the round's send and
// receive times; a lease counts from sent, so it never outlives the
// coordinator's record of it.
func (l *Limiter) apply(r itemRef, it *LeaseItem, g *LeaseGrant, sent, recv int64) {
	e := r.e
	if r.old {
		e.oldPend = max(0, e.oldPend-it.Used)
		return
	}
	if r.quota {
		// The coordinator counts usage even when it refuses the item.
		e.pend -= it.Used
		e.acked += it.Used
		if g.Err != "" {
			l.log.Debug("lease refused", "key", e.key, "err", g.Err)
			return
		}
		if e.win != 0 && g.Win != e.win {
			// A new window: usage admitted under the old lease is
			// reported for the old window. (Should an older report still
			// be pending, it goes with this one; that needs a whole
			// period without a successful round.)
			e.oldPend += e.pend + e.used.Swap(0)
			e.oldWin = e.win
			e.pend, e.acked = 0, 0
			e.stream = l.streams.Add(1)
		}
		e.win = g.Win
		e.exhausted.Store(g.Exhausted)
		e.resetAt.Store(recv + min(max(0, g.Reset), maxReset)*int64(time.Millisecond))
		e.credit.Store(true)
	} else {
		e.unl = max(0, e.unl-it.Used)
		if g.Err != "" {
			l.log.Debug("lease refused", "key", e.key, "err", g.Err)
			return
		}
		e.short.Store(g.Grant < it.Want)
	}
	if e.exp.Load() <= recv {
		// The old lease has expired: drop its tokens. A negative balance
		// is a failed take about to be undone; keep it so the undo nets out.
		if b := e.bal.Swap(0); b < 0 {
			e.bal.Add(b)
		}
	}
	if g.TTL <= 0 {
		return
	}
	e.bal.Add(max(0, g.Grant))
	e.exp.Store(sent + min(g.TTL, maxTTL)*int64(time.Millisecond))
	e.leased.Store(true)
}
