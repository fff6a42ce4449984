package endpoints

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names follow Amazon API Gateway's CloudWatch metrics (Count,
// 4XXError, 5XXError, Latency, IntegrationLatency), prefixed "portico_".
// Latencies are in milliseconds, as API Gateway reports them.
const metricsNamespace = "portico"

var metricLabels = []string{"api_id", "api_name", "stage"}

// latencyBucketsMS spans a cached answer (1 ms) to the 29 s integration
// timeout.
var latencyBucketsMS = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 29000, 60000}

// metrics holds the vectors; children are resolved per stage when a table
// is built, so the request path only increments.
type metrics struct {
	count, e4xx, e5xx     *prometheus.CounterVec
	cacheHit, cacheMiss   *prometheus.CounterVec // by api_id, stage, tier
	latency, integLatency *prometheus.HistogramVec
	live                  map[[3]string]bool // label sets in the current table; writer-only
	unresolved            *stageMetrics
	// cacheGen counts deletions of cache series: a stage's resolved cache
	// counters are resolved again once it moved (see stageCacheCounters).
	cacheGen atomic.Uint64
}

// stageMetrics are the resolved children for one api/stage. A nil
// *stageMetrics counts nothing (metrics are off).
type stageMetrics struct {
	labels                [3]string
	count, e4xx, e5xx     prometheus.Counter
	latency, integLatency prometheus.Observer
}

// newMetrics registers the vectors with reg; with a nil reg metrics are
// off and every method is a no-op. Registering twice with the same
// registry reuses the vectors already there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{live: map[[3]string]bool{}}
	var err error
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, metricLabels)
		if e := register(reg, &c); e != nil {
			err = errors.Join(err, e)
		}
		return c
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: name, Help: help, Buckets: latencyBucketsMS}, metricLabels)
		if e := register(reg, &h); e != nil {
			err = errors.Join(err, e)
		}
		return h
	}
	m.count = counter("Count", "Requests received by the endpoint.")
	m.e4xx = counter("4XXError", "Requests answered with a 4XX status.")
	m.e5xx = counter("5XXError", "Requests answered with a 5XX status.")
	m.latency = histogram("Latency", "Milliseconds from receiving a request to finishing its response.")
	m.integLatency = histogram("IntegrationLatency", "Milliseconds from sending a request to the backend (at an edge: the regional node) to receiving its response headers.")
	cacheCounter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, []string{"api_id", "stage", "tier"})
		if e := register(reg, &c); e != nil {
			err = errors.Join(err, e)
		}
		return c
	}
	m.cacheHit = cacheCounter("CacheHitCount", "Requests answered from the cache (fresh, stale or revalidated), per cache tier.")
	m.cacheMiss = cacheCounter("CacheMissCount", "Cacheable requests the cache could not answer, per cache tier.")
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	m.unresolved = m.stage("", "", "")
	return m, nil
}

// register registers *c, or points *c at the collector already
// registered under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}

// stage resolves the children for one label set and marks it live.
func (m *metrics) stage(apiID, apiName, stage string) *stageMetrics {
	if m == nil {
		return nil
	}
	l := [3]string{apiID, apiName, stage}
	m.live[l] = true
	return &stageMetrics{
		labels:       l,
		count:        m.count.WithLabelValues(l[:]...),
		e4xx:         m.e4xx.WithLabelValues(l[:]...),
		e5xx:         m.e5xx.WithLabelValues(l[:]...),
		latency:      m.latency.WithLabelValues(l[:]...),
		integLatency: m.integLatency.WithLabelValues(l[:]...),
	}
}

// unresolvedStage is where requests that resolve to no stage are counted.
func (m *metrics) unresolvedStage() *stageMetrics {
	if m == nil {
		return nil
	}
	return m.unresolved
}

// retain deletes the series of label sets no longer in the table, so a
// deleted stage or renamed API does not export stale series forever.
func (m *metrics) retain(keep map[[3]string]bool) {
	if m == nil {
		return
	}
	keep[m.unresolved.labels] = true
	for l := range m.live {
		if keep[l] {
			continue
		}
		delete(m.live, l)
		for _, v := range []interface{ DeleteLabelValues(...string) bool }{m.count, m.e4xx, m.e5xx, m.latency, m.integLatency} {
			v.DeleteLabelValues(l[:]...)
		}
		for _, v := range []*prometheus.CounterVec{m.cacheHit, m.cacheMiss} {
			v.DeletePartialMatch(prometheus.Labels{"api_id": l[0], "stage": l[2]})
		}
		m.cacheGen.Add(1)
	}
}

// observe counts one finished request. integ is recorded only for
// requests that called a backend, or at an edge a regional node.
func (s *stageMetrics) observe(status int, latency, integ time.Duration, called bool) {
	if s == nil {
		return
	}
	s.count.Inc()
	switch {
	case status >= 500:
		s.e5xx.Inc()
	case status >= 400:
		s.e4xx.Inc()
	}
	s.latency.Observe(ms(latency))
	if called {
		s.integLatency.Observe(ms(integ))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cacheObserver counts cache lookups of one tier: Hit, Stale and
// RefreshHit as hits (API Gateway's CacheHitCount), Miss as misses;
// requests that bypass the cache count as neither.
type cacheObserver struct {
	m    *metrics
	tier string
}

func (m *metrics) cacheObserver(tier string) cache.Observer {
	if m == nil {
		return nil
	}
	return cacheObserver{m: m, tier: tier}
}

// Stage returns the stage's counters, resolved once rather than by
// label lookup on every request.
func (o cacheObserver) Stage(api, stage string) cache.StageObserver {
	return &stageCacheCounters{m: o.m, labels: [3]string{api, stage, o.tier}}
}

// stageCacheCounters counts one stage's lookups at one tier. Its resolved
// children are dropped whenever retain deleted cache series (the stage's
// may be among them: the cache keeps a stage that stops compiling for a
// while, and an API's rename replaces its label set), so counts never go
// to a deleted child.
type stageCacheCounters struct {
	m      *metrics
	labels [3]string
	cur    atomic.Pointer[cacheCounters]
}

type cacheCounters struct {
	gen       uint64
	hit, miss prometheus.Counter
}

func (c *stageCacheCounters) Lookup(r cache.Result) {
	cc := c.cur.Load()
	if gen := c.m.cacheGen.Load(); cc == nil || cc.gen != gen {
		cc = &cacheCounters{gen: gen,
			hit:  c.m.cacheHit.WithLabelValues(c.labels[:]...),
			miss: c.m.cacheMiss.WithLabelValues(c.labels[:]...)}
		c.cur.Store(cc)
	}
	switch r {
	case cache.Hit, cache.Stale, cache.RefreshHit:
		cc.hit.Inc()
	case cache.Miss:
		cc.miss.Inc()
	}
}
