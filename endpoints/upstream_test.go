package endpoints

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countedServer is an httptest server that counts the connections it
// accepted and the ones that were closed.
func countedServer(t *testing.T, h http.HandlerFunc) (srv *httptest.Server, accepted, closed *atomic.Int64) {
	t.Helper()
	accepted, closed = new(atomic.Int64), new(atomic.Int64)
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			accepted.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, accepted, closed
}

// upstreamGet sends one request through tr and reads the whole answer.
func upstreamGet(t *testing.T, tr http.RoundTripper, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(body)
}

func testUpstream(t *testing.T) *upstreamTransport {
	tr := newUpstreamTransport(newTransport())
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestUpstreamReusesConnections(t *testing.T) {
	srv, conns, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	tr := testUpstream(t)
	for i := range 5 {
		resp, body := upstreamGet(t, tr, "GET", srv.URL+"/fixed")
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("request %d = %d %q", i, resp.StatusCode, body)
		}
	}
	resp, body := upstreamGet(t, tr, "GET", srv.URL+"/chunked")
	if body != "part1,part2" || resp.Trailer.Get("X-Sum") != "42" {
		t.Fatalf("chunked = %q trailer %v", body, resp.Trailer)
	}
	if resp, body := upstreamGet(t, tr, "HEAD", srv.URL+"/fixed"); body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD = %q length %d", body, resp.ContentLength)
	}
	if resp, _ := upstreamGet(t, tr, "GET", srv.URL+"/empty"); resp.StatusCode != 204 {
		t.Fatalf("204 = %d", resp.StatusCode)
	}
	if resp, body := upstreamGet(t, tr, "OPTIONS", srv.URL+"/fixed"); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("OPTIONS = %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("backend accepted %d connections for 9 sequential requests, want 1", n)
	}
}

// rawBackend accepts connections and hands each to serve; it counts the
// connections.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String(), &conns
}

// readRequestHead reads one request and reports whether there was one.
func readRequestHead(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, req.Body)
	return true
}

func TestUpstreamRetriesWhenBackendClosedIdleConnection(t *testing.T) {
	// Each connection answers one request without saying it will close,
	// then closes: the second request finds a dead pooled connection.
	url, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := testUpstream(t)
	for i := range 3 {
		resp, body := upstreamGet(t, tr, "GET", url+"/")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d = %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if n := conns.Load(); n < 3 {
		t.Fatalf("backend saw %d connections, want a new one per request", n)
	}
}

func TestUpstreamDoesNotRetryAfterAnAnswerStarted(t *testing.T) {
	// The first connection serves one request, then answers the next
	// with half a status line and closes: that must be an error, not a
	// silent retry.
	var n atomic.Int64
	url, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for readRequestHead(br) {
			if n.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			io.WriteString(c, "HTTP/1.1 2")
			return
		}
	})
	tr := testUpstream(t)
	upstreamGet(t, tr, "GET", url+"/")
	req, _ := http.NewRequest("GET", url+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a truncated answer was accepted")
	}
	if c := conns.Load(); c != 1 {
		t.Fatalf("backend saw %d connections, want 1 (no retry)", c)
	}
}

func TestUpstreamLimitsResponseHeaders(t *testing.T) {
	url, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := "X-Big: " + strings.Repeat("a", 1000) + "\r\n"
			for range 2000 { // 2 MB of headers
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
			io.WriteString(c, "Content-Length: 0\r\n\r\n")
		}
	})
	tr := testUpstream(t)
	req, _ := http.NewRequest("GET", url+"/", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, errUpstreamHeaderTooLarge) {
		t.Fatalf("2 MB of headers: err = %v, want %v", err, errUpstreamHeaderTooLarge)
	}
}

func TestUpstreamContextEndsExchange(t *testing.T) {
	release := make(chan struct{})
	srv, conns, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fast":
			return
		case "/slow-body":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := testUpstream(t)

	// Deadline before the head arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow-head", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: err = %v", err)
	}

	// Cancellation in the middle of the body.
	ctx2, cancel2 := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx2, "GET", srv.URL+"/slow-body", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel2)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("reading a body after cancellation succeeded")
	} else if err != context.Canceled {
		// ReverseProxy logs every body read error but io.EOF and
		// context.Canceled, comparing with ==, as http.Transport returns
		// them: a client hang-up must not look like a backend fault.
		t.Fatalf("cancellation mid-body: err = %v, want context.Canceled itself", err)
	}
	resp.Body.Close()

	// Neither spoiled connection is reused.
	upstreamGet(t, tr, "GET", srv.URL+"/fast")
	if n := conns.Load(); n != 3 {
		t.Fatalf("backend saw %d connections, want 3 (interrupted ones are not reused)", n)
	}

	// Deadline in the middle of the body.
	ctx3, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	req, _ = http.NewRequestWithContext(ctx3, "GET", srv.URL+"/slow-body", nil)
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != context.DeadlineExceeded {
		t.Fatalf("deadline mid-body: err = %v, want context.DeadlineExceeded itself", err)
	}
	resp.Body.Close()
	upstreamGet(t, tr, "GET", srv.URL+"/fast")
	if n := conns.Load(); n != 4 {
		t.Fatalf("backend saw %d connections, want 4 (the timed-out one is not reused)", n)
	}
}

func TestUpstreamEarlyCloseDoesNotDrain(t *testing.T) {
	release := make(chan struct{})
	srv, conns, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/endless" {
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	})
	defer close(release)
	tr := testUpstream(t)
	req, _ := http.NewRequest("GET", srv.URL+"/endless", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { resp.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing an unfinished body blocked (it drained the backend)")
	}
	upstreamGet(t, tr, "GET", srv.URL+"/")
	if n := conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2", n)
	}
}

func TestUpstreamConnectionCloseAndUnboundedBodies(t *testing.T) {
	// Answers alternate: "Connection: close", a body ended by closing, and
	// an HTTP/1.0 answer; none of these connections may be pooled.
	var n atomic.Int64
	url, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if !readRequestHead(br) {
			return
		}
		switch n.Add(1) {
		case 1:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na")
		case 2:
			io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil-close")
		default:
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nc")
		}
	})
	tr := testUpstream(t)
	for i, want := range []string{"a", "until-close", "c"} {
		if _, body := upstreamGet(t, tr, "GET", url+"/"); body != want {
			t.Fatalf("answer %d = %q, want %q", i, body, want)
		}
	}
	if c := conns.Load(); c != 3 {
		t.Fatalf("backend saw %d connections, want 3", c)
	}
}

func TestUpstreamUnsolicitedBytesSpoilConnection(t *testing.T) {
	url, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for readRequestHead(br) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
		}
	})
	tr := testUpstream(t)
	for i := range 2 {
		if _, body := upstreamGet(t, tr, "GET", url+"/"); body != "ok" {
			t.Fatalf("answer %d = %q", i, body)
		}
	}
	if c := conns.Load(); c != 2 {
		t.Fatalf("backend saw %d connections, want 2 (extra bytes spoil a connection)", c)
	}
}

func TestUpstreamInformationalAnswers(t *testing.T) {
	url, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) {
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
		}
	})
	tr := testUpstream(t)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "body" {
		t.Fatalf("final answer = %d %q", resp.StatusCode, body)
	}
	if len(hints) != 1 || hints[0] != "103 </a.css>; rel=preload" {
		t.Fatalf("1xx seen by the trace = %q", hints)
	}

	url2, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
		}
	})
	req, _ = http.NewRequest("GET", url2+"/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, errUpstreamProtocol) {
		t.Fatalf("101 without an upgrade request: err = %v", err)
	}
}

func TestUpstreamBoundsInformationalAnswers(t *testing.T) {
	// /limit sends as many 1xx answers as allowed, then the final one;
	// /endless sends 1xx answers until the connection is closed.
	url, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		const hint = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
		if req.URL.Path == "/limit" {
			io.WriteString(c, strings.Repeat(hint, maxInformational)+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		for {
			if _, err := io.WriteString(c, hint); err != nil {
				return
			}
		}
	})
	tr := testUpstream(t)
	if resp, body := upstreamGet(t, tr, "GET", url+"/limit"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d informational answers, then: %d %q", maxInformational, resp.StatusCode, body)
	}
	var hints atomic.Int64
	trace := &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error {
		hints.Add(1)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url+"/endless", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "informational") {
			t.Fatalf("endless informational answers: err = %v, want the 1xx limit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("endless informational answers: RoundTrip did not return")
	}
	if n := hints.Load(); n != maxInformational+1 {
		t.Fatalf("the trace saw %d informational answers, want %d", n, maxInformational+1)
	}
}

func TestUpstreamIdleTimeout(t *testing.T) {
	srv, conns, closed := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := testUpstream(t)
	// The sweep would not run for an hour: only conn can expire the
	// connection, once it looks idle for longer than that.
	tr.idleTimeout = time.Hour
	upstreamGet(t, tr, "GET", srv.URL+"/")
	tr.mu.Lock()
	for _, list := range tr.idle {
		for _, c := range list {
			c.idleSince = c.idleSince.Add(-2 * time.Hour)
		}
	}
	tr.mu.Unlock()
	upstreamGet(t, tr, "GET", srv.URL+"/")
	if n := conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2 (the idle one expired)", n)
	}
	eventually(t, "the expired connection is closed", func() bool { return closed.Load() == 1 })
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.idleTotal != 1 {
		t.Fatalf("idleTotal = %d, want 1 (the new connection)", tr.idleTotal)
	}
}

func TestUpstreamOtherRequestsUseTheFallback(t *testing.T) {
	srv, _, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	tr := testUpstream(t)
	for _, tc := range []struct {
		method, body string
		sync         bool
	}{
		{"GET", "", true},
		{"POST", "", false},
		{"POST", "payload", false},
		{"GET", "with-body", false},
		{"DELETE", "", false},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequest(tc.method, srv.URL+"/", body)
		if got := tr.synchronous(req); got != tc.sync {
			t.Errorf("%s with body %q: synchronous = %v, want %v", tc.method, tc.body, got, tc.sync)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := tc.method + " " + tc.body; string(got) != want {
			t.Errorf("answer %q, want %q", got, want)
		}
	}
	up, _ := http.NewRequest("GET", srv.URL+"/", nil)
	up.Header.Set("Upgrade", "websocket")
	tls, _ := http.NewRequest("GET", "https://example.test/", nil)
	for _, r := range []*http.Request{up, tls} {
		if tr.synchronous(r) {
			t.Errorf("%s %v takes the synchronous path", r.URL, r.Header)
		}
	}
}

func TestUpstreamConcurrentRequests(t *testing.T) {
	srv, conns, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	tr := testUpstream(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("%s answered %q (%v)", path, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > 8 {
		t.Fatalf("backend saw %d connections for 8 concurrent clients, want at most 8", n)
	}
}

func TestUpstreamSweepsIdleConnections(t *testing.T) {
	srv, _, closed := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := testUpstream(t)
	tr.idleTimeout = 20 * time.Millisecond
	upstreamGet(t, tr, "GET", srv.URL+"/")
	// Nothing uses the pool again: the sweep alone must close the
	// connection, and stop once the pool is empty.
	eventually(t, "the idle connection is closed", func() bool { return closed.Load() == 1 })
	eventually(t, "the sweep stops with the pool empty", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.idleTotal == 0 && len(tr.idle) == 0 && tr.sweep == nil
	})
}

func TestUpstreamBoundsIdleConnectionsOverall(t *testing.T) {
	a, connsA, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b, connsB, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	tr := testUpstream(t)
	tr.maxIdle = 1
	upstreamGet(t, tr, "GET", a.URL+"/") // pooled: the one idle slot
	upstreamGet(t, tr, "GET", b.URL+"/") // pool full: closed
	upstreamGet(t, tr, "GET", b.URL+"/")
	upstreamGet(t, tr, "GET", a.URL+"/")
	if ca, cb := connsA.Load(), connsB.Load(); ca != 1 || cb != 2 {
		t.Fatalf("connections a=%d b=%d, want 1 and 2 (one idle connection overall)", ca, cb)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.idleTotal != 1 {
		t.Fatalf("idleTotal = %d, want 1", tr.idleTotal)
	}
}

func TestUpstreamRetryDialsWhenSeveralPooledConnectionsDied(t *testing.T) {
	// Two requests arrive together, so two connections get pooled; the
	// backend answers each once and closes it. The next request meets a
	// dead pooled connection, and its retry must not take the other dead
	// one.
	var arrived sync.WaitGroup
	arrived.Add(2)
	var served atomic.Int64
	url, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if !readRequestHead(br) {
			return
		}
		if served.Add(1) <= 2 { // the first two wait for each other
			arrived.Done()
			arrived.Wait()
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := testUpstream(t)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { upstreamGet(t, tr, "GET", url+"/") })
	}
	wg.Wait()
	tr.mu.Lock()
	pooled := tr.idleTotal
	tr.mu.Unlock()
	if pooled != 2 {
		t.Fatalf("%d connections pooled, want 2", pooled)
	}
	time.Sleep(20 * time.Millisecond) // let both closes arrive
	if resp, body := upstreamGet(t, tr, "GET", url+"/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the backend closed its idle connections: %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("backend saw %d connections, want 3 (the retry dials)", n)
	}
}
