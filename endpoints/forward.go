package endpoints

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	// headerCaller carries the caller the edge's access steps accepted
	// (exchange.identity) as callerDigest, so the regional cache keys its
	// entries on the caller as the edge's does.
	headerCaller = "X-Portico-Caller"
)

// internalHeaders are deleted from every request a client sends.
var internalHeaders = []string{headerClientAddr, headerCaller, cache.HeaderEpoch}

// Upstreams lists the regional nodes an edge may forward to.
type Upstreams interface {
	// Regional returns the nodes of region that serve edge traffic and
	// look healthy (alive in gossip, serving). It is called for every
	// forwarded request and never blocks; the slice may be shared, so the
	// caller must not modify it.
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

	nodes sync.Map // address → *upstreamState; read by every request, written once per address
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
		log: log,
		now: time.Now,
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
	if ex.originHost != "" {
		// Called through a custom domain: the origin is asked on the
		// API's own edge host, with the stage in place of the base path.
		pr.Out.Host = ex.originHost
		pr.Out.URL.Path, pr.Out.URL.RawPath = "", ""
		if p, err := url.PathUnescape(ex.originPath); err == nil {
			pr.Out.URL.Path, pr.Out.URL.RawPath = p, ex.originPath
		}
	}
	h := pr.Out.Header
	dropInternalHeaders(h)
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		h.Set(headerClientAddr, ip)
	}
	if ex.identity != "" {
		h.Set(headerCaller, callerDigest(ex.identity))
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
	// A request without a body whose method may be sent twice is retried
	// on a second node (see send for what else it allows).
	repeatable := (req.Body == nil || req.Body == http.NoBody) && idempotent(req.Method)
	tries := 1
	if repeatable {
		tries = 2
	}
	var err error
	for _, c := range cands[:min(tries, len(cands))] {
		var res *http.Response
		if res, err = f.send(req, c, repeatable); err == nil {
			return res, nil
		}
		if req.Context().Err() != nil {
			break // the deadline passed or the client left: no retry
		}
		c.st.failUntil.Store(f.now().Add(upstreamPenalty).UnixNano())
		f.log.Warn("forward to regional node failed", "node", c.Name, "addr", c.Addr, "request_id", ex.id, "err", err)
	}
	return nil, err
}

// send makes one exchange with node c: HTTP/3 unless it is known not to
// work, falling back to HTTP/2 at once when the request may be sent
// twice. A request that may not be repeated goes over HTTP/3 only once
// HTTP/3 to the node has worked.
func (f *forwarder) send(req *http.Request, c candidate, repeatable bool) (*http.Response, error) {
	st := c.st
	out := *req
	url := *req.URL
	url.Host = c.Addr
	out.URL = &url

	st.inflight.Add(1)
	if f.now().UnixNano() >= st.h3Down.Load() && (repeatable || st.h3OK.Load()) {
		res, err := f.h3.RoundTrip(&out)
		if err == nil {
			st.h3OK.Store(true)
			res.Body = &inflightBody{ReadCloser: res.Body, st: st}
			return res, nil
		}
		if req.Context().Err() != nil {
			st.inflight.Add(-1)
			return nil, err
		}
		st.h3OK.Store(false)
		st.h3Down.Store(f.now().Add(h3Retry).UnixNano())
		f.log.Info("HTTP/3 to regional node failed; using HTTP/2", "node", c.Name, "addr", c.Addr, "retry_in", h3Retry, "err", err)
		if !repeatable {
			st.inflight.Add(-1)
			return nil, err
		}
	}
	res, err := f.h2.RoundTrip(&out)
	if err != nil {
		st.inflight.Add(-1)
		return nil, err
	}
	res.Body = &inflightBody{ReadCloser: res.Body, st: st}
	return res, nil
}

// candidate is a regional node as ranked for one request.
type candidate struct {
	Upstream
	st       *upstreamState
	failed   bool  // refused a connection within upstreamPenalty
	inflight int64 // requests in flight to it from this edge
}

// order ranks candidates: nodes not recently failed first; then the near
// ones, whose round trip is within rttSlack of the nearest candidate's,
// the one with fewer requests in flight from this edge first; then the
// others by round trip; then by name, so the order is stable. (Grouping
// by "near the best" rather than comparing pairs within rttSlack keeps
// the order transitive, as sorting needs.)
func (f *forwarder) order(ups []Upstream) []candidate {
	now := f.now().UnixNano()
	cs := make([]candidate, len(ups))
	var best time.Duration = -1
	for i, u := range ups {
		st := f.state(u.Addr)
		cs[i] = candidate{Upstream: u, st: st, failed: now < st.failUntil.Load(), inflight: st.inflight.Load()}
		if best < 0 || u.RTT < best {
			best = u.RTT
		}
	}
	near := func(c candidate) bool { return c.RTT <= best+rttSlack }
	slices.SortStableFunc(cs, func(a, b candidate) int {
		switch {
		case a.failed != b.failed:
			if a.failed {
				return 1
			}
			return -1
		case near(a) != near(b):
			if near(a) {
				return -1
			}
			return 1
		case !near(a) && a.RTT != b.RTT:
			return cmp.Compare(a.RTT, b.RTT)
		case a.inflight != b.inflight:
			return cmp.Compare(a.inflight, b.inflight)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return cs
}

// state returns what this edge learned about the node at addr.
func (f *forwarder) state(addr string) *upstreamState {
	if st, ok := f.nodes.Load(addr); ok {
		return st.(*upstreamState)
	}
	st, _ := f.nodes.LoadOrStore(addr, &upstreamState{})
	return st.(*upstreamState)
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

// inflightBody ends its request's count in flight to a node when the
// response body is first closed.
type inflightBody struct {
	io.ReadCloser
	st     *upstreamState
	closed atomic.Bool
}

func (b *inflightBody) Close() error {
	err := b.ReadCloser.Close()
	if b.closed.CompareAndSwap(false, true) {
		b.st.inflight.Add(-1)
	}
	return err
}

// trustEdge takes, on an origin endpoint, what the forwarding edge says
// about the request: the client's address (so X-Forwarded-For, the access
// log and later policies see the client, not the edge), the request id
// (so one id follows the request through both tiers) and the caller its
// access steps accepted (so the cache keys on the caller here too, the
// origin running no access steps of its own). On an origin,
// exchange.identity is therefore the edge's callerDigest of the caller,
// not the caller's auth.Identity.CacheKey: it only keys the cache.
func trustEdge(r *http.Request, ex *exchange) {
	if ip, err := netip.ParseAddr(r.Header.Get(headerClientAddr)); err == nil {
		r.RemoteAddr = netip.AddrPortFrom(ip.Unmap(), 0).String()
	}
	if id := r.Header.Get(headerRequestID); validRequestID(id) {
		ex.id = id
		ex.idValue[0] = id
	}
	ex.identity = r.Header.Get(headerCaller)
	delete(r.Header, headerClientAddr)
	delete(r.Header, headerCaller)
}

// callerDigest is how an edge names a caller (an auth.Identity.CacheKey)
// to the regional node: fixed in size and always a valid header value,
// whatever a JWT subject or an authorizer's principal holds.
func callerDigest(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return base64.RawURLEncoding.EncodeToString(sum[:])
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
