package cache

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Origin fetches the response for r from the next tier (the backend proxy,
// or the regional node) and writes it to w. It may block until the
// response is written; it is responsible for its own timeout, since the
// request it gets on a shared fetch is detached from any one client's
// cancellation. background is true for a stale-while-revalidate refresh
// that runs after the client's request finished: the Origin must then not
// touch per-request state of that request. An Origin may abort with
// panic(http.ErrAbortHandler); the cache recovers it.
type Origin func(w http.ResponseWriter, r *http.Request, background bool)

// Result is how Serve answered a request.
type Result uint8

// Results, also the first word of the X-Cache header.
const (
	// Hit is a fresh stored response.
	Hit Result = iota + 1
	// Miss is a response fetched from the origin, stored or not.
	Miss
	// Stale is a stored response past its freshness: served during
	// stale-while-revalidate, or instead of an origin failure
	// (stale-if-error).
	Stale
	// RefreshHit is a stored response the origin confirmed unchanged
	// (304) on revalidation.
	RefreshHit
	// Bypass is a request the cache does not handle (method, Range,
	// Cache-Control: no-store, caching disabled), passed to the origin.
	Bypass
)

// String returns the result as it appears in X-Cache.
func (r Result) String() string {
	switch r {
	case Hit:
		return "Hit"
	case Miss:
		return "Miss"
	case Stale:
		return "Stale"
	case RefreshHit:
		return "RefreshHit"
	case Bypass:
		return "Bypass"
	}
	return "Unknown"
}

// Observer counts lookups. Stage is called once for each stage the cache
// creates, under the cache's lock: it must not call the Cache. The
// StageObserver's Lookup is then called synchronously on the request path
// and must not block.
type Observer interface {
	Stage(api, stage string) StageObserver
}

// StageObserver counts one stage's lookups.
type StageObserver interface {
	// Lookup reports the result of one Serve call.
	Lookup(result Result)
}

// Options configures a Cache.
type Options struct {
	// Tier names the tier in X-Cache: "edge" or "regional".
	Tier string
	// Now is the clock; default a coarse clock that reads the time every
	// coarseResolution (see coarseNow). With a custom clock the stores
	// expire entries only when they are touched, not periodically.
	Now func() time.Time
	// Observer, if set, is told the result of every Serve.
	Observer Observer
	// DropHeaders names response headers that every response carries a
	// value of its own for, such as a request id: they are not stored, so
	// no answer from an entry (the Miss that filled it included) carries
	// the value of the response that filled it.
	DropHeaders []string
	// Logger receives the cache's logs; default discards them.
	Logger *slog.Logger
}

// Cache is one node's response cache for one tier: a store per served
// stage. Its methods are safe for concurrent use.
type Cache struct {
	tier  string
	now   func() time.Time
	clock otter.Clock // the stores' clock: now's
	obs   Observer
	drop  []string // headers never stored: dropHeader and Options.DropHeaders, canonical, sorted
	log   *slog.Logger

	mu     sync.Mutex                         // serialises changes of stages
	stages atomic.Pointer[map[stageID]*Stage] // copied on write under mu
	bg     background                         // stale-while-revalidate refreshes
	onWait func()                             // test hook: a follower starts waiting
	labels [Bypass + 1][]string               // X-Cache values by result, without upstream; shared
}

type stageID struct{ api, stage string }

// New returns an empty cache.
func New(opts Options) *Cache {
	c := &Cache{
		tier: opts.Tier,
		now:  opts.Now,
		obs:  opts.Observer,
		drop: canonicalSorted(slices.Concat(dropHeader, opts.DropHeaders)),
		log:  opts.Logger,
	}
	if c.now == nil {
		c.now = coarseNow
		c.clock = coarseClock()
	} else {
		c.clock = &clock{now: c.now}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "cache", "tier", c.tier)
	for r := range c.labels {
		c.labels[r] = []string{Result(r).String() + " from " + c.tier}
	}
	c.stages.Store(&map[stageID]*Stage{})
	return c
}

// Stage returns the stage api/stage, creating it on first use. A changed
// capacityBytes resizes its store in place (evicting down to a smaller
// bound); a capacity of zero or less disables caching for the stage (Serve
// passes every request through) and drops its entries.
func (c *Cache) Stage(api, stage string, capacityBytes int64) *Stage {
	id := stageID{api, stage}
	if s := (*c.stages.Load())[id]; s != nil && s.capacity.Load() == capacityBytes {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.stages.Load()
	s := cur[id]
	if s == nil {
		s = newStage(c, api, stage)
		next := maps.Clone(cur)
		next[id] = s
		c.stages.Store(&next)
	}
	s.resize(capacityBytes)
	return s
}

// Retain drops the stores of the stages for which keep returns false.
// Requests still being served by a dropped stage finish normally. keep
// runs under the cache's lock and must not call the Cache.
func (c *Cache) Retain(keep func(api, stage string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.stages.Load()
	next := maps.Clone(cur)
	for id, s := range cur {
		if !keep(id.api, id.stage) {
			delete(next, id)
			s.resize(0)
		}
	}
	c.stages.Store(&next)
}

// Flush applies an invalidation to a stage, from gossip or committed
// state: entries it covers become invisible at once and are deleted. It is
// idempotent by f.Seq. A flush for a stage this node does not hold is
// ignored; SetFlushes delivers it when the stage is created.
func (c *Cache) Flush(api, stage string, f Flush) {
	if s := (*c.stages.Load())[stageID{api, stage}]; s != nil {
		s.flush(f)
	}
}

// Close stops starting background refreshes, waits for the running ones
// and stops the stores' maintenance goroutines. Serve keeps working
// afterwards, without background refreshes.
func (c *Cache) Close() {
	c.bg.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range *c.stages.Load() {
		if st := s.store.Load(); st != nil {
			st.StopAllGoroutines()
		}
	}
}

// background runs the goroutines of background refreshes, so that Close
// can wait for them.
type background struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start runs f in a new goroutine unless closed, and reports whether it
// did.
func (b *background) start(f func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Go(f)
	return true
}

// wait blocks until no refresh runs.
func (b *background) wait() { b.wg.Wait() }

// close stops starting refreshes and waits for the running ones.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}
