package endpoints

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// newTransport returns the one pooled transport every HTTP_PROXY
// integration of a node shares. Backends are usually few and hot, so the
// idle pool per host is large: more than the connections a busy client
// side keeps open, so the pool never closes a connection it will want
// again. Per-request deadlines come from the integration timeout
// (context), not from transport-wide timeouts.
//
// Compression is the client's and the backend's business: with
// DisableCompression the transport neither adds an Accept-Encoding the
// client did not send nor decompresses what the backend answers, so the
// client's own Accept-Encoding and the backend's encoded body pass through
// untouched.
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // never route backend calls through $HTTP_PROXY
		DialContext:            d.DialContext,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false, // HTTP/1.1 pools well for cleartext backends
	}
}

// bufferPool hands the reverse proxy 32 KiB copy buffers. Pooling them
// instead of allocating one per response was the largest single
// throughput gain measured for the proxy path. Buffers are kept as array
// pointers so Put does not allocate.
type bufferPool struct{ p sync.Pool }

const proxyBufferSize = 32 * 1024

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([proxyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[proxyBufferSize]byte)[:] }

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == proxyBufferSize {
		b.p.Put((*[proxyBufferSize]byte)(buf))
	}
}

// newReverseProxy builds the single ReverseProxy all HTTP_PROXY routes
// share; per-request data (target, method, timeout) travels in the
// request's exchange, so no proxy is allocated per request.
func newReverseProxy(tr http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      tr,
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler:   proxyErrorHandler(log),
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// proxyRoute is an HTTP_PROXY integration compiled for one route of one
// stage.
type proxyRoute struct {
	target  uriTemplate
	method  string // empty: the client's
	timeout time.Duration
	rp      *httputil.ReverseProxy
	log     *slog.Logger
}

func (p *proxyRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	u, err := p.target.build(ex.params)
	if err != nil {
		p.log.Error("integration URI is invalid", "request_id", ex.id, "route", routeKey(ex), "uri", p.target.raw, "err", err)
		writeError(w, ex.id, errIntegrationURI)
		return
	}
	ex.proxy = p
	ex.target = u
	// The timeout covers the whole exchange with the backend, response
	// body included. The request is copied once, here, for both the
	// deadline and the exchange the ReverseProxy hooks need.
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	ex.integStart = time.Now()
	p.rp.ServeHTTP(w, ex.withContext(r, ctx))
	if ex.integDur == 0 {
		ex.integDur = time.Since(ex.integStart)
	}
}

// rewrite builds the backend request. ReverseProxy has already removed
// hop-by-hop headers (including any the client listed in Connection) and
// every inbound Forwarded/X-Forwarded-* header, so what is set here is
// the gateway's own view and cannot be stripped by the client.
func rewrite(pr *httputil.ProxyRequest) {
	ex := requestExchange(pr.In)
	query := pr.Out.URL.RawQuery // the client's query, minus unparsable parameters
	*pr.Out.URL = *ex.target     // copy: the target may be shared
	switch {
	case pr.Out.URL.RawQuery == "":
		pr.Out.URL.RawQuery = query
	case query != "":
		pr.Out.URL.RawQuery += "&" + query
	}
	pr.Out.Host = pr.Out.URL.Host
	if ex.proxy.method != "" {
		pr.Out.Method = ex.proxy.method
	}
	pr.SetXForwarded()
	dropInternalHeaders(pr.Out.Header)
	pr.Out.Header[headerRequestID] = ex.idValue[:]
}

// modifyResponse notes when the backend's response headers arrived.
func modifyResponse(res *http.Response) error {
	ex := requestExchange(res.Request)
	ex.integDur = time.Since(ex.integStart)
	// The backend's alternative services are its own origin's, not the
	// API's: a client would apply them to the gateway's host.
	delete(res.Header, "Alt-Svc")
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The proxy writes the 101 on the hijacked connection, past the
		// exchange; record it for the log.
		ex.status = res.StatusCode
	}
	return nil
}

// proxyErrorHandler maps transport failures to gateway errors: the body
// limit tripping mid-stream is 413, the integration timeout is 504, a
// client that went away gets nothing (logged as 499), anything else 502.
func proxyErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		ex := requestExchange(r)
		ex.integDur = time.Since(ex.integStart)
		switch {
		case ex.body.overflow.Load():
			writeError(w, ex.id, errBodyTooLarge)
		case errors.Is(r.Context().Err(), context.DeadlineExceeded):
			log.Warn("integration timed out", "request_id", ex.id, "route", routeKey(ex), "timeout", ex.proxy.timeout)
			writeError(w, ex.id, errIntegrationTimeout)
		case r.Context().Err() != nil:
			ex.status = statusClientClosed
		default:
			log.Warn("integration request failed", "request_id", ex.id, "route", routeKey(ex), "err", err)
			writeError(w, ex.id, errIntegrationFailed)
		}
	}
}

// statusClientClosed is logged when the client left before the answer
// (nginx's convention); nothing is written.
const statusClientClosed = 499

func routeKey(ex *exchange) string {
	if ex.route == nil {
		return ""
	}
	return ex.route.key
}
