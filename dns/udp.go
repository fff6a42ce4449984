package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
)

// UDP serving. Several workers (Config.UDPWorkers) read one socket; each
// answers what it read inline, through the same handler chain as TCP,
// with buffers it owns. On Linux a worker reads up to Config.UDPBatch
// datagrams with one recvmmsg and sends their answers with one sendmmsg:
// most of a DNS server's time goes to system calls, one receive and one
// send per query otherwise. Elsewhere, or with UDPBatch 1, it reads and
// writes one datagram at a time.

// batchIO reports whether this system can read and write datagrams in
// batches.
const batchIO = runtime.GOOS == "linux"

// udpBatch is the number of datagrams a worker reads per system call.
func (s *Server) udpBatch() int {
	if !batchIO {
		return 1
	}
	return s.cfg.UDPBatch
}

// serveUDP is one UDP worker; it returns once ctx is done and the
// socket's read deadline has woken it (Run does both).
func (s *Server) serveUDP(ctx context.Context, pc *net.UDPConn) {
	if s.udpBatch() > 1 {
		pb, err := newPacketBatch(pc, s.cfg.UDPBatch, maxUDPQuery)
		if err == nil {
			newUDPWorker(s, pb).run(ctx)
			return
		}
		s.log.Warn("batched udp i/o unavailable; reading one datagram at a time", "err", err)
	}
	s.serveUDPSingle(ctx, pc)
}

// serveUDPSingle reads one query at a time and answers it inline.
func (s *Server) serveUDPSingle(ctx context.Context, pc *net.UDPConn) {
	in := make([]byte, maxUDPQuery)
	r := s.newRequest(s.cfg.UDPSize)
	w := &udpWriter{conn: pc}
	for {
		n, src, err := pc.ReadFromUDPAddrPort(in)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read failed", "err", err)
			continue
		}
		r.reset(in[:n], src, false)
		w.to = src
		_, err = s.chain.serveDNS(ctx, w, r)
		if err != nil {
			s.log.Debug("udp query failed", "client", src.String(), "err", err)
		}
	}
}

type udpWriter struct {
	conn *net.UDPConn
	to   netip.AddrPort
}

func (w *udpWriter) write(b []byte) error {
	_, err := w.conn.WriteToUDPAddrPort(b, w.to)
	return err
}

// packetBatch is batched datagram I/O on one socket, owned by one worker
// (not safe for concurrent use). read blocks until at least one datagram
// has arrived or the socket's read deadline passes; flush blocks until
// the replies are handed to the kernel.
type packetBatch interface {
	// len is the number of slots: the most datagrams one read returns.
	len() int
	// read reads the datagrams queued on the socket into the slots.
	read() (int, error)
	// packet is slot i of the last read and its source; ok is false when
	// the source cannot be answered. The bytes stay valid until the next
	// read.
	packet(i int) (p []byte, src netip.AddrPort, ok bool)
	// reply queues p to be sent to the source of slot i. p must stay
	// untouched until flush returns.
	reply(i int, p []byte)
	// flush sends the queued replies and forgets them. A reply the kernel
	// refuses is skipped and the rest are still sent; the first such
	// error is returned.
	flush() error
}

// udpWorker answers batches of datagrams. Besides its packetBatch it
// owns one pack buffer per slot, so that every answer of a batch stays
// intact until the batch is flushed.
type udpWorker struct {
	s    *Server
	pb   packetBatch
	pack [][]byte
	r    *request
	w    batchWriter
}

func newUDPWorker(s *Server, pb packetBatch) *udpWorker {
	w := &udpWorker{s: s, pb: pb, pack: make([][]byte, pb.len()), r: s.newRequest(0)}
	for i := range w.pack {
		w.pack[i] = make([]byte, s.cfg.UDPSize)
	}
	w.w.pb = pb
	return w
}

// run reads, answers and writes batches until ctx is done.
func (w *udpWorker) run(ctx context.Context) {
	for {
		n, err := w.pb.read()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			w.s.log.Debug("udp read failed", "err", err)
			continue
		}
		w.serveBatch(ctx, n)
		if err := w.pb.flush(); err != nil {
			w.s.log.Debug("udp write failed", "err", err)
		}
	}
}

// serveBatch answers the first n slots of the last read; the answers are
// queued in the packetBatch.
func (w *udpWorker) serveBatch(ctx context.Context, n int) {
	for i := range n {
		raw, src, ok := w.pb.packet(i)
		if !ok {
			continue
		}
		w.r.buf = w.pack[i]
		w.r.reset(raw, src, false)
		w.w.slot = i
		if _, err := w.s.chain.serveDNS(ctx, &w.w, w.r); err != nil {
			w.s.log.Debug("udp query failed", "client", src.String(), "err", err)
		}
	}
}

// batchWriter queues an answer for its worker's next flush. The bytes it
// is given are the slot's own pack buffer (or one packing allocated for a
// larger answer), untouched until then.
type batchWriter struct {
	pb   packetBatch
	slot int
}

func (bw *batchWriter) write(b []byte) error {
	bw.pb.reply(bw.slot, b)
	return nil
}
