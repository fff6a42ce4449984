package cache

import (
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkHit measures the hit path: key, lookup, flush check, headers
// and a stored gzip body, from parallel clients.
func BenchmarkHit(b *testing.B) {
	e := newEnv(b, "edge")
	body := jsonBody(2 << 10)
	o := &origin{fn: text(body, "Content-Type", "application/json", "Cache-Control", "max-age=60", "Etag", `"v1"`)}
	p := (&Policy{TTL: time.Hour, KeyQuery: []string{"page"}, KeyHeaders: []string{"Accept-Language"}}).WithDefaults()
	target := "/pets?page=2&utm_source=x"
	hdr := []string{"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en", "Authorization", "Bearer token"}
	if got := e.get(&p, o, target, hdr...).Header().Get(HeaderXCache); got != "Miss from edge" {
		b.Fatalf("X-Cache %q", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newRequest(http.MethodGet, target, hdr...)
		w := newRecorderDiscard()
		serve := o.serve
		for pb.Next() {
			clear(w.h)
			e.s.Serve(w, r, &p, "/pets", serve)
		}
	})
	b.StopTimer()
	if o.calls.Load() != 1 {
		b.Fatalf("origin calls = %d", o.calls.Load())
	}
}

// BenchmarkHitServer measures hits through net/http's HTTP/1.1 server over
// in-memory connections: BenchmarkHit plus the server's own header
// handling (its snapshot of the handler's header, and writing it out),
// which depends on what the cache puts in the header map.
func BenchmarkHitServer(b *testing.B) {
	e := newEnv(b, "edge")
	body := jsonBody(2 << 10)
	o := &origin{fn: text(body, "Content-Type", "application/json", "Cache-Control", "max-age=60", "Etag", `"v1"`,
		"Date", "Mon, 02 Jan 2006 15:04:05 GMT")}
	p := (&Policy{TTL: time.Hour, KeyQuery: []string{"page"}, KeyHeaders: []string{"Accept-Language"}}).WithDefaults()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.s.Serve(w, r, &p, "/pets", o.serve) })
	req := "GET /pets?page=2&utm_source=x HTTP/1.1\r\nHost: api.example.com\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en\r\nAuthorization: Bearer token\r\n\r\n"

	conns := make(chan net.Conn)
	srv := &http.Server{Handler: h, ErrorLog: log.New(testLog{b}, "server: ", 0)}
	go func() { _ = srv.Serve(chanListener(conns)) }()
	defer srv.Close()
	serve := func(n int) {
		c := &memConn{req: req, left: n, closed: make(chan struct{})}
		conns <- c
		<-c.closed
	}
	serve(1) // the miss
	b.ReportAllocs()
	b.ResetTimer()
	procs := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for i := range procs {
		n := b.N / procs
		if i < b.N%procs {
			n++
		}
		wg.Go(func() { serve(n) })
	}
	wg.Wait()
	b.StopTimer()
	if o.calls.Load() != 1 {
		b.Fatalf("origin calls = %d", o.calls.Load())
	}
}

// memConn is a client connection that sends the same request left times,
// then EOF, and discards the responses.
type memConn struct {
	req     string
	left    int
	pending string
	closed  chan struct{}
	once    sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.pending == "" {
		if c.left == 0 {
			return 0, io.EOF
		}
		c.left--
		c.pending = c.req
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// chanListener accepts the connections sent on it.
type chanListener chan net.Conn

func (l chanListener) Accept() (net.Conn, error) {
	c, ok := <-l
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l chanListener) Close() error   { close(l); return nil }
func (l chanListener) Addr() net.Addr { return memAddr{} }
