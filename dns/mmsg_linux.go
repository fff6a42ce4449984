package dns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2): a msghdr and
// the number of bytes received or sent. Go lays it out as C does (the
// same trailing padding to the msghdr's alignment).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgBatch reads datagrams with recvmmsg and writes the replies with
// sendmmsg, through the runtime's network poller (syscall.RawConn), so a
// worker waiting for packets parks like any goroutine blocked on a
// socket.
//
// The system calls are made with RawSyscall: the socket is non-blocking,
// so neither call waits, and skipping the scheduler's system call
// bookkeeping matters at one call per batch. In particular, a call made
// while every P is idle would otherwise wake the runtime's monitor thread
// (sysmon), which a server that idles between bursts of queries does
// thousands of times a second.
//
// Everything is allocated once: a buffer per slot as large as any
// datagram (only as many pages are touched as datagrams fill), the
// headers, the I/O vectors and the addresses, which stay in system form
// so a reply goes back to exactly the address its query came from.
type mmsgBatch struct {
	rc    syscall.RawConn
	bufs  [][]byte
	names []unix.RawSockaddrInet6 // large enough for either family
	rhdrs []mmsghdr               // reads: one per slot
	riovs []unix.Iovec
	whdrs []mmsghdr // queued replies
	wiovs []unix.Iovec
	n     int // datagrams of the last read

	// The poller callbacks, built once (a method value allocates).
	readFn, writeFn func(fd uintptr) bool
	pending         []mmsghdr // what writeFn sends
	sent            int
	errno           syscall.Errno
}

// newPacketBatch is batched I/O on pc with size slots of bufSize bytes.
func newPacketBatch(pc *net.UDPConn, size, bufSize int) (packetBatch, error) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dns: raw udp socket: %w", err)
	}
	b := &mmsgBatch{
		rc:    rc,
		bufs:  make([][]byte, size),
		names: make([]unix.RawSockaddrInet6, size),
		rhdrs: make([]mmsghdr, size),
		riovs: make([]unix.Iovec, size),
		whdrs: make([]mmsghdr, 0, size),
		wiovs: make([]unix.Iovec, size),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bufSize)
		b.riovs[i].Base = &b.bufs[i][0]
		b.riovs[i].SetLen(bufSize)
	}
	b.readFn = b.recvmmsg
	b.writeFn = b.sendmmsg
	return b, nil
}

func (b *mmsgBatch) len() int { return len(b.bufs) }

// read waits for datagrams and reads as many as are queued, up to the
// number of slots.
func (b *mmsgBatch) read() (int, error) {
	for i := range b.rhdrs {
		h := &b.rhdrs[i]
		*h = mmsghdr{}
		h.hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.hdr.Namelen = unix.SizeofSockaddrInet6
		h.hdr.Iov = &b.riovs[i]
		h.hdr.SetIovlen(1)
	}
	b.n, b.errno = 0, 0
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", b.errno)
	}
	return b.n, nil
}

// recvmmsg is the poller callback of read: false asks the poller to wait
// until the socket is readable and call again.
func (b *mmsgBatch) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhdrs[0])), uintptr(len(b.rhdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.n = int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			b.errno = e
		}
		return true
	}
}

// packet is datagram i of the last read and its source; ok is false for
// a source that is neither IPv4 nor IPv6 (it cannot be answered), and
// for a datagram longer than the slot (not with slots of maxUDPQuery).
func (b *mmsgBatch) packet(i int) (p []byte, src netip.AddrPort, ok bool) {
	h := &b.rhdrs[i]
	p = b.bufs[i][:min(int(h.n), len(b.bufs[i]))]
	sa := &b.names[i]
	switch {
	case h.hdr.Flags&unix.MSG_TRUNC != 0:
	case sa.Family == unix.AF_INET && h.hdr.Namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return p, netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(sa4.Port)), true
	case sa.Family == unix.AF_INET6 && h.hdr.Namelen >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return p, netip.AddrPortFrom(a, port(sa.Port)), true
	}
	return p, netip.AddrPort{}, false
}

// port is a sockaddr port (network byte order in memory) as a number.
func port(p uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}

// reply queues p as the answer to datagram i of the last read. p must
// stay untouched until flush.
func (b *mmsgBatch) reply(i int, p []byte) {
	if len(p) == 0 {
		return
	}
	j := len(b.whdrs)
	if j == len(b.wiovs) {
		return // one answer per query: more are not sent
	}
	b.wiovs[j].Base = &p[0]
	b.wiovs[j].SetLen(len(p))
	b.whdrs = append(b.whdrs, mmsghdr{})
	h := &b.whdrs[j]
	h.hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	h.hdr.Namelen = b.rhdrs[i].hdr.Namelen
	h.hdr.Iov = &b.wiovs[j]
	h.hdr.SetIovlen(1)
}

// flush sends the queued replies. One the kernel refuses is skipped and
// the others are still sent; the first such error is returned.
func (b *mmsgBatch) flush() error {
	var first error
	b.pending = b.whdrs
	for len(b.pending) > 0 {
		b.sent, b.errno = 0, 0
		if err := b.rc.Write(b.writeFn); err != nil {
			first = err // the socket is closed
			break
		}
		if b.errno != 0 {
			if first == nil {
				first = os.NewSyscallError("sendmmsg", b.errno)
			}
			b.sent = 1 // sendmmsg reports an error only for the first message
		}
		b.pending = b.pending[b.sent:]
	}
	b.pending = nil
	b.whdrs = b.whdrs[:0]
	clear(b.wiovs) // no references to this batch's buffers
	return first
}

// sendmmsg is the poller callback of flush: false asks the poller to
// wait until the socket is writable and call again.
func (b *mmsgBatch) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.pending[0])), uintptr(len(b.pending)), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false // the send buffer is full
		case e != 0:
			b.errno = e
		case r == 0:
			b.errno = unix.EIO // sendmmsg sends at least one or fails: never here, but never a busy loop either
		default:
			b.sent = int(r)
		}
		return true
	}
}
