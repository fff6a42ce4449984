package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// tlsLayer is a raft.StreamLayer over mutual TLS: every accepted
// connection must present a certificate from the cluster CA (enforced by
// the server config), and every dial verifies the peer the same way. A
// node without such a certificate cannot take part in Raft.
type tlsLayer struct {
	ln     net.Listener // a tls.Listener
	adv    net.Addr
	client *tls.Config
}

func newTLSLayer(ln net.Listener, adv net.Addr, server, client *tls.Config) *tlsLayer {
	return &tlsLayer{ln: tls.NewListener(ln, server), adv: adv, client: client}
}

// Accept returns the connection without waiting for its handshake: raft
// accepts in a single loop, so a peer that connects and sends nothing must
// not hold up everyone else. The handshake runs on the connection's first
// Read, in raft's per-connection goroutine, bounded by handshakeTimeout; a
// peer without a valid certificate fails it and never reaches the Raft
// decoder.
func (t *tlsLayer) Accept() (net.Conn, error) {
	c, err := t.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyHandshake{Conn: c.(*tls.Conn)}, nil
}

const handshakeTimeout = 10 * time.Second

// lazyHandshake completes the server handshake before the first read.
type lazyHandshake struct {
	*tls.Conn
	done atomic.Bool
}

func (c *lazyHandshake) Read(b []byte) (int, error) {
	if !c.done.Load() {
		c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := c.Conn.Handshake(); err != nil {
			c.Conn.Close()
			return 0, err
		}
		c.Conn.SetDeadline(time.Time{})
		c.done.Store(true)
	}
	return c.Conn.Read(b)
}

func (t *tlsLayer) Close() error   { return t.ln.Close() }
func (t *tlsLayer) Addr() net.Addr { return t.adv }

func (t *tlsLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(addr), t.client)
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", addr, err)
	}
	return c, nil
}
