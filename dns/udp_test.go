package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// burstPackets is a mix of what a UDP worker meets: answers of every
// kind, truncation, EDNS and client subnets, a query larger than any
// answer buffer, errors, and packets that get no answer. Every packet
// carries its own id, id0 and up.
func burstPackets(t testing.TB, id0 uint16) [][]byte {
	node := query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA}
	qs := []struct {
		q     query
		spoil func(*dns.Msg)
	}{
		{q: node},
		{q: query{name: apiEdge + ".us-east-1." + testZone, qtype: dns.TypeA}},
		{q: query{name: edgeName, qtype: dns.TypeA, edns: true}},
		{q: query{name: edgeName, qtype: dns.TypeAAAA, ecs: "127.0.2.0/24"}},
		{q: query{name: "nope." + testZone, qtype: dns.TypeA}},
		{q: query{name: testZone, qtype: dns.TypeNS, bufsize: 512}}, // truncated
		{q: query{name: testZone, qtype: dns.TypeANY}},
		{q: query{name: testZone, qtype: dns.TypeAXFR}},
		{q: query{name: domain, qtype: dns.TypeA, do: true}},
		{q: query{name: "example.com.", qtype: dns.TypeA}},
		{q: query{name: node.name, qtype: dns.TypeA, edns: true}, spoil: func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }},
		{q: node, spoil: withOption(8, 0, 1, 20, 0, 192, 0, 2)},                               // ECS bits beyond source: FORMERR
		{q: node, spoil: withOption(65001, make([]byte, 3000)...)},                            // a 3 KB query
		{q: node, spoil: func(m *dns.Msg) { m.Response = true }},                              // dropped
		{q: node, spoil: func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }}, // FORMERR
	}
	var out [][]byte
	for i, c := range qs {
		m := c.q.msg()
		if c.spoil != nil {
			c.spoil(m)
		}
		m.Id = id0 + uint16(i)
		out = append(out, mustPack(t, m))
	}
	hdr := func(id uint16) []byte { return binary.BigEndian.AppendUint16(nil, id) }
	n := id0 + uint16(len(qs))
	out = append(out,
		append(hdr(n), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1), // compression loop: FORMERR
		append(hdr(n+1), 0x01), // short: dropped
		[]byte{},               // empty: dropped
	)
	return out
}

// TestUDPBursts: clients that send bursts of queries without waiting get
// from the real server exactly what the handler chain answers each
// packet, byte for byte (none for those it drops), whether the workers
// read one datagram at a time or in batches.
func TestUDPBursts(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 0, 4} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, newView(mappedFixture()))
			cfg.UDPBatch = batch
			s := startServer(t, cfg)
			ref := newServer(t, cfg) // not running: the chain alone

			const clients, rounds = 4, 5
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					src := conn.LocalAddr().(*net.UDPAddr).AddrPort().String()
					buf := make([]byte, 65535)
					// One burst per round: a few dozen datagrams in
					// flight per client stay well inside the sockets'
					// default buffers, so nothing is lost (even when
					// the race detector slows the server down).
					for r := range rounds {
						want := map[uint16][]byte{}
						pkts := burstPackets(t, uint16(c*1000+r*100))
						for _, p := range pkts {
							if out := serveRaw(ref, p, src, false).out; len(out) == 1 {
								want[binary.BigEndian.Uint16(out[0])] = out[0]
							}
						}
						for _, p := range pkts {
							if _, err := conn.Write(p); err != nil {
								t.Error(err)
								return
							}
						}
						_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
						for got := 0; got < len(want); got++ {
							n, err := conn.Read(buf)
							if err != nil {
								t.Errorf("client %d round %d: %d of %d answers: %v", c, r, got, len(want), err)
								return
							}
							id := binary.BigEndian.Uint16(buf)
							if w, ok := want[id]; !ok || !bytes.Equal(buf[:n], w) {
								t.Errorf("client %d round %d: answer %d (id %d) differs from the handler's (%v)", c, r, got, id, ok)
							}
						}
					}
				})
			}
			wg.Wait()
			if n := s.panics.Load(); n != 0 {
				t.Errorf("%d panics", n)
			}
		})
	}
}

// fakeBatch is a packetBatch over fixed packets, all from src. It keeps
// the replies as given and copies them only at flush, so an answer
// overwritten before its batch is flushed shows.
type fakeBatch struct {
	pkts    [][]byte
	src     netip.AddrPort
	queued  [][]byte // by slot
	replies [][][]byte
	flushes int
}

func newFakeBatch(src string, pkts ...[]byte) *fakeBatch {
	return &fakeBatch{pkts: pkts, src: netip.MustParseAddrPort(src), queued: make([][]byte, len(pkts)), replies: make([][][]byte, len(pkts))}
}

func (f *fakeBatch) len() int           { return len(f.pkts) }
func (f *fakeBatch) read() (int, error) { return len(f.pkts), nil }
func (f *fakeBatch) packet(i int) ([]byte, netip.AddrPort, bool) {
	return f.pkts[i], f.src, true
}

func (f *fakeBatch) reply(i int, p []byte) {
	if f.queued[i] != nil {
		f.replies[i] = append(f.replies[i], nil) // a second reply to one query: counted, fails the caller's check
	}
	f.queued[i] = p
}

func (f *fakeBatch) flush() error {
	f.flushes++
	for i, p := range f.queued {
		if p != nil {
			f.replies[i] = append(f.replies[i], bytes.Clone(p))
		}
		f.queued[i] = nil
	}
	return nil
}

// serveBatch runs pkts through a UDP worker as one batch, as if read
// from src, and returns the replies to each.
func serveBatch(s *Server, src string, pkts ...[]byte) [][][]byte {
	fb := newFakeBatch(src, pkts...)
	w := newUDPWorker(s, fb)
	n, _ := fb.read()
	w.serveBatch(context.Background(), n)
	_ = fb.flush()
	return fb.replies
}

// TestBatchAnswersStayIntact: every answer of a batch is still whole when
// the batch is flushed, whatever the queries after it wrote.
func TestBatchAnswersStayIntact(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newView(mappedFixture()))
	s := newServer(t, cfg)
	pkts := burstPackets(t, 1)
	replies := serveBatch(s, "127.0.0.1:5300", pkts...)
	for i, p := range pkts {
		want := serveRaw(s, p, "127.0.0.1:5300", false).out
		if len(replies[i]) != len(want) {
			t.Errorf("packet %d: %d replies, want %d", i, len(replies[i]), len(want))
			continue
		}
		for j := range want {
			if !bytes.Equal(replies[i][j], want[j]) {
				t.Errorf("packet %d: batched answer differs from the handler's", i)
			}
		}
	}
}
