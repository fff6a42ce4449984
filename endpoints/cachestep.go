package endpoints

import (
	"net/http"
	"slices"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
)

// cacheRoute is the cache step of a route whose stage caches it: it
// answers from the endpoint's cache tier, and on a miss runs next (the
// integration, or an edge's forwarding) through the cache, which
// collapses concurrent misses and stores what may be stored.
type cacheRoute struct {
	store  *cache.Stage
	policy *cache.Policy
	// signed: the route takes AWS_IAM (callerKey.signed), so its key
	// leaves Authorization out and tells callers apart by
	// exchange.identity alone.
	signed bool
	next   http.Handler
}

func (c *cacheRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	ex.cache = c.store
	path := ex.apiPath
	if ex.identity != "" {
		// The caller an authorizer, API key or signature accepted keys
		// the entry too (a presigned SigV4 request carries no identity
		// header), at both tiers: an origin has it from the edge (see
		// trustEdge). After "/", so a flush of the path still covers
		// it; NUL never occurs in a request path.
		path += "/\x00" + ex.identity
	} else if c.signed {
		// A signed route's key leaves Authorization out (see
		// cachePolicy): it tells callers apart by the identity alone.
		// Without one (an origin behind an edge that did not send it)
		// the request is not cached rather than keyed as anonymous.
		c.next.ServeHTTP(w, r)
		return
	}
	c.store.Serve(w, r, c.policy, path, func(w2 http.ResponseWriter, r2 *http.Request, background bool) {
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
// id, what it resolved to, its route parameters and its caller (an edge
// names the caller to the regional node on a refresh too).
func (ex *exchange) detach() *exchange {
	d := &exchange{id: ex.id, start: time.Now(), api: ex.api, stage: ex.stage, route: ex.route, apiPath: ex.apiPath, cache: ex.cache, identity: ex.identity}
	d.idValue[0] = d.id
	d.params = ex.params // never written after routing
	return d
}

// callerKey is what tells an operation's callers apart in the cache
// besides exchange.identity, which keys every entry of a request an
// access step accepted.
type callerKey struct {
	// sources are the identity sources of the operation's external
	// authorizer, if it has one.
	sources []string
	// signed: the operation takes AWS_IAM, whose Authorization header is
	// a signature made anew for every request rather than a caller.
	signed bool
}

// callerKeyOf returns the callerKey of an operation: the identity
// sources of its external authorizer (keyed on besides the Authorization
// and X-Api-Key headers), or that it is signed (see cachePolicy).
func callerKeyOf(api *configs.API, op configs.Operation) callerKey {
	switch op.Access.Authorization {
	case configs.AuthIAM:
		return callerKey{signed: true}
	case configs.AuthCustom:
		if az := api.FindAuthorizer(op.Access.Authorizer); az != nil {
			return callerKey{sources: az.IdentitySources}
		}
	}
	return callerKey{}
}

// cachePolicy compiles a route's effective settings. The identity
// sources of an external authorizer join the key (headers as identity
// headers, query strings as key parameters), so an answer cached for one
// caller is never served to another the authorizer tells apart. A signed
// (AWS_IAM) route does not key on Authorization, which differs in every
// request even of one caller: the verified caller (exchange.identity)
// keys its entries, at the edge and, passed on by the edge, at the
// regional tier. It still keys on X-Api-Key.
func cachePolicy(rc configs.RouteCache, compressMin int, caller callerKey) *cache.Policy {
	var idHeaders []string
	keyQuery := rc.KeyQuery
	if hs, qs := auth.SplitIdentitySources(caller.sources); len(hs)+len(qs) > 0 {
		idHeaders = append([]string{"Authorization", "X-Api-Key"}, hs...)
		keyQuery = append(slices.Clone(rc.KeyQuery), qs...)
	}
	if caller.signed {
		idHeaders = []string{"X-Api-Key"}
	}
	p := cache.Policy{
		IdentityHeaders:         idHeaders,
		TTL:                     rc.TTL,
		Methods:                 rc.Methods,
		KeyQuery:                keyQuery,
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
