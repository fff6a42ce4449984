package dns

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestPacketBatch: one recvmmsg reads what several clients sent, each
// reply goes back to its own client, and a reply the kernel refuses (here
// to port 0) is skipped without losing the ones after it.
func TestPacketBatch(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pb, err := newPacketBatch(pc, 8, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var clients []*net.UDPConn
	for i := range 3 {
		c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{byte(i), 'q'}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	// Loopback delivers each datagram into the socket's queue before
	// the client's write returns: one read finds all three.
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := pb.read()
	if err != nil || n != 3 {
		t.Fatalf("read %d datagrams (%v), want 3", n, err)
	}
	got := map[string]int{} // client address → slot
	for i := range n {
		p, src, ok := pb.packet(i)
		if !ok || len(p) != 2 || p[1] != 'q' || int(p[0]) >= len(clients) {
			t.Fatalf("slot %d: %q from %v (%v)", i, p, src, ok)
		}
		if want := clients[p[0]].LocalAddr().(*net.UDPAddr).AddrPort(); src != want {
			t.Errorf("slot %d from %v, want %v", i, src, want)
		}
		got[src.String()] = i
	}
	mb := pb.(*mmsgBatch)
	refused := got[clients[1].LocalAddr().String()]
	mb.names[refused].Port = 0
	for _, c := range clients {
		i := got[c.LocalAddr().String()]
		pb.reply(i, []byte("answer to "+c.LocalAddr().String()))
	}
	if err := pb.flush(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("flush: %v, want EINVAL for the reply to port 0", err)
	}
	for i, c := range clients {
		if i == 1 {
			continue
		}
		buf := make([]byte, 100)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("answer to "+c.LocalAddr().String())) {
			t.Errorf("client %d: %q, %v", i, buf[:n], err)
		}
	}
}

// TestPacketBatchTruncated: a datagram longer than its slot is not
// served cut short.
func TestPacketBatchTruncated(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pb, err := newPacketBatch(pc, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []int{16, 17} {
		if _, err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := pb.read(); err != nil || n != 2 {
		t.Fatalf("read %d datagrams (%v), want 2", n, err)
	}
	if p, _, ok := pb.packet(0); !ok || len(p) != 16 {
		t.Errorf("16 bytes in a 16-byte slot: %d bytes, ok %v", len(p), ok)
	}
	if _, _, ok := pb.packet(1); ok {
		t.Error("17 bytes in a 16-byte slot served")
	}
}
