package endpoints

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

type rttObservation struct {
	client netip.Addr
	rtt    time.Duration
}

// TestObserveRTTFromClientConnections sends requests over real TLS
// connections (HTTP/1.1 and HTTP/2, several requests each) to a regional
// endpoint and expects one plausible observation per connection, for the
// client's address.
func TestObserveRTTFromClientConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_INFO round trips are read on Linux only")
	}
	t.Parallel()
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"http1", false}, {"http2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obs := make(chan rttObservation, 16)
			g := newRegional(t, newSource(configs.NewState()), func(c *Config) {
				c.ObserveRTT = func(client netip.Addr, rtt time.Duration) {
					select {
					case obs <- rttObservation{client, rtt}:
					default:
						t.Error("observer would block: more observations than connections")
					}
				}
			})
			run(t, g)
			c := client(t, g.Addr().String(), tc.http2)
			for range 3 { // one connection, kept alive
				resp, err := c.Get("https://nope." + testRegion + "." + testZone + "/prod/x")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if got := resp.ProtoMajor == 2; got != tc.http2 {
					t.Fatalf("protocol %s, want http2=%v", resp.Proto, tc.http2)
				}
			}
			var o rttObservation
			select {
			case o = <-obs:
			case <-time.After(10 * time.Second):
				t.Fatal("no round trip observed")
			}
			if o.client != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("client %v, want 127.0.0.1", o.client)
			}
			if o.rtt <= 0 || o.rtt >= time.Second {
				t.Errorf("rtt %v: not a loopback round trip", o.rtt)
			}
			select {
			case o := <-obs:
				t.Errorf("a second observation %+v for one connection", o)
			default:
			}
		})
	}
}

// TestObserveRTTSkipsConnectionsWithoutHandshake: a client that connects
// and leaves without a TLS handshake is never sampled; the next real one
// is.
func TestObserveRTTSkipsConnectionsWithoutHandshake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_INFO round trips are read on Linux only")
	}
	t.Parallel()
	obs := make(chan rttObservation, 4)
	g := newRegional(t, newSource(configs.NewState()), func(c *Config) {
		c.ObserveRTT = func(client netip.Addr, rtt time.Duration) { obs <- rttObservation{client, rtt} }
	})
	run(t, g)
	for range 2 {
		raw, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raw.Write([]byte("not tls\r\n\r\n"))
		io.Copy(io.Discard, raw) // until the server gives up on it
		raw.Close()
	}
	resp, err := client(t, g.Addr().String(), false).Get("https://nope." + testRegion + "." + testZone + "/prod/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-obs:
	case <-time.After(10 * time.Second):
		t.Fatal("no round trip observed")
	}
	if len(obs) != 0 {
		t.Errorf("%d observations from connections without a handshake", len(obs))
	}
}

// TestRTTSamplerStates drives the hook through a connection's states: it
// samples at most once, and forgets connections that close or are
// hijacked. A pipe has no round trip, so nothing is observed.
func TestRTTSamplerStates(t *testing.T) {
	t.Parallel()
	calls := 0
	s := &rttSampler{observe: func(netip.Addr, time.Duration) { calls++ }}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	pending := func() int {
		n := 0
		s.pending.Range(func(any, any) bool { n++; return true })
		return n
	}
	s.connState(a, http.StateNew)
	s.connState(b, http.StateNew)
	if pending() != 2 {
		t.Fatalf("pending %d, want 2", pending())
	}
	s.connState(a, http.StateActive)
	s.connState(a, http.StateIdle)
	s.connState(a, http.StateIdle)
	s.connState(a, http.StateClosed)
	s.connState(b, http.StateClosed)
	if pending() != 0 || calls != 0 {
		t.Errorf("pending %d calls %d, want 0 and 0", pending(), calls)
	}
}

// TestNoRTTHookWithoutObserverOrForOrigins: the hook costs nothing
// unless asked for, and only client-facing endpoints get it.
func TestNoRTTHookWithoutObserverOrForOrigins(t *testing.T) {
	t.Parallel()
	observe := func(netip.Addr, time.Duration) {}
	for _, tc := range []struct {
		kind    Kind
		observe func(netip.Addr, time.Duration)
		want    bool
	}{
		{KindRegional, nil, false},
		{KindRegional, observe, tcpRTTSupported},
		{KindEdge, observe, tcpRTTSupported},
		{KindOrigin, observe, false},
	} {
		g := &Gateway{cfg: Config{Kind: tc.kind, ObserveRTT: tc.observe}}
		if got := g.connStateHook() != nil; got != tc.want {
			t.Errorf("%s with observer %v: hook %v, want %v", tc.kind, tc.observe != nil, got, tc.want)
		}
	}
}

// BenchmarkConnRTT is the cost of one sample: a getsockopt on a live
// loopback TCP connection.
func BenchmarkConnRTT(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			<-ctx.Done()
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var conn net.Conn = tls.Client(c, &tls.Config{}) // unwrapped by NetConn
	for b.Loop() {
		connRTT(conn)
	}
}
