package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
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

// Accept completes the handshake before handing the connection to Raft,
// so a peer without a valid certificate never reaches the Raft decoder.
// A failed handshake closes that connection and waits for the next one.
func (t *tlsLayer) Accept() (net.Conn, error) {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			tc.Close()
			continue
		}
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
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
