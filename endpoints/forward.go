package endpoints

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Headers an edge sends to a regional node. The regional node trusts them
// only on its origin endpoint, whose callers proved with a cluster
// certificate that they are nodes; every other endpoint deletes them from
// the client's request before anything reads them.
const (
	// headerClientAddr carries the client's IP address.
	headerClientAddr = "X-Portico-Client-Addr"
)

// internalHeaders are deleted from every request a client sends.
var internalHeaders = []string{headerClientAddr, cache.HeaderEpoch}

// Upstreams lists the regional nodes an edge may forward to.
type Upstreams interface {
	// Regional returns the nodes of region that serve edge traffic and
	// look healthy (alive in gossip, serving). It never blocks; the
	// slice is the caller's.
	Regional(region string) []Upstream
}

// Upstream is one regional node an edge may forward to.
type Upstream struct {
	Name string
	// Addr is the host:port of the node's mutual-TLS listener: TCP for
	// HTTP/2, UDP (same port number) for HTTP/3.
	Addr string
	// RTT is the measured round trip to the node; 0 when unknown.
	RTT time.Duration
}

// Forwarding timings.
const (
	// h3HandshakeTimeout is how long an edge waits for a QUIC handshake
	// before it decides UDP does not get through and uses HTTP/2.
	h3HandshakeTimeout = time.Second
	// h3Retry is how long HTTP/3 to a node stays off after it failed.
	h3Retry = time.Minute
	// upstreamPenalty is how long a node that refused a connection is
	// tried only when no other node is left.
	upstreamPenalty = 5 * time.Second
	// rttSlack: nodes whose round trip is within this of the best one
	// count as equally near, and the least loaded of them is chosen.
	rttSlack = 2 * time.Millisecond
)

var (
	errNoUpstream = errors.New("no healthy regional node in the API's home region")
)

// forwarder sends an edge's requests to regional nodes: HTTP/3 over QUIC
// with mutual TLS, HTTP/2 over TLS when UDP does not get through, with
// pooled connections for both. It picks the nearest node by measured
// round trip and, among nodes about as near, the one with the fewest
// requests in flight from this edge. An idempotent request whose
// connection fails is retried once on another node.
type forwarder struct {
	ups   Upstreams
	h3    *http3.Transport
	h2    *http.Transport
	proxy *httputil.ReverseProxy
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	nodes map[string]*upstreamState // by address
}

// upstreamState is what this edge learned about one regional node.
type upstreamState struct {
	inflight  atomic.Int64
	h3OK      atomic.Bool  // an HTTP/3 exchange succeeded since the last failure
	h3Down    atomic.Int64 // unix nanoseconds until which HTTP/3 is not tried
	failUntil atomic.Int64 // unix nanoseconds until which the node is tried last
}

func newForwarder(ups Upstreams, clientTLS *tls.Config, log *slog.Logger) *forwarder {
	h3tls := clientTLS.Clone()
	h3tls.NextProtos = []string{http3.NextProtoH3}
	h2tls := clientTLS.Clone()
	h2tls.NextProtos = []string{"h2"}
	var protos http.Protocols
	protos.SetHTTP2(true)
	f := &forwarder{
		ups: ups,
		h3: &http3.Transport{
			TLSClientConfig: h3tls,
			QUICConfig: &quic.Config{
				HandshakeIdleTimeout: h3HandshakeTimeout,
				MaxIdleTimeout:       idleTimeout,
				KeepAlivePeriod:      15 * time.Second,
			},
			DisableCompression:     true,
			MaxResponseHeaderBytes: 1 << 20,
		},
		h2: &http.Transport{
			Proxy:                  nil,
			DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:        h2tls,
			Protocols:              &protos,
			MaxIdleConnsPerHost:    64,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    5 * time.Second,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 1 << 20,
		},
		log:   log,
		now:   time.Now,
		nodes: map[string]*upstreamState{},
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      f,
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler:   f.errorHandler,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return f
}

func (f *forwarder) close() {
	f.h2.CloseIdleConnections()
	_ = f.h3.Close()
}

// forwardRoute is a route of an edge: it forwards to the API's home
// region.
type forwardRoute struct {
	f       *forwarder
	region  string
	timeout time.Duration
}

func (fr *forwardRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	ex.forward = fr
	settleBody(r)
	ctx, cancel := context.WithTimeout(r.Context(), fr.timeout)
	defer cancel()
	ex.integStart = time.Now()
	fr.f.proxy.ServeHTTP(w, ex.withContext(r, ctx))
	if ex.integDur == 0 {
		ex.integDur = time.Since(ex.integStart)
	}
}

// rewrite builds the request to the regional node. ReverseProxy already
// removed hop-by-hop and X-Forwarded-* headers; the edge adds who the
// client is, which only this edge can vouch for.
func (f *forwarder) rewrite(pr *httputil.ProxyRequest) {
	ex := requestExchange(pr.In)
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = "upstream" // RoundTrip picks the node
	pr.Out.Host = pr.In.Host
	h := pr.Out.Header
	for _, k := range internalHeaders {
		delete(h, k)
	}
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		h.Set(headerClientAddr, ip)
	}
	h[headerRequestID] = ex.idValue[:]
	if ex.cache != nil {
		if e := ex.cache.Epoch(); e > 0 {
			h.Set(cache.HeaderEpoch, strconv.FormatUint(e, 10))
		}
	}
}

// RoundTrip implements http.RoundTripper for the edge's ReverseProxy:
// it picks a node and the protocol, and retries as described on
// forwarder.
func (f *forwarder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := requestExchange(req)
	region := ""
	if ex.forward != nil {
		region = ex.forward.region
	}
	cands := f.order(f.ups.Regional(region))
	if len(cands) == 0 {
		return nil, errNoUpstream
	}
	replayable := req.Body == nil || req.Body == http.NoBody
	tries := 1
	if replayable && idempotent(req.Method) {
		tries = 2
	}
	var err error
	for i := range min(tries, len(cands)) {
		var res *http.Response
		res, err = f.send(req, cands[i], replayable && idempotent(req.Method))
		if err == nil {
			return res, nil
		}
		if req.Context().Err() != nil {
			break // the deadline passed or the client left: no retry
		}
		f.state(cands[i].Addr).failUntil.Store(f.now().Add(upstreamPenalty).UnixNano())
		f.log.Warn("forward to regional node failed", "node", cands[i].Name, "addr", cands[i].Addr, "request_id", ex.id, "err", err)
	}
	return nil, err
}

// send makes one exchange with node u: HTTP/3 unless it is known not to
// work, falling back to HTTP/2 at once when the request may be sent
// twice. A request that may not be repeated goes over HTTP/3 only once
// HTTP/3 to the node has worked.
func (f *forwarder) send(req *http.Request, u Upstream, repeatable bool) (*http.Response, error) {
	st := f.state(u.Addr)
	out := *req
	url := *req.URL
	url.Host = u.Addr
	out.URL = &url

	st.inflight.Add(1)
	done := func() { st.inflight.Add(-1) }
	now := f.now().UnixNano()
	if now >= st.h3Down.Load() && (repeatable || st.h3OK.Load()) {
		res, err := f.h3.RoundTrip(&out)
		if err == nil {
			st.h3OK.Store(true)
			res.Body = &doneBody{ReadCloser: res.Body, done: done}
			return res, nil
		}
		if req.Context().Err() != nil {
			done()
			return nil, err
		}
		st.h3OK.Store(false)
		st.h3Down.Store(f.now().Add(h3Retry).UnixNano())
		f.log.Info("HTTP/3 to regional node failed; using HTTP/2", "node", u.Name, "addr", u.Addr, "retry_in", h3Retry, "err", err)
		if !repeatable {
			done()
			return nil, err
		}
	}
	res, err := f.h2.RoundTrip(&out)
	if err != nil {
		done()
		return nil, err
	}
	res.Body = &doneBody{ReadCloser: res.Body, done: done}
	return res, nil
}

// order ranks candidates: nodes not recently failed first; then by round
// trip, where nodes within rttSlack of the nearer one count as equal and
// the one with fewer requests in flight from this edge comes first; then
// by name, so the order is stable.
func (f *forwarder) order(cands []Upstream) []Upstream {
	now := f.now().UnixNano()
	type ranked struct {
		u        Upstream
		failed   bool
		inflight int64
	}
	rs := make([]ranked, len(cands))
	for i, u := range cands {
		st := f.state(u.Addr)
		rs[i] = ranked{u: u, failed: now < st.failUntil.Load(), inflight: st.inflight.Load()}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.failed != b.failed:
			if a.failed {
				return 1
			}
			return -1
		case a.u.RTT > b.u.RTT+rttSlack || b.u.RTT > a.u.RTT+rttSlack:
			if a.u.RTT < b.u.RTT {
				return -1
			}
			return 1
		case a.inflight != b.inflight:
			if a.inflight < b.inflight {
				return -1
			}
			return 1
		}
		if a.u.Name < b.u.Name {
			return -1
		}
		if a.u.Name > b.u.Name {
			return 1
		}
		return 0
	})
	out := make([]Upstream, len(rs))
	for i, r := range rs {
		out[i] = r.u
	}
	return out
}

func (f *forwarder) state(addr string) *upstreamState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.nodes[addr]
	if st == nil {
		st = &upstreamState{}
		f.nodes[addr] = st
	}
	return st
}

// errorHandler maps forwarding failures: no node → 503, the route's
// timeout → 504, a client that left → nothing (499), else 502.
func (f *forwarder) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ex := requestExchange(r)
	ex.integDur = time.Since(ex.integStart)
	switch {
	case ex.body.overflow.Load():
		writeError(w, ex.id, errBodyTooLarge)
	case errors.Is(err, errNoUpstream):
		writeError(w, ex.id, errUpstreamUnavailable)
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		writeError(w, ex.id, errIntegrationTimeout)
	case r.Context().Err() != nil:
		ex.status = statusClientClosed
	default:
		writeError(w, ex.id, errUpstreamFailed)
	}
}

// idempotent methods may be sent twice (RFC 9110, section 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// doneBody calls done once when the response body is closed.
type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// trustEdge takes, on an origin endpoint, what the forwarding edge says
// about the request: the client's address (so X-Forwarded-For, the access
// log and later policies see the client, not the edge) and the request
// id (so one id follows the request through both tiers).
func trustEdge(r *http.Request, ex *exchange) {
	if ip, err := netip.ParseAddr(r.Header.Get(headerClientAddr)); err == nil {
		r.RemoteAddr = netip.AddrPortFrom(ip.Unmap(), 0).String()
	}
	if id := r.Header.Get(headerRequestID); validRequestID(id) {
		ex.id = id
		ex.idValue[0] = id
	}
	delete(r.Header, headerClientAddr)
}

// dropInternalHeaders removes the headers only an edge may send from a
// client's request.
func dropInternalHeaders(h http.Header) {
	for _, k := range internalHeaders {
		delete(h, k)
	}
}

// settleBody finds out whether a request of unknown length (HTTP/2 and
// HTTP/3 requests without Content-Length) has a body at all, so a GET that
// has none counts as repeatable. It reads at most one byte, which it puts
// back.
func settleBody(r *http.Request) {
	if r.ContentLength != -1 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	var b [1]byte
	n, err := io.ReadFull(r.Body, b[:])
	switch {
	case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		r.Body.Close()
		r.Body, r.ContentLength = http.NoBody, 0
	default:
		r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(b[:n]), errReader{err}, r.Body), Closer: r.Body}
	}
}

// prefixedBody is a request body with bytes already read put back.
type prefixedBody struct {
	io.Reader
	io.Closer
}

// errReader returns err once (nil: nothing) so a read error is not lost.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}
