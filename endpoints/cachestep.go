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
	next   http.Handler
}

func (c *cacheRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	ex.cache = c.store
	path := ex.apiPath
	if ex.identity != "" {
		// The caller an authorizer or API key accepted keys the entry
		// too (a presigned SigV4 request carries no identity header).
		// After "/", so a flush of the path still covers it; NUL never
		// occurs in a request path.
		path += "/\x00" + ex.identity
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
// id, what it resolved to and its route parameters.
func (ex *exchange) detach() *exchange {
	d := &exchange{id: ex.id, start: time.Now(), api: ex.api, stage: ex.stage, route: ex.route, apiPath: ex.apiPath, cache: ex.cache}
	d.idValue[0] = d.id
	d.params = ex.params // never written after routing
	return d
}

// identitySources are the identity sources of the operation's external
// authorizer, if it has one: what tells its callers apart besides the
// Authorization and X-Api-Key headers the cache always keys on.
func identitySources(api *configs.API, op configs.Operation) []string {
	if op.Access.Authorization != configs.AuthCustom {
		return nil
	}
	if az := api.FindAuthorizer(op.Access.Authorizer); az != nil {
		return az.IdentitySources
	}
	return nil
}

// cachePolicy compiles a route's effective settings. The identity
// sources of an external authorizer join the key (headers as identity
// headers, query strings as key parameters), so an answer cached for one
// caller is never served to another the authorizer tells apart.
func cachePolicy(rc configs.RouteCache, compressMin int, identity []string) *cache.Policy {
	var idHeaders []string
	keyQuery := rc.KeyQuery
	if hs, qs := auth.SplitIdentitySources(identity); len(hs)+len(qs) > 0 {
		idHeaders = append([]string{"Authorization", "X-Api-Key"}, hs...)
		keyQuery = append(slices.Clone(rc.KeyQuery), qs...)
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
