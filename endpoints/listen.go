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

// altSvc advertises HTTP/3 on the same port to clients of HTTP/1.1 and
// HTTP/2 (RFC 7838), for 24 hours, on the first response of each
// connection: a client keeps the advertisement for its max-age whichever
// response carried it (RFC 7838 §2.2), so repeating it on every response
// of a keep-alive connection only made each of them a header longer (a
// cost every cache hit paid). The connection's flag comes from
// altSvcConnContext; a request without one (a handler used alone) always
// gets the header.
func altSvc(port int, next http.Handler) http.Handler {
	v := []string{`h3=":` + strconv.Itoa(port) + `"; ma=86400`}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sent, ok := r.Context().Value(altSvcKey{}).(*atomic.Bool); !ok || !sent.Swap(true) {
			w.Header()["Alt-Svc"] = v
		}
		next.ServeHTTP(w, r)
	})
}

// altSvcKey is the context key of a connection's "Alt-Svc sent" flag.
type altSvcKey struct{}

// altSvcConnContext gives every connection a flag of its own (the
// http.Server's ConnContext; HTTP/2 streams share their connection's).
func altSvcConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, altSvcKey{}, new(atomic.Bool))
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
