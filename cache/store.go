package cache

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// store is a stage's byte-bounded entry store.
type store = otter.Cache[key, *entry]

// Stage is the cache of one API stage on this node: its store, its flushes
// and its in-flight fetches. Get one from Cache.Stage.
type Stage struct {
	c         *Cache
	api, name string

	store    atomic.Pointer[store] // nil: caching disabled
	capacity atomic.Int64          // written under c.mu
	flushes  atomic.Pointer[flushState]
	flights  flights
	obs      StageObserver // nil: nobody counts
}

func newStage(c *Cache, api, name string) *Stage {
	s := &Stage{c: c, api: api, name: name}
	if c.obs != nil {
		s.obs = c.obs.Stage(api, name)
	}
	s.flushes.Store(&flushState{})
	return s
}

// resize sets the store's byte bound; the caller holds c.mu.
func (s *Stage) resize(capacity int64) {
	cur := s.store.Load()
	switch {
	case capacity <= 0:
		s.store.Store(nil)
		if cur != nil {
			cur.StopAllGoroutines()
			cur.InvalidateAll()
		}
	case cur == nil:
		s.store.Store(s.newStore(capacity))
	case capacity != s.capacity.Load():
		cur.SetMaximum(uint64(capacity))
	}
	s.capacity.Store(capacity)
}

func (s *Stage) newStore(capacity int64) *store {
	now := s.c.now
	return otter.Must(&otter.Options[key, *entry]{
		MaximumWeight: uint64(capacity),
		Weigher:       func(_ key, e *entry) uint32 { return e.weight },
		// Entries stay while they may be served stale or revalidated;
		// freshness itself is checked at lookup.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(en otter.Entry[key, *entry]) time.Duration {
			return time.Duration(en.Value.expireAt - now().UnixNano())
		}),
		Clock:  s.c.clock,
		Logger: otterLogger{s.c.log.With("api", s.api, "stage", s.name)},
	})
}

// lookup returns the key a response for a request with header h is stored
// at (the variant key when the base key holds a vary record), and the
// entry there if it is valid for the request: not flushed, and selected by
// the request's values of the Vary headers.
func (s *Stage) lookup(st *store, base key, h http.Header) (key, *entry) {
	e, ok := st.GetIfPresent(base)
	if !ok {
		return base, nil
	}
	k := base
	if e.record != nil {
		k = variantKey(base, e.record, h)
		if e, ok = st.GetIfPresent(k); !ok || e.record != nil {
			return k, nil
		}
	}
	if !e.varyMatches(h) || s.flushed(e) {
		return k, nil
	}
	return k, e
}

// put stores e, fetched with request header h, under base or, when e
// varies, under its variant key with a vary record at base.
func (s *Stage) put(st *store, base key, h http.Header, e *entry) {
	if len(e.varyNames) == 0 {
		st.Set(base, e)
		return
	}
	exp := e.expireAt
	if cur, ok := st.GetIfPresent(base); ok && slices.Equal(cur.record, e.varyNames) {
		if cur.expireAt >= exp {
			exp = 0
		}
	}
	if exp != 0 {
		st.Set(base, newRecord(e.varyNames, e.path, exp))
	}
	st.Set(variantKey(base, e.varyNames, h), e)
}

// clock adapts an injected time source to otter. It never ticks, so
// stores expire entries when touched rather than periodically.
type clock struct{ now func() time.Time }

func (c *clock) NowNano() int64                      { return c.now().UnixNano() }
func (c *clock) Tick(time.Duration) <-chan time.Time { return nil }

// otterLogger bridges otter's warnings to slog.
type otterLogger struct{ l *slog.Logger }

func (o otterLogger) Warn(ctx context.Context, msg string, err error) {
	o.l.WarnContext(ctx, msg, "err", err)
}

func (o otterLogger) Error(ctx context.Context, msg string, err error) {
	o.l.ErrorContext(ctx, msg, "err", err)
}

// coarseResolution is how often the default clock reads the time.
// Freshness is a matter of seconds (TTLs, Age) and lookups happen on
// every request, where a precise clock read costs about as much as the
// rest of the store lookup.
const coarseResolution = 5 * time.Millisecond

// coarseClock is the one default clock of the process: otter's
// CoarseClock, a goroutine that reads the time every coarseResolution.
var coarseClock = sync.OnceValue(func() *otter.CoarseClock { return otter.NewCoarseClock(coarseResolution) })

// coarseNow is the default clock: it reads the time the coarse clock last
// took, so it lags by up to coarseResolution (plus scheduling delay). It
// is monotonic (otter's CoarseClock counts from its start on the
// monotonic clock), so Age and freshness never run backwards.
func coarseNow() time.Time { return time.Unix(0, coarseClock().NowNano()) }
