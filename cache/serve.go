package cache

import (
	"net/http"
)

// Serve answers r from the stage's store or through origin, following
// policy p; path is the stage-relative, normalised request path. It sets
// X-Cache ("Hit from edge", "Miss from edge, Hit from regional", …) and
// reports the result to the Observer once.
//
// A nil p, a policy that can store nothing (TTL 0 without HonorOrigin), a
// stage with caching disabled, methods other than cacheable GET and HEAD,
// Range requests and requests with Cache-Control: no-store are passed
// through (Bypass). Concurrent misses of one key make one origin
// call. Serve blocks until the response is written; a follower waits for
// the shared fetch no longer than r's context allows.
//
// The header values Serve puts in w's header may be shared with the store
// and other responses: handlers around it may Set, Add or Del them, never
// write into a value slice.
func (s *Stage) Serve(w http.ResponseWriter, r *http.Request, p *Policy, path string, origin Origin) {
	res := Miss
	defer func() {
		if s.obs != nil {
			s.obs.Lookup(res)
		}
	}()
	res = s.serve(w, r, p, path, origin)
}

func (s *Stage) serve(w http.ResponseWriter, r *http.Request, p *Policy, path string, origin Origin) Result {
	if p != nil && !p.prepared {
		q := p.WithDefaults()
		p = &q
	}
	st := s.store.Load()
	if st == nil || p == nil || !p.cacheable(r.Method) || len(r.Header["Range"]) > 0 ||
		(p.TTL <= 0 && !p.HonorOrigin) {
		s.passThrough(w, r, origin, Bypass)
		return Bypass
	}
	var d directives
	if len(r.Header["Cache-Control"]) > 0 || len(r.Header["Pragma"]) > 0 {
		d = requestDirectives(r.Header)
	}
	if d.noStore {
		s.passThrough(w, r, origin, Bypass)
		return Bypass
	}
	invalidate := p.AllowClientInvalidation && (d.noCache || (d.hasMaxAge && d.maxAge == 0))

	base := baseKey(r, p, path)
	k, e := s.lookup(st, base, r.Header)
	if e != nil && s.behind(r.Header) {
		// The caller knows a flush this node does not: e may be covered.
		e = nil
	}
	now := s.c.now().UnixNano()
	if e != nil && !invalidate {
		switch {
		case e.fresh(now):
			s.writeEntry(w, r, e, s.c.xcacheValue(Hit, ""), now)
			return Hit
		case e.staleWhileRevalidate(now):
			s.writeEntry(w, r, e, s.c.xcacheValue(Stale, ""), now)
			s.refreshInBackground(r, k, &fetchJob{st: st, base: base, stale: e, p: p, path: path, origin: origin})
			return Stale
		}
	}
	if r.Method == http.MethodHead {
		s.passThrough(w, r, origin, Miss)
		return Miss
	}
	f, leader := s.flights.start(k)
	if !leader {
		return s.follow(w, r, f, e, origin)
	}
	// A client invalidation refetches in full; e then only stands in for an
	// origin failure.
	j := &fetchJob{st: st, base: base, stale: e, p: p, path: path, origin: origin}
	j.req, j.sent = fetchRequest(r, e, !invalidate, false, invalidate)
	return s.lead(w, r, f, k, j)
}
