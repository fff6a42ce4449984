package endpoints

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/configs"
)

// Limits from Amazon API Gateway's published quotas.
const (
	maxBodyBytes   = 10 * 1024 * 1024 // payload size
	maxHeaderBytes = 10240            // request line and headers
)

// The pipeline, front to back; each step is a plain http.Handler:
//
//	observe  request id, internal headers, recover,       (static)
//	         access log, metrics
//	resolve  header budget, host → API, resource policy,  (static, reads the table)
//	         path, stage
//	stage    CORS preflight, route match, 404/405         (compiled per stage)
//	limitBody → compression → cache → integration         (compiled per route;
//	         (proxy, mock, or an edge's forwarding)        compression and cache
//	                                                       only where configured)
//
// Per route, before compression and cache, the access steps run (see
// accessRoute): authorizer and API key, throttles and quota, request
// validation. A stage with a WAF runs it before routing (and so before
// CORS preflight). An origin runs none of them: the edge did.
func (g *Gateway) pipeline() http.Handler {
	return observe{g: g, next: resolve{g}}
}

// observe is the head of the pipeline: it creates the request's exchange
// and hands it on as the ResponseWriter, and when the rest returns (or
// panics) it recovers, logs and counts.
type observe struct {
	g    *Gateway
	next http.Handler
}

func (o observe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := newExchange(w)
	ex.adviseAltSvc(r)
	if o.g.cfg.Kind == KindOrigin {
		trustEdge(r, ex)
	} else {
		dropInternalHeaders(r.Header)
	}
	defer o.g.finish(ex, r)
	o.next.ServeHTTP(ex, r)
}

// resolve finds what the request is for in the current table: the API by
// host, the stage by the first path segment, after the header budget and
// path checks. Everything that depends on configuration sits behind the
// stage it resolves to.
type resolve struct{ g *Gateway }

func (rs resolve) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	if headerSize(r) > maxHeaderBytes {
		writeError(w, ex.id, errHeadersTooLarge)
		return
	}
	t := rs.g.table.Load()
	api, gerr := t.resolveHost(r.Host, rs.g.hostSuffix)
	var domain *configs.Domain
	if gerr == errUnknownHost {
		domain = t.domain(r.Host)
	}
	if domain == nil {
		if gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
		if gerr = rs.admit(ex, api, r); gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
	}
	raw, ok := requestPath(r)
	if !ok {
		writeError(w, ex.id, errBadPath)
		return
	}
	path, ok := normalizePath(raw)
	if !ok {
		writeError(w, ex.id, errBadPath)
		return
	}
	var name, rest string
	if domain != nil {
		// A custom domain: the base path mapping picks the API and
		// stage; the API sees the path after the base path.
		m, apiPath := domain.Match(path)
		if m == nil || t.apis[m.APIID] == nil {
			writeError(w, ex.id, errNoMapping)
			return
		}
		api = t.apis[m.APIID]
		if gerr = rs.admit(ex, api, r); gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
		name, rest = m.Stage, apiPath
		ex.viaDomain = m.BasePath
		if rs.g.cfg.Kind == KindEdge {
			ex.originHost = api.id + "." + rs.g.hostSuffix
			// Raw and decoded paths have the same segments (see
			// normalizePath): drop the base path's raw segment.
			rawRest := raw
			if m.BasePath != "" {
				_, after, _ := strings.Cut(raw[1:], "/")
				rawRest = "/" + after
			}
			ex.originPath = "/" + m.Stage + rawRest
		}
	} else {
		// path is "/{stage}" or "/{stage}/{rest...}"; rest keeps its "/".
		name, rest = path[1:], "/"
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name, rest = name[:i], name[i:]
		}
	}
	st := api.stages[name]
	if st == nil {
		writeError(w, ex.id, errNoStage)
		return
	}
	ex.stage = st
	ex.apiPath = rest
	if st.front != nil {
		st.front.ServeHTTP(w, r)
		return
	}
	st.ServeHTTP(w, r)
}

// admit records the API on the exchange and checks that this endpoint
// serves it and that its resource policy lets the request in.
func (rs resolve) admit(ex *exchange, api *apiEntry, r *http.Request) *gatewayError {
	ex.api = api
	if api.refuse != nil {
		return api.refuse
	}
	if api.policy != nil {
		if ok, why := api.policy.admits(rs.g.originOf(r)); !ok {
			rs.g.log.Debug("request denied by resource policy", "request_id", ex.id, "api", api.id, "client", r.RemoteAddr, "by", why)
			return errAccessDenied
		}
	}
	return nil
}

// finish runs after every request, panicking or not: it turns a panic into
// a 500 (or an aborted response if headers already went out), then writes
// the access log line and the metrics.
func (g *Gateway) finish(ex *exchange, r *http.Request) {
	p := recover()
	abort := false
	switch {
	case p == nil:
	case p == http.ErrAbortHandler: // the proxy lost the backend mid-body
		abort = true
	default:
		g.log.Error("panic serving request", "request_id", ex.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if ex.written {
			abort = true
		} else {
			clear(ex.Header())
			writeError(ex, ex.id, errInternal)
		}
	}
	if ex.status == 0 {
		ex.status = http.StatusOK // net/http answers 200 for a handler that wrote nothing
	}
	elapsed := time.Since(ex.start)
	m := g.metrics.unresolvedStage()
	if ex.stage != nil {
		m = ex.stage.metrics
	}
	m.observe(ex.status, elapsed, ex.integDur, ex.proxy != nil || ex.forward != nil)
	g.logAccess(r, ex, elapsed)
	if abort {
		panic(http.ErrAbortHandler) // let net/http drop the connection quietly
	}
}

// headerSize is the size of the request line and header block as they
// were sent (HTTP/1.1 framing; HTTP/2 requests are measured the same way).
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// ServeHTTP routes within the stage: match, then the route's chain.
func (st *stage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	if st.router == nil {
		writeError(w, ex.id, errStageBroken)
		return
	}
	if st.cors != nil {
		if isPreflight(r) {
			st.cors.preflight(w, r, ex)
			return
		}
		ex.cors, ex.corsOrigin = st.cors, r.Header.Get(hOrigin)
	}
	var buf [maxParams]string
	rt, vals, allow := st.router.lookup(r.Method, ex.apiPath[1:], buf[:0])
	if rt == nil {
		if allow != 0 {
			w.Header().Set("Allow", allow.allow())
			writeError(w, ex.id, errMethodNotAllowed)
			return
		}
		writeError(w, ex.id, errNoRoute)
		return
	}
	ex.route = rt
	if len(vals) > 0 {
		ex.params = slices.Clone(vals)
	}
	rt.handler.ServeHTTP(w, r)
}

// limitBody answers 413 for a declared Content-Length over the limit and
// caps a chunked body, so no integration ever reads more than the limit.
// It replaces r.Body in place, as http.MaxBytesReader is meant to be used;
// the server keeps its own reference to the body it closes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := exchangeOf(w)
		if r.ContentLength > maxBodyBytes {
			writeError(w, ex.id, errBodyTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			ex.body.rc = r.Body
			ex.body.left = maxBodyBytes
			r.Body = &ex.body
		}
		next.ServeHTTP(w, r)
	})
}

// discardLogger is used when the caller passes no logger.
var discardLogger = slog.New(slog.DiscardHandler)
