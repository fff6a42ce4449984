package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Transport limits.
const (
	maxUDPQuery     = 65535 // the largest datagram
	tcpWriteTimeout = 10 * time.Second
	listenAttempts  = 10 // port 0: tries to find a port free on both UDP and TCP
)

// Run listens on UDP and TCP and answers until ctx is done. Then it
// stops reading, lets the answers being written finish, closes every
// connection and returns nil. It blocks; it may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dns: server already ran")
	}
	pc, ln, err := listen(ctx, s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: listen on %s: %w", s.cfg.Listen, err)
	}
	s.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	close(s.ready)
	s.log.Info("dns server listening", "addr", s.addr.String(), "udp_workers", s.cfg.UDPWorkers, "udp_batch", s.udpBatch())

	conns := &connSet{m: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	for range s.cfg.UDPWorkers {
		wg.Go(func() { s.serveUDP(ctx, pc) })
	}
	wg.Go(func() { s.serveTCP(ctx, ln, conns) })

	<-ctx.Done()
	// Reverse order of start: wake the UDP readers (each finishes the
	// answer it is writing), stop accepting, wake the TCP connections.
	_ = pc.SetReadDeadline(time.Unix(1, 0))
	_ = ln.Close()
	conns.closeAll()
	wg.Wait()
	_ = pc.Close()
	s.log.Info("dns server stopped")
	return nil
}

// listen opens UDP and TCP on one port.
func listen(ctx context.Context, addr string) (*net.UDPConn, *net.TCPListener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	for attempt := 1; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("udp: %w", err)
		}
		udp := pc.(*net.UDPConn)
		p := udp.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, ln.(*net.TCPListener), nil
		}
		_ = udp.Close()
		if port != "0" || attempt == listenAttempts {
			return nil, nil, fmt.Errorf("tcp: %w", err)
		}
	}
}

// serveTCP accepts connections until the listener is closed, then waits
// for the connections it started.
func (s *Server) serveTCP(ctx context.Context, ln *net.TCPListener, conns *connSet) {
	slots := make(chan struct{}, s.cfg.MaxTCPConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http does, up to a second, and try again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept failed; retrying", "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			_ = c.Close() // too many connections
			continue
		}
		if !conns.add(c) {
			_ = c.Close()
			<-slots
			continue
		}
		wg.Go(func() {
			defer func() {
				conns.remove(c)
				_ = c.Close()
				<-slots
			}()
			s.serveConn(ctx, c)
		})
	}
}

// serveConn answers the queries of one TCP connection in order
// (RFC 7766 section 6.2.1.1 allows that) until the client closes it, it
// idles for TCPIdleTimeout, or a packet is not answerable.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	src := netip.AddrPort{}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = a.AddrPort()
	}
	var lenBuf [2]byte
	in := make([]byte, 0, 512)
	r := s.newRequest(4096)
	w := &tcpWriter{conn: c}
	for {
		// Set the deadline, then look at ctx: shutdown cancels ctx before
		// it wakes connections, so one of the two stops this loop.
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if ctx.Err() != nil {
			return
		}
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if cap(in) < n {
			in = make([]byte, n)
		}
		in = in[:n]
		if _, err := io.ReadFull(c, in); err != nil {
			return
		}
		r.reset(in, src, true)
		rcode, err := s.chain.serveDNS(ctx, w, r)
		if err != nil {
			s.log.Debug("tcp query failed", "client", src.String(), "err", err)
		}
		if rcode == rcodeDropped || w.err != nil {
			return // nothing to say to this peer, or it is gone
		}
	}
}

type tcpWriter struct {
	conn net.Conn
	buf  []byte
	err  error
}

func (w *tcpWriter) write(b []byte) error {
	if len(b) > dns.MaxMsgSize {
		w.err = errors.New("response too large for TCP")
		return w.err
	}
	w.buf = binary.BigEndian.AppendUint16(w.buf[:0], uint16(len(b)))
	w.buf = append(w.buf, b...)
	_ = w.conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	_, w.err = w.conn.Write(w.buf)
	return w.err
}

// connSet is the open TCP connections, woken at shutdown.
type connSet struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	closed bool
}

// add records c; false once closeAll has run.
func (cs *connSet) add(c net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.m[c] = struct{}{}
	return true
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	delete(cs.m, c)
	cs.mu.Unlock()
}

// closeAll wakes every connection blocked reading the next query; one
// writing an answer finishes it first (its write deadline still holds).
func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for c := range cs.m {
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
}
