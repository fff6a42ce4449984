package endpoints

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cache"
)

// headerRequestID carries the request id to the client and the backend.
const headerRequestID = "X-Portico-Request-Id"

// exchange is the per-request record every step of the pipeline shares:
// what the request resolved to, what was answered and how long it took.
// It is also the ResponseWriter the pipeline writes through, so the status
// and byte count are seen in one place, and that is how steps find it
// (exchangeOf). The request is not copied to carry it: only the proxy
// integration, which needs a context of its own for its timeout anyway,
// puts it in a request context (exchangeCtx) for the ReverseProxy hooks.
type exchange struct {
	w     http.ResponseWriter
	id    string
	start time.Time
	// idValue is id as a header value. The backend request and the
	// response share it; its capacity is 1, so an Add anywhere copies
	// instead of writing into it.
	idValue [1]string

	api     *apiEntry // nil until the host resolves
	stage   *stage    // nil until the stage resolves
	route   *route    // nil until a route matches
	apiPath string    // decoded path after the stage, from its "/"
	// On a custom domain: the base path mapped (maybe "", the root);
	// at an edge, also the API's own host and raw path the origin is
	// asked for.
	viaDomain              string
	originHost, originPath string
	// cors is the stage's CORS policy, applied to the response headers
	// for corsOrigin (the request's Origin, maybe "").
	cors       *corsPolicy
	corsOrigin string
	params     []string // values for route.params; read-only

	proxy      *proxyRoute   // set by the HTTP proxy integration
	forward    *forwardRoute // set by an edge's forwarding
	cache      *cache.Stage  // the stage's cache, on a cached route
	ctx        exchangeCtx   // the context the proxy hands the ReverseProxy
	target     *url.URL      // the backend URL built for this request; read-only
	integStart time.Time
	integDur   time.Duration
	body       limitedBody
	// The body when an access step had to read it (SigV4, validation);
	// r.Body then reads these bytes.
	bodyBytes []byte
	bodyRead  bool
	// identity is the caller (auth.Identity.CacheKey) once an authorizer,
	// API key or signature accepted the request, "" when none ran; on an
	// origin, the edge's digest of it (see trustEdge). The response cache
	// keys on it.
	identity string

	// altSvc is the connection's HTTP/3 advertisement when this
	// response is to carry it (altSvcFor), for altSvcHost.
	altSvc     *altSvcConn
	altSvcHost string

	written bool  // the final header went out
	status  int   // the final status, or one set only for the log (499)
	bytes   int64 // body bytes written
}

func newExchange(w http.ResponseWriter) *exchange {
	ex := &exchange{w: w, id: newRequestID(), start: time.Now()}
	ex.idValue[0] = ex.id
	return ex
}

// adviseAltSvc has the response to r carry the connection's HTTP/3
// advertisement when it is due (altSvcFor); WriteHeader adds it to the
// final response.
func (ex *exchange) adviseAltSvc(r *http.Request) {
	if ex.altSvc = altSvcFor(r); ex.altSvc != nil {
		ex.altSvcHost = r.Host
	}
}

// exchangeOf returns the exchange a pipeline step was handed as its
// ResponseWriter, looking through writers that wrap it (the Unwrap
// convention of http.ResponseController). A handler used alone, outside
// the pipeline, gets a fresh throwaway record so it never has to check for
// nil.
func exchangeOf(w http.ResponseWriter) *exchange {
	for {
		switch v := w.(type) {
		case *exchange:
			return v
		case *exchangeWriter:
			return v.ex
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return &exchange{}
		}
	}
}

// requestExchange returns the exchange of a request the proxy integration
// passed to the ReverseProxy (or one derived from it, such as the
// outbound request): the hooks that only see a request find it there.
func requestExchange(r *http.Request) *exchange {
	if ex, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return ex
	}
	return &exchange{}
}

type exchangeKey struct{}

// exchangeCtx is a request context that also carries its exchange: the
// same as context.WithValue, but stored inside the exchange, so carrying
// it allocates nothing. Cancellation, deadline and every other value come
// from the embedded context.
type exchangeCtx struct {
	context.Context
	ex *exchange
}

func (c *exchangeCtx) Value(key any) any {
	if key == (exchangeKey{}) {
		return c.ex
	}
	return c.Context.Value(key)
}

// withContext returns r with ctx as its context, carrying ex.
func (ex *exchange) withContext(r *http.Request, ctx context.Context) *http.Request {
	ex.ctx = exchangeCtx{Context: ctx, ex: ex}
	return r.WithContext(&ex.ctx)
}

// Header implements http.ResponseWriter.
func (ex *exchange) Header() http.Header { return ex.w.Header() }

// WriteHeader records the final status and stamps the request id (and the
// connection's Alt-Svc when due) on it. They are set here rather than up
// front because a 1xx response relayed by the proxy clears the header
// map, and because a backend's own X-Portico-Request-Id or Alt-Svc must
// not reach the client in place of ours.
func (ex *exchange) WriteHeader(code int) {
	if ex.written {
		return // superfluous; net/http would only log it
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		ex.written = true
		ex.status = code
		ex.w.Header()[headerRequestID] = ex.idValue[:]
		if ex.altSvc != nil {
			ex.w.Header()["Alt-Svc"] = ex.altSvc.value
			ex.altSvc.sent(ex.altSvcHost)
		}
		if ex.cors != nil {
			ex.cors.decorate(ex.w.Header(), ex.corsOrigin)
		}
	}
	ex.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (ex *exchange) Write(p []byte) (int, error) {
	if !ex.written {
		ex.WriteHeader(http.StatusOK)
	}
	n, err := ex.w.Write(p)
	ex.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer for
// Flush, Hijack and deadlines.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.w }

// Flush implements http.Flusher for code that asserts it directly.
func (ex *exchange) Flush() {
	if !ex.written {
		ex.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(ex.w).Flush()
}

// limitedBody wraps a request body and fails once more than max bytes
// were read, remembering that it did so the proxy's error handler can
// answer 413 instead of 502. The flag is atomic because the transport
// reads request bodies on its own goroutine.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	overflow atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.overflow.Store(true)
		return n, errBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
