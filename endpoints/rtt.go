package endpoints

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Client round trips (Config.ObserveRTT).
//
// Each TCP connection of a regional or edge endpoint is sampled once: the
// kernel's smoothed round-trip time (Linux TCP_INFO tcpi_rtt) is read when
// the connection first becomes idle (http.StateIdle), or when it is
// hijacked (WebSocket upgrades never become idle). For HTTP/1.1 that is
// after the first response was written; for HTTP/2 it is right after the
// TLS handshake (net/http reports an HTTP/2 connection idle before its
// first stream). Either way the connection has completed the TCP and TLS
// handshakes, so the estimate is smoothed over the SYN-ACK round trip and
// the handshake's flights, not a single SYN; and connections that never
// complete a handshake (scanners, floods) are never sampled.
//
// HTTP/3 (QUIC over UDP) is not sampled: there is no kernel estimate, and
// quic-go does not expose its own. Only regional and edge endpoints are
// sampled: an origin's clients are edges, not users, and private names
// are not latency-routed.

// Clamp of a usable sample: a zero tcpi_rtt means the kernel has none, and
// anything above a minute is a stalled link, not a distance.
const maxRTTSample = time.Minute

// rttSampler is the http.Server.ConnState hook that samples connections.
type rttSampler struct {
	observe func(client netip.Addr, rtt time.Duration)
	// pending holds the connections accepted and not sampled yet; an
	// entry lives from StateNew to the first idle, hijack or close.
	pending sync.Map // net.Conn → struct{}
}

// connStateHook is the ConnState hook of the endpoint's TCP server: nil
// (no hook) unless ObserveRTT is set, the endpoint is a regional or edge
// one, and the platform reports round trips.
func (g *Gateway) connStateHook() func(net.Conn, http.ConnState) {
	if g.cfg.ObserveRTT == nil || (g.cfg.Kind != KindRegional && g.cfg.Kind != KindEdge) || !tcpRTTSupported {
		return nil
	}
	s := &rttSampler{observe: g.cfg.ObserveRTT}
	return s.connState
}

// connState runs on the connection's goroutine: it must not block. A
// sample is one getsockopt and one call of the observer.
func (s *rttSampler) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.pending.Store(c, struct{}{})
	case http.StateIdle, http.StateHijacked:
		if _, ok := s.pending.LoadAndDelete(c); ok {
			if client, rtt, ok := connRTT(c); ok {
				s.observe(client, rtt)
			}
		}
	case http.StateClosed:
		s.pending.Delete(c)
	}
}

// connRTT is the client address of c (a TCP connection, possibly under
// TLS) and the kernel's smoothed round trip to it.
func connRTT(c net.Conn) (netip.Addr, time.Duration, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return netip.Addr{}, 0, false
	}
	ra, ok := tcp.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, 0, false
	}
	client := ra.AddrPort().Addr().Unmap().WithZone("")
	rtt, ok := tcpRTT(tcp)
	if !ok || !client.IsValid() || rtt <= 0 || rtt > maxRTTSample {
		return netip.Addr{}, 0, false
	}
	return client, rtt, true
}
