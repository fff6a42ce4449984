package endpoints

import (
	"net/http"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/portico-gw/portico/configs"
)

// cacheRoute is the cache step of a route whose stage caches it: it
// answers from the endpoint's cache tier, and on a miss runs next (the
// integration, or an edge's forwarding) through the cache, which
// collapses concurrent misses and stores what may be stored.
type cacheRoute struct {
	store  *cache.Stage
	policy *cache.Policy
	next   http.Handler
}

func (c *cacheRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	ex.cache = c.store
	c.store.Serve(w, r, c.policy, "/"+ex.apiPath, func(w2 http.ResponseWriter, r2 *http.Request, background bool) {
		owner := ex
		if background {
			// The client's request has finished and its exchange was
			// logged: a refresh works on a copy.
			owner = ex.detach()
		}
		c.next.ServeHTTP(&exchangeWriter{ResponseWriter: w2, ex: owner}, r2)
	})
}

// exchangeWriter is a ResponseWriter of the cache (recording what the
// next tier answers) that still leads the steps behind the cache to the
// request's exchange.
type exchangeWriter struct {
	http.ResponseWriter
	ex *exchange
}

// Unwrap lets http.ResponseController find the cache's writer.
func (w *exchangeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// detach copies what identifies a request for a background refresh: its
// id, what it resolved to and its route parameters.
func (ex *exchange) detach() *exchange {
	d := &exchange{id: ex.id, start: time.Now(), api: ex.api, stage: ex.stage, route: ex.route, apiPath: ex.apiPath, cache: ex.cache}
	d.idValue[0] = d.id
	d.buf = ex.buf
	if ex.params != nil {
		d.params = d.buf[:len(ex.params)]
	}
	return d
}

// cachePolicy compiles a route's effective settings.
func cachePolicy(rc configs.RouteCache, compressMin int) *cache.Policy {
	p := cache.Policy{
		TTL:                     rc.TTL,
		Methods:                 rc.Methods,
		KeyQuery:                rc.KeyQuery,
		KeyHeaders:              rc.KeyHeaders,
		HonorOrigin:             rc.HonorOrigin,
		StaleWhileRevalidate:    rc.StaleWhileRevalidate,
		StaleIfError:            rc.StaleIfError,
		AllowClientInvalidation: rc.AllowClientInvalidation,
		MaxEntryBytes:           configs.MaxCacheEntryBytes,
		CompressMinBytes:        compressMin,
	}.WithDefaults()
	return &p
}

func toFlushes(fs []configs.CacheFlush) []cache.Flush {
	out := make([]cache.Flush, len(fs))
	for i, f := range fs {
		out[i] = cache.Flush{Seq: f.Seq, Prefix: f.Prefix}
	}
	return out
}
