package limit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// LimiterConfig configures a Limiter. Zero fields take the documented
// defaults.
type LimiterConfig struct {
	// Node names this node in lease requests. Required.
	Node string
	// Transport reaches the coordinator. Required.
	Transport Transport
	// Peers returns the number of gateway nodes (from gossip); a node
	// without a lease admits rate/Peers with burst/Peers. Nil or < 1: 1.
	Peers func() int
	// Interval is the time between renewal rounds. Default 50ms.
	Interval time.Duration
	// Timeout bounds one round's Transport call. Default 200ms.
	Timeout time.Duration
	// FallbackAfter: once rounds have failed for this long since the last
	// success, keys fall back to the node's local share. Default
	// 2×Interval.
	FallbackAfter time.Duration
	// Headroom is how many rounds of a key's recent demand a lease should
	// cover. Default 2.
	Headroom float64
	// IdleAfter: keys without requests for this long are forgotten.
	// Default 5m.
	IdleAfter time.Duration
	// MaxKeys caps the keys held; Allow denies new keys beyond it with
	// ErrFull. From 90% of it on, keys idle for ten rounds are forgotten.
	// Default 100000.
	MaxKeys int
	// MaxBatch caps the items of one lease request; the rest wait for
	// the next round. Default 5000.
	MaxBatch int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives round failures. Default slog.Default().
	Logger *slog.Logger
}

func (c LimiterConfig) withDefaults() LimiterConfig {
	c.Interval = cmp0(c.Interval, 50*time.Millisecond)
	c.Timeout = cmp0(c.Timeout, 200*time.Millisecond)
	c.FallbackAfter = cmp0(c.FallbackAfter, 2*c.Interval)
	c.Headroom = cmp0(c.Headroom, 2)
	c.IdleAfter = cmp0(c.IdleAfter, 5*time.Minute)
	c.MaxKeys = cmp0(c.MaxKeys, 100_000)
	c.MaxBatch = cmp0(c.MaxBatch, 5000)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c LimiterConfig) validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("node must not be empty"))
	}
	if c.Transport == nil {
		errs = append(errs, errors.New("transport must not be nil"))
	}
	if c.Interval < 0 || c.Timeout < 0 || c.FallbackAfter < 0 || c.IdleAfter < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.Headroom < 0 || math.IsNaN(c.Headroom) || math.IsInf(c.Headroom, 0) {
		errs = append(errs, fmt.Errorf("headroom must be a finite number >= 0, got %v", c.Headroom))
	}
	if c.MaxKeys < 0 || c.MaxBatch < 0 {
		errs = append(errs, errors.New("max_keys and max_batch must not be negative"))
	}
	return errors.Join(errs...)
}

// Limiter is a node's side of the cluster limits: Allow decides from
// budget leased in advance, and Run renews the leases in the background.
type Limiter struct {
	cfg    LimiterConfig
	log    *slog.Logger
	epoch  time.Time // times are kept as nanoseconds since epoch
	seed   maphash.Seed
	shards [nShards]shard
	count  atomic.Int64 // keys held

	lastOK  atomic.Int64 // start of the last successful round
	failing atomic.Bool  // the last round failed

	streams atomic.Uint64 // quota streams started; see LeaseItem.Stream

	rounds atomic.Pointer[chan struct{}] // closed when the current round ends; see RoundDone

	roundMu sync.Mutex // one round at a time; guards the fields below
	scan    []*entry
	items   []LeaseItem
	refs    []itemRef
	idle    []*entry
	start   int // shard the next round starts at
}

const nShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
	_  [32]byte // keep neighbouring shards' locks off one cache line
}

// entry is a node's state for one key. Allow touches only the atomics,
// and only while it holds its shard's read lock; the round loop owns the
// plain fields.
type entry struct {
	key  string
	spec atomic.Pointer[Spec]

	bal       atomic.Int64 // leased tokens at hand
	exp       atomic.Int64 // the lease is valid while now < exp
	low       atomic.Int64 // ask for more below this balance
	hits      atomic.Int64 // Allow calls since the last round
	used      atomic.Int64 // quota: admissions since the last round
	unleased  atomic.Int64 // rate: local admissions since the last round
	resetAt   atomic.Int64 // quota: end of the window
	pending   atomic.Bool  // renew in the next round
	leased    atomic.Bool  // quota: a lease was granted once
	short     atomic.Bool  // rate: the last grant was less than asked
	credit    atomic.Bool  // quota: one request may be admitted without a lease
	exhausted atomic.Bool  // quota: the window is used up
	local     Bucket       // rate: the node's share, without a lease

	// Round loop only.
	demand    float64 // Allow calls per round, smoothed
	active    int64   // last round with requests
	localSpec Spec    // what local is set for
	localN    int
	unl       int64  // rate: local admissions not yet charged
	win       int64  // quota: window of pend and acked (Unix s); 0 = current
	stream    uint64 // quota: names the count acked belongs to
	acked     int64  // quota: usage acknowledged in stream
	pend      int64  // quota: usage in win not yet acknowledged
	oldWin    int64  // quota: the previous window, while usage is unreported
	oldPend   int64
}

// NewLimiter validates cfg and returns a Limiter. Start its renewals with
// Run.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("limiter config: %w", err)
	}
	cfg = cfg.withDefaults()
	l := &Limiter{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "limit", "node", cfg.Node),
		epoch: cfg.Now(),
		seed:  maphash.MakeSeed(),
	}
	// Streams of a restarted node must not repeat the old ones.
	l.streams.Store(rand.Uint64() >> 1)
	next := make(chan struct{})
	l.rounds.Store(&next)
	for i := range l.shards {
		l.shards[i].m = map[string]*entry{}
	}
	return l, nil
}

// Allow decides whether one request under key may proceed. It never
// blocks on the network: it spends the node's lease for key, and without a
// usable lease it decides locally (see the package documentation). It is
// safe for concurrent use and, for a key already held, does not allocate.
// A key should always come with the same kind of spec; a changed spec
// takes effect at once locally and at the coordinator with the next round.
func (l *Limiter) Allow(key string, spec Spec) Decision {
	s := l.shardOf(key)
	s.mu.RLock()
	if e := s.m[key]; e != nil {
		d := l.decide(e, spec)
		s.mu.RUnlock()
		return d
	}
	s.mu.RUnlock()
	return l.allowNew(s, key, spec)
}

func (l *Limiter) allowNew(s *shard, key string, spec Spec) Decision {
	if err := spec.Validate(); err != nil {
		return Decision{Status: Throttled, RetryAfter: Never, Err: fmt.Errorf("limit %q: %w", key, err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		if l.count.Load() >= int64(l.cfg.MaxKeys) {
			return Decision{Status: Throttled, RetryAfter: l.cfg.Interval, Degraded: true, Err: ErrFull}
		}
		now := l.cfg.Now()
		e = &entry{key: key, active: l.since(now), stream: l.streams.Add(1)}
		e.credit.Store(true)
		sp := spec
		e.spec.Store(&sp)
		e.localSpec, e.localN = spec, l.peers()
		e.local.b = newBucket(localShare(spec, e.localN))
		s.m[key] = e
		l.count.Add(1)
	}
	return l.decide(e, spec)
}

func (l *Limiter) decide(e *entry, spec Spec) Decision {
	if p := e.spec.Load(); *p != spec {
		if err := spec.Validate(); err != nil {
			return Decision{Status: Throttled, RetryAfter: Never, Err: fmt.Errorf("limit %q: %w", e.key, err)}
		}
		sp := new(Spec)
		*sp = spec
		e.spec.Store(sp)
	}
	now := l.cfg.Now()
	t := l.since(now)
	e.hits.Add(1)
	if spec.IsQuota() {
		return l.decideQuota(e, t)
	}
	valid := t < e.exp.Load()
	if valid {
		if r := e.bal.Add(-1); r >= 0 {
			l.checkLow(e, r)
			return Decision{Status: Allowed}
		}
		e.bal.Add(1) // undo the failed take
	}
	l.markPending(e)
	if valid && e.short.Load() && !l.fallback(t) {
		// The key is contended: the coordinator granted less than asked,
		// and this node's part is spent.
		return Decision{Status: Throttled, RetryAfter: l.cfg.Interval}
	}
	// No lease at hand (first request, lease expired while idle, a
	// sudden rise in demand on an uncontended key) or the coordinator is
	// unreachable: the node's local share, charged to the key's bucket
	// with the next round.
	ok, retry := e.local.Take(now, 1)
	if !ok {
		return Decision{Status: Throttled, RetryAfter: retry, Degraded: true}
	}
	e.unleased.Add(1)
	return Decision{Status: Allowed, Degraded: true}
}

// decideQuota spends the quota lease. While the coordinator is
// unreachable a lease past its lifetime may still be spent within its
// window: the coordinator may have released it, which is the documented
// partition overshoot. Without a valid lease a key admits one request on
// credit (reported as usage), restored by the next answer, unless the
// coordinator said the window is used up.
func (l *Limiter) decideQuota(e *entry, t int64) Decision {
	fb := l.fallback(t)
	valid := t < e.exp.Load()
	if valid || (fb && e.leased.Load() && t < e.resetAt.Load()) {
		if r := e.bal.Add(-1); r >= 0 {
			e.used.Add(1)
			l.checkLow(e, r)
			return Decision{Status: Allowed, Degraded: !valid}
		}
		e.bal.Add(1)
	}
	l.markPending(e)
	if e.exhausted.Load() {
		if r := e.resetAt.Load() - t; r > 0 {
			return Decision{Status: QuotaExceeded, RetryAfter: time.Duration(r)}
		}
	}
	if !valid && e.credit.Load() && e.credit.CompareAndSwap(true, false) {
		e.used.Add(1)
		return Decision{Status: Allowed, Degraded: true}
	}
	return Decision{Status: Throttled, RetryAfter: l.cfg.Interval, Degraded: fb}
}

func (l *Limiter) checkLow(e *entry, bal int64) {
	if bal < e.low.Load() {
		l.markPending(e)
	}
}

func (l *Limiter) markPending(e *entry) {
	if !e.pending.Load() {
		e.pending.Store(true)
	}
}

// fallback reports whether rounds have been failing for FallbackAfter.
func (l *Limiter) fallback(t int64) bool {
	return l.failing.Load() && t-l.lastOK.Load() >= int64(l.cfg.FallbackAfter)
}

// Fallback reports whether the limiter currently decides from local
// shares because the coordinator has been unreachable.
func (l *Limiter) Fallback() bool { return l.fallback(l.since(l.cfg.Now())) }

// Keys returns the number of keys the limiter holds.
func (l *Limiter) Keys() int { return int(l.count.Load()) }

// RoundDone returns a channel closed when the next renewal round ends,
// whether it installed leases or failed: a request throttled only because
// its key has no lease yet can wait on it and ask once more, counted as
// demand once per round rather than once per poll.
func (l *Limiter) RoundDone() <-chan struct{} { return *l.rounds.Load() }

func (l *Limiter) shardOf(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%nShards]
}

func (l *Limiter) since(t time.Time) int64 { return int64(t.Sub(l.epoch)) }

func (l *Limiter) peers() int {
	if l.cfg.Peers == nil {
		return 1
	}
	return max(1, l.cfg.Peers())
}

// localShare is a node's local bucket for spec among n nodes: rate/n and
// burst/n, but at least one token so a small burst still admits.
func localShare(spec Spec, n int) (rate, capacity float64) {
	if spec.IsQuota() || spec.Burst == 0 {
		return 0, 0
	}
	return spec.Rate / float64(n), max(1, float64(spec.Burst)/float64(n))
}
