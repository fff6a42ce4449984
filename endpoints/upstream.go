package endpoints

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"sync"
	"time"
)

// upstreamTransport is the RoundTripper behind every HTTP_PROXY
// integration. It sends the common case, a bodiless replayable request
// (GET, HEAD, OPTIONS, TRACE) to a cleartext backend, synchronously: the
// handler's own goroutine writes the request on a pooled keep-alive
// connection and reads the answer from it. Everything else (a request
// body, a protocol upgrade, an https backend, a non-replayable method)
// goes to the standard library's http.Transport unchanged.
//
// Why not just http.Transport: it keeps a reader and a writer goroutine
// per connection and hands every request and response between them and
// the caller over channels. On the 2-CPU machine the project measures on,
// that hand-off (select, channel locks, parking, waking, timers) was the
// largest block of the proxy profile that was not GC. The wire format is
// still entirely the standard library's: Request.Write serialises the
// request and http.ReadResponse parses the answer, framing, chunking,
// trailers and Connection: close included. This file only pools
// connections and ties them to the request's context.
//
// Behaviour a caller relies on and that this keeps from http.Transport:
//   - the context's deadline bounds the whole exchange, body included, and
//     cancelling the context (the client went away) aborts it;
//   - response headers are limited (maxHeaderBytes) so a hostile backend
//     cannot make the gateway buffer without bound;
//   - 1xx informational answers are passed to the request's httptrace
//     Got1xxResponse hook (ReverseProxy forwards 103 Early Hints that way)
//     and skipped;
//   - a request that fails on a reused connection before any byte of an
//     answer arrived (the backend closed an idle connection) is sent once
//     more on a fresh connection; only replayable requests take this path,
//     so the retry never repeats a side effect;
//   - a connection is reused only after its response body was read to the
//     end and neither side asked to close; a body closed early closes the
//     connection instead of draining it (a slow backend cannot hold the
//     handler).
type upstreamTransport struct {
	fallback *http.Transport
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)

	maxIdlePerHost int           // 0 or less: never pool
	maxIdle        int           // over all hosts; 0: no limit
	idleTimeout    time.Duration // 0: no limit
	maxHeaderBytes int64

	mu        sync.Mutex
	idle      map[string][]*upstreamConn // by host:port, most recently used last
	idleTotal int
	sweep     *time.Timer // closes expired idle connections; nil when none idle
}

// netHTTPMaxResponseHeaderBytes is what http.Transport allows when its
// MaxResponseHeaderBytes is 0 (net/http does not export it).
const netHTTPMaxResponseHeaderBytes = 10 << 20

// newUpstreamTransport wraps fallback, borrowing its dialer and limits. A
// zero limit means what it means to http.Transport: MaxIdleConnsPerHost 0
// is http.DefaultMaxIdleConnsPerHost, MaxResponseHeaderBytes 0 is 10 MiB,
// MaxIdleConns and IdleConnTimeout 0 are no limit.
func newUpstreamTransport(fallback *http.Transport) *upstreamTransport {
	return &upstreamTransport{
		fallback:       fallback,
		dial:           fallback.DialContext,
		maxIdlePerHost: cmp.Or(fallback.MaxIdleConnsPerHost, http.DefaultMaxIdleConnsPerHost),
		maxIdle:        fallback.MaxIdleConns,
		idleTimeout:    fallback.IdleConnTimeout,
		maxHeaderBytes: cmp.Or(fallback.MaxResponseHeaderBytes, netHTTPMaxResponseHeaderBytes),
		idle:           map[string][]*upstreamConn{},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.synchronous(req) {
		return t.fallback.RoundTrip(req)
	}
	addr := net.JoinHostPort(req.URL.Hostname(), cmp.Or(req.URL.Port(), "80"))
	ctx := req.Context()
	c, err := t.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	for {
		resp, err := c.exchange(req, t)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		if ctxErr := contextEnded(ctx, err); ctxErr != nil {
			return nil, fmt.Errorf("%w (%v)", ctxErr, err)
		}
		if !c.reused || c.r.got > 0 {
			return nil, err
		}
		// The backend closed a kept-alive connection before answering:
		// try once more. The retry dials rather than taking another idle
		// connection: when the backend closed one, it has likely closed
		// the others that idled as long. A dialled connection is not
		// reused, so there is no third attempt.
		if c, err = t.dialConn(ctx, addr); err != nil {
			return nil, err
		}
	}
}

// contextEnded returns the context's error if it ended. The connection's
// deadline is the context's, so a read can time out a moment before the
// context's own timer fires; such a timeout is the context's too, and
// callers that ask the context (the proxy's error handler does) must see
// it ended.
func contextEnded(ctx context.Context, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			<-ctx.Done()
		}
	}
	return ctx.Err()
}

// synchronous says whether req takes the synchronous path: no body to
// stream beside the answer, no upgrade, a cleartext HTTP/1.1 backend and
// a method that may be sent twice.
func (t *upstreamTransport) synchronous(req *http.Request) bool {
	if req.URL.Scheme != "http" || (req.Body != nil && req.Body != http.NoBody) || req.ContentLength > 0 {
		return false
	}
	if len(req.TransferEncoding) > 0 || req.Header["Upgrade"] != nil || req.Header["Expect"] != nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// CloseIdleConnections closes every pooled connection, the fallback's too.
func (t *upstreamTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*upstreamConn{}
	t.idleTotal = 0
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// conn returns the most recently used idle connection to addr, or dials
// a new one. Connections to addr idle longer than idleTimeout are closed
// on the way (the sweep may not have run yet).
func (t *upstreamTransport) conn(ctx context.Context, addr string) (*upstreamConn, error) {
	now := time.Now()
	t.mu.Lock()
	stale := t.expireLocked(addr, now)
	list := t.idle[addr]
	var c *upstreamConn
	if n := len(list); n > 0 {
		c = list[n-1]
		list[n-1] = nil
		t.idle[addr] = list[:n-1]
		t.idleTotal--
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	if c != nil {
		c.reused = true
		return c, nil
	}
	return t.dialConn(ctx, addr)
}

// expireLocked takes the connections to addr idle longer than idleTimeout
// out of the pool and returns them for the caller to close. The list is
// ordered by the time its connections went idle, so the expired ones are
// a prefix. t.mu must be held.
func (t *upstreamTransport) expireLocked(addr string, now time.Time) []*upstreamConn {
	if t.idleTimeout <= 0 {
		return nil
	}
	list := t.idle[addr]
	n := 0
	for n < len(list) && now.Sub(list[n].idleSince) > t.idleTimeout {
		n++
	}
	if n == 0 {
		return nil
	}
	stale := slices.Clone(list[:n])
	t.idle[addr] = slices.Delete(list, 0, n)
	t.idleTotal -= n
	return stale
}

// dialConn opens a new connection to addr.
func (t *upstreamTransport) dialConn(ctx context.Context, addr string) (*upstreamConn, error) {
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &upstreamConn{nc: nc, addr: addr}
	c.r.c = nc
	c.br = bufio.NewReaderSize(&c.r, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	return c, nil
}

// put returns c to the idle pool, or closes it if the pool is full or
// the backend sent bytes nobody asked for.
func (t *upstreamTransport) put(c *upstreamConn) {
	if c.br.Buffered() > 0 {
		c.nc.Close()
		return
	}
	c.idleSince = time.Now()
	t.mu.Lock()
	list := t.idle[c.addr]
	if len(list) < t.maxIdlePerHost && (t.maxIdle <= 0 || t.idleTotal < t.maxIdle) {
		t.idle[c.addr] = append(list, c)
		t.idleTotal++
		c = nil
		if t.sweep == nil && t.idleTimeout > 0 {
			t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
		}
	}
	t.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// sweepIdle closes the connections idle longer than idleTimeout, as
// http.Transport does, so a backend that went quiet does not keep them
// open; it runs while any connection is idle. It also drops the hosts
// left with no idle connection.
func (t *upstreamTransport) sweepIdle() {
	now := time.Now()
	var stale []*upstreamConn
	t.mu.Lock()
	for addr := range t.idle {
		stale = append(stale, t.expireLocked(addr, now)...)
		if len(t.idle[addr]) == 0 {
			delete(t.idle, addr)
		}
	}
	if t.sweep != nil {
		if t.idleTotal > 0 {
			t.sweep.Reset(t.idleTimeout)
		} else {
			t.sweep = nil
		}
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.nc.Close()
	}
}

// upstreamConn is one keep-alive connection to a backend.
type upstreamConn struct {
	nc        net.Conn
	addr      string
	r         countingReader
	br        *bufio.Reader
	bw        *bufio.Writer
	reused    bool // taken from the pool: an earlier request was answered on it
	idleSince time.Time
}

// errUpstreamHeaderTooLarge is returned when a backend's response header
// exceeds the transport's limit.
var errUpstreamHeaderTooLarge = errors.New("backend response headers too large")

// errUpstreamProtocol is returned for answers a bodiless, non-upgrade
// request cannot have.
var errUpstreamProtocol = errors.New("backend answered 101 Switching Protocols to a request that asked for no upgrade")

// maxInformational bounds how many 1xx answers may precede the final one.
const maxInformational = 5

// exchange sends req on c and reads the response head, both bounded by
// the request's context. On success the returned body owns c until it is
// read to the end or closed.
func (c *upstreamConn) exchange(req *http.Request, t *upstreamTransport) (*http.Response, error) {
	ctx := req.Context()
	deadline, _ := ctx.Deadline()
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, c.interrupt)
	c.r.got = 0
	resp, err := c.roundTrip(req, t.maxHeaderBytes)
	c.r.limit = 0
	if err != nil {
		stop()
		return nil, err
	}
	b := &upstreamBody{rc: resp.Body, c: c, t: t, ctx: ctx, stop: stop, keep: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// roundTrip writes req and reads answer heads until the final one, each
// head limited to maxHeader bytes.
func (c *upstreamConn) roundTrip(req *http.Request, maxHeader int64) (*http.Response, error) {
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	for range maxInformational + 1 {
		c.r.limit = c.r.got - int64(c.br.Buffered()) + maxHeader
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errUpstreamProtocol
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
					return nil, err
				}
			}
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("backend sent more than %d informational (1xx) answers", maxInformational)
}

// interrupt unblocks a read or write in progress when the request's
// context ends.
func (c *upstreamConn) interrupt() { c.nc.SetDeadline(time.Unix(1, 0)) }

// countingReader counts the bytes read from the connection and, while
// limit is positive, refuses to read past it (the header limit).
type countingReader struct {
	c     net.Conn
	got   int64
	limit int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.limit > 0 {
		left := r.limit - r.got
		if left <= 0 {
			return 0, errUpstreamHeaderTooLarge
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := r.c.Read(p)
	r.got += int64(n)
	return n, err
}

// upstreamBody is a response body that gives its connection back to the
// pool once read to the end.
type upstreamBody struct {
	rc   io.ReadCloser
	c    *upstreamConn
	t    *upstreamTransport
	ctx  context.Context // the request's
	stop func() bool
	keep bool // neither side asked to close
	done bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		// Once the context ended, interrupt made reads time out; report
		// the context's error itself, unwrapped, as http.Transport does:
		// ReverseProxy compares it with context.Canceled to tell a client
		// that went away from a backend fault.
		if ctxErr := contextEnded(b.ctx, err); ctxErr != nil {
			err = ctxErr
		}
	}
	return n, err
}

// Close ends the body. One not read to the end closes the connection
// rather than draining what the backend still sends.
func (b *upstreamBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: back to the pool when the whole answer
// was read and may be followed by another, closed otherwise.
func (b *upstreamBody) finish(complete bool) {
	b.done = true
	c := b.c
	b.c = nil
	if c == nil {
		return
	}
	if complete {
		b.rc.Close() // at EOF: only collects the trailer state
	}
	// stop reports false if the context already ended and interrupt ran
	// or is running: that connection's deadline is spoiled.
	if b.stop() && complete && b.keep {
		b.t.put(c)
		return
	}
	c.nc.Close()
}
