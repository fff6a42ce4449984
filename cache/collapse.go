package cache

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

// flight is one origin fetch shared by the concurrent requests for a key.
type flight struct {
	done chan struct{}
	out  outcome // written by the leader before done is closed
}

// outcome is what a fetch leaves for the requests that waited on it.
type outcome struct {
	e        *entry // the response to serve; nil when there is none to share
	result   Result // Miss or RefreshHit, with e
	upstream string // the origin's X-Cache
	failed   bool   // the origin failed: stale-if-error may apply
}

// flights collapses concurrent fetches by key. Its own small version of
// singleflight: the leader is known to its caller, and followers wait
// within their own context.
type flights struct {
	mu sync.Mutex
	m  map[key]*flight
}

// start returns the flight for k and whether the caller leads it (and must
// finish it).
func (g *flights) start(k key) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = make(map[key]*flight)
	}
	f := &flight{done: make(chan struct{})}
	g.m[k] = f
	return f, true
}

// finish publishes out to the followers of f and ends it.
func (g *flights) finish(k key, f *flight, out outcome) {
	g.mu.Lock()
	if g.m[k] == f {
		delete(g.m, k)
	}
	g.mu.Unlock()
	f.out = out
	close(f.done)
}

// wait blocks until f finishes or ctx ends.
func (s *Stage) wait(ctx context.Context, f *flight) (outcome, error) {
	if h := s.c.onWait; h != nil {
		h()
	}
	select {
	case <-f.done:
		return f.out, nil
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// fetchRequest returns the request a shared fetch sends for r: a GET on a
// context detached from r's cancellation, without the client's conditional
// and range headers (answered from the entry instead), without its
// Cache-Control unless it invalidates, and with validators of stale when
// conditional. sent reports whether validators were added. A background
// fetch asks for zstd or gzip; a leader's fetch only for the codings its
// client accepts, since an oversized response streams to that client as is.
func fetchRequest(r *http.Request, stale *entry, conditional, background, invalidate bool) (fr *http.Request, sent bool) {
	fr = r.Clone(context.WithoutCancel(r.Context()))
	fr.Method = http.MethodGet
	fr.Body, fr.ContentLength = http.NoBody, 0
	h := fr.Header
	for _, n := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(h, n)
	}
	if !invalidate {
		delete(h, "Cache-Control")
		delete(h, "Pragma")
	}
	a := acceptance{zstd: 1, gzip: 1} // a background fetch takes either
	if !background {
		a = parseAcceptEncoding(h["Accept-Encoding"])
	}
	switch {
	case a.zstd > 0 && a.gzip > 0:
		h.Set("Accept-Encoding", "zstd, gzip")
	case a.zstd > 0:
		h.Set("Accept-Encoding", "zstd")
	case a.gzip > 0:
		h.Set("Accept-Encoding", "gzip")
	default:
		h.Set("Accept-Encoding", "identity")
	}
	if conditional && stale != nil {
		if stale.etag != "" {
			h.Set("If-None-Match", stale.etag)
			sent = true
		}
		if stale.lastModified != "" {
			h.Set("If-Modified-Since", stale.lastModified)
			sent = true
		}
	}
	return fr, sent
}

// callOrigin runs origin and returns the value it panicked with, if any.
func callOrigin(origin Origin, w http.ResponseWriter, r *http.Request, background bool) (panicked any) {
	defer func() { panicked = recover() }()
	origin(w, r, background)
	return nil
}

// fetchJob is one fetch: what to ask and where to store the answer.
type fetchJob struct {
	st     *store
	base   key
	req    *http.Request // sent to the origin
	sent   bool          // req carries stale's validators
	stale  *entry        // the entry being revalidated, if any
	p      *Policy
	path   string
	origin Origin
}

// fetch calls the origin through rec and stores what it may. It returns
// the outcome for followers and the value the origin panicked with.
func (s *Stage) fetch(j *fetchJob, rec *recorder, background bool) (out outcome, pv any) {
	epoch := s.Epoch() // before the call: a flush learned meanwhile covers the result
	pv = callOrigin(j.origin, rec, j.req, background)
	now := s.c.now()
	out.upstream = rec.header.Get(HeaderXCache)
	switch {
	case rec.passing:
		return out, pv // streamed to the leader's client; not shared
	case rec.over && !failed(rec.status):
		s.c.log.Debug("response not stored", "api", s.api, "stage", s.name, "path", j.path, "reason", "too large")
		return out, pv
	case pv != nil || failed(rec.status):
		out.failed = true
		if pv != nil && !errors.Is(asError(pv), http.ErrAbortHandler) {
			s.c.log.Error("origin panicked", "api", s.api, "stage", s.name, "path", j.path, "panic", pv)
		}
		return out, pv
	case rec.status == http.StatusNotModified && j.sent:
		e, ok := s.c.refreshed(j.stale, rec.header, j.p, epoch, now)
		if ok {
			s.put(j.st, j.base, j.req.Header, e)
		}
		out.e, out.result = e, RefreshHit
		return out, nil
	}
	e, why := s.c.newEntry(rec.status, rec.header, rec.body.Bytes(), j.req, j.p, j.path, epoch, now)
	if e == nil {
		s.c.log.Debug("response not stored", "api", s.api, "stage", s.name, "path", j.path, "reason", why)
		return out, nil
	}
	s.put(j.st, j.base, j.req.Header, e)
	out.e, out.result = e, Miss
	return out, nil
}

func asError(v any) error {
	err, _ := v.(error)
	return err
}

// lead runs the fetch for a flight whose leader is the request r, answers
// r, and publishes the outcome to the followers, also when the origin
// aborts: the abort is then passed on to r's connection.
func (s *Stage) lead(w http.ResponseWriter, r *http.Request, f *flight, k key, j *fetchJob) Result {
	var out outcome
	finished := false
	finish := func() {
		if !finished {
			finished = true
			s.flights.finish(k, f, out)
		}
	}
	defer finish()

	start := s.c.now().UnixNano()
	fallback := j.stale != nil && j.stale.staleIfError(start)
	rec := newRecorder(j.p.maxEntryBytes())
	rec.client, rec.hold, rec.c = w, fallback, s.c
	// An oversized response streams to this client alone: release the
	// followers at once rather than after the last byte.
	rec.onPass = finish

	var pv any
	out, pv = s.fetch(j, rec, false)
	now := s.c.now().UnixNano()
	switch {
	case rec.passing:
		if pv != nil {
			panic(pv) // the response is cut short; so must the client's be
		}
		return Miss
	case out.failed && fallback:
		s.writeEntry(w, r, j.stale, s.c.xcacheValue(Stale, ""), now)
		return Stale
	case out.failed && pv != nil:
		panic(pv)
	case out.e != nil:
		s.writeEntry(w, r, out.e, s.c.xcacheValue(out.result, out.upstream), now)
		return out.result
	}
	rec.replay(w)
	return Miss
}

// follow waits for the flight f led by another request and answers r from
// its outcome: the fetched entry if r selects it, the stale entry if the
// origin failed within stale-if-error, else a fetch of r's own, uncached.
func (s *Stage) follow(w http.ResponseWriter, r *http.Request, f *flight, stale *entry, origin Origin) Result {
	out, err := s.wait(r.Context(), f)
	now := s.c.now().UnixNano()
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) {
			w.Header().Set(HeaderXCache, s.c.xcache(Miss, ""))
			w.WriteHeader(http.StatusGatewayTimeout)
		}
		return Miss // otherwise the client left
	case out.e != nil && out.e.varyMatches(r.Header):
		s.writeEntry(w, r, out.e, s.c.xcacheValue(out.result, out.upstream), now)
		return out.result
	case out.failed && stale != nil && stale.staleIfError(now):
		s.writeEntry(w, r, stale, s.c.xcacheValue(Stale, ""), now)
		return Stale
	}
	s.passThrough(w, r, origin, Miss)
	return Miss
}

// refreshInBackground starts one stale-while-revalidate refresh of the
// entry at k, unless a fetch for k already runs. The refresh request is
// cloned from r before r ends.
func (s *Stage) refreshInBackground(r *http.Request, k key, j *fetchJob) {
	f, leader := s.flights.start(k)
	if !leader {
		return
	}
	j.req, j.sent = fetchRequest(r, j.stale, true, true, false)
	started := s.c.bg.start(func() {
		var out outcome
		defer func() { s.flights.finish(k, f, out) }()
		out, _ = s.fetch(j, newRecorder(j.p.maxEntryBytes()), true)
	})
	if !started { // closed
		s.flights.finish(k, f, outcome{})
	}
}
