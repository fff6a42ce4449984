package endpoints

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// listeners are what an endpoint serves on: TCP for HTTP/1.1 and HTTP/2,
// UDP for HTTP/3. Either may be nil.
type listeners struct {
	tcp net.Listener
	udp net.PacketConn
}

func (ls *listeners) addr() net.Addr {
	if ls.tcp != nil {
		return ls.tcp.Addr()
	}
	if ls.udp != nil {
		return ls.udp.LocalAddr()
	}
	return nil
}

// listenAttempts bounds how often an edge with port 0 looks for a port
// number free on both TCP and UDP.
const listenAttempts = 8

// listen opens the sockets of the endpoint's kind: regional TCP; edge TCP
// and UDP on the same port number; origin UDP, when Listen is set.
func (g *Gateway) listen(ctx context.Context) (*listeners, error) {
	var lc net.ListenConfig
	switch g.cfg.Kind {
	case KindOrigin:
		if g.cfg.Listen == "" {
			return &listeners{}, nil
		}
		pc, err := lc.ListenPacket(ctx, "udp", g.cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("endpoints: listen on udp %s: %w", g.cfg.Listen, err)
		}
		return &listeners{udp: pc}, nil
	case KindEdge:
		host, port, err := net.SplitHostPort(g.cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("endpoints: listen address %q: %w", g.cfg.Listen, err)
		}
		for range listenAttempts {
			ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("endpoints: listen on %s: %w", g.cfg.Listen, err)
			}
			udpAddr := net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
			pc, err := lc.ListenPacket(ctx, "udp", udpAddr)
			if err == nil {
				return &listeners{tcp: ln, udp: pc}, nil
			}
			ln.Close()
			// With port 0 the port TCP picked may be taken on UDP: try
			// another. A fixed port that is taken is an error.
			if port != "0" || !errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("endpoints: listen on udp %s: %w", udpAddr, err)
			}
		}
		return nil, fmt.Errorf("endpoints: no port free on both tcp and udp at %s", g.cfg.Listen)
	case KindPrivate:
		lc.Control = sourceFilter(g.cfg.NetworkCIDRs)
		ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("endpoints: listen on %s: %w", g.cfg.Listen, err)
		}
		return &listeners{tcp: sourceListener{Listener: ln, allowed: g.cfg.NetworkCIDRs}}, nil
	default:
		ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("endpoints: listen on %s: %w", g.cfg.Listen, err)
		}
		return &listeners{tcp: ln}, nil
	}
}

// altSvcConn advertises HTTP/3 on the same port to the clients of one
// TCP connection (HTTP/1.1 or HTTP/2; RFC 7838), for 24 hours. A client
// keeps an advertisement for its max-age per origin (RFC 7838 §3), so
// repeating it on every response of a keep-alive connection only made
// each of them a header longer, a cost every cache hit paid. It goes out
// on the first final response for each host in turn: an HTTP/2 connection
// may carry several origins its certificate covers. The exchange sets it
// when its final status goes out (exchange.WriteHeader), so a 1xx, a
// header map cleared after one, or a stream the client reset before any
// answer does not use it up.
type altSvcConn struct {
	value []string
	last  atomic.Pointer[string] // the host of the last response that carried it
}

// due reports whether a response for host should carry the header.
func (c *altSvcConn) due(host string) bool {
	p := c.last.Load()
	return p == nil || *p != host
}

// sent records that a response for host carried it.
func (c *altSvcConn) sent(host string) { c.last.Store(&host) }

// altSvcKey is the context key of a connection's *altSvcConn.
type altSvcKey struct{}

// altSvcConnContext returns the http.Server's ConnContext for an endpoint
// whose HTTP/3 listens on UDP port: each connection gets its own
// altSvcConn (HTTP/2 streams share their connection's).
func altSvcConnContext(port int) func(context.Context, net.Conn) context.Context {
	v := []string{`h3=":` + strconv.Itoa(port) + `"; ma=86400`}
	return func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, altSvcKey{}, &altSvcConn{value: v})
	}
}

// altSvcFor returns the connection's advertisement when r's response
// should carry it, else nil.
func altSvcFor(r *http.Request) *altSvcConn {
	if c, ok := r.Context().Value(altSvcKey{}).(*altSvcConn); ok && c.due(r.Host) {
		return c
	}
	return nil
}

// newHTTP3Server serves the pipeline over QUIC with the endpoint's
// certificates (TLS 1.3, ALPN h3).
func (g *Gateway) newHTTP3Server() *http3.Server {
	tc := http3.ConfigureTLSConfig(g.cfg.TLS.Clone())
	tc.MinVersion = tls.VersionTLS13
	return &http3.Server{
		Handler:        g.handler,
		TLSConfig:      tc,
		MaxHeaderBytes: maxHeaderBytes,
		IdleTimeout:    idleTimeout,
		QUICConfig: &quic.Config{
			MaxIdleTimeout:       idleTimeout,
			HandshakeIdleTimeout: readHeaderTimeout,
		},
		Logger: g.log,
	}
}
