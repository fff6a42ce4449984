package dns

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary bytes as a packet through the whole
// handler chain, over UDP and TCP, from an internal and an external
// client: it must never panic, and whatever it sends must parse and
// carry the query's id. A UDP worker given the packet in a batch, between
// two plain queries, must answer each exactly as the chain does alone.
func FuzzServeDNS(f *testing.F) {
	seed := func(q query, spoil func(*dns.Msg)) []byte {
		m := q.msg()
		if spoil != nil {
			spoil(m)
		}
		return mustPack(f, m)
	}
	hdr := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	// A plain A query for an edge name (latency routing).
	f.Add(seed(query{name: edgeName, qtype: dns.TypeA}, nil))
	// A custom domain with a client subnet and DO.
	f.Add(seed(query{name: domain, qtype: dns.TypeA, ecs: "127.0.2.0/24", do: true}, nil))
	// An IPv6 client subnet for an AAAA question.
	f.Add(seed(query{name: edgeName, qtype: dns.TypeAAAA, ecs: "2001:db8::/56"}, nil))
	// A private name (split horizon).
	f.Add(seed(query{name: privateName, qtype: dns.TypeA, edns: true}, nil))
	// NS at the apex: glue in the additional section, truncation.
	f.Add(seed(query{name: testZone, qtype: dns.TypeNS, bufsize: 512}, nil))
	// ANY at the apex (RFC 8482).
	f.Add(seed(query{name: testZone, qtype: dns.TypeANY}, nil))
	// AXFR: refused.
	f.Add(seed(query{name: testZone, qtype: dns.TypeAXFR}, nil))
	// EDNS version 1: BADVERS.
	f.Add(seed(query{name: testZone, qtype: dns.TypeSOA, edns: true}, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }))
	// Two OPT records: FORMERR.
	f.Add(seed(query{name: testZone, qtype: dns.TypeSOA, edns: true}, func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }))
	// A client subnet with bits set beyond its source length: FORMERR.
	f.Add(seed(query{name: testZone, qtype: dns.TypeSOA}, withOption(8, 0, 1, 20, 0, 192, 0, 2)))
	// A client subnet option whose length runs past the OPT record.
	f.Add(append(seed(query{name: testZone, qtype: dns.TypeSOA}, withOption(8, 0, 1, 24, 0, 192, 0, 2))[:50], 0, 8, 0, 200))
	// A NOTIFY: not implemented.
	f.Add(seed(query{name: testZone, qtype: dns.TypeSOA}, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }))
	// A response: dropped.
	f.Add(seed(query{name: testZone, qtype: dns.TypeSOA}, func(m *dns.Msg) { m.Response = true }))
	// A header promising a question that is not there.
	f.Add(hdr)
	// A question name that points at itself (compression loop).
	f.Add(append(hdr, 0xC0, 12, 0, 1, 0, 1))
	// A label running past the end.
	f.Add(append(hdr, 63, 'a', 'b'))
	// Less than a header.
	f.Add([]byte{0x12})
	// Nothing.
	f.Add([]byte{})

	snap := mappedFixture()
	cfg := testConfig(f, newView(snap))
	cfg.Latency = &fakeLatency{
		rtt:  map[netip.Prefix]map[string]time.Duration{pfx("127.0.2.0/24"): {"euw-edge-1": 5 * ms}},
		node: map[string]time.Duration{"dns-1>use-edge-1": 1 * ms},
	}
	cfg.Explore = 0.5
	draw := 0.0
	cfg.Rand = func() float64 { draw += 0.37; return draw - float64(int(draw)) } // deterministic, both branches
	cfg.Logger = discardLogger()
	s := newServer(f, cfg)
	// The batch comparison needs answers that do not depend on the order
	// of exploration draws.
	cfg.Explore = -1
	noExplore := newServer(f, cfg)
	plain := seed(query{name: edgeName, qtype: dns.TypeA, edns: true}, nil)

	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, src := range []string{"127.0.0.1:5300", "[2001:db8::7]:5300"} {
			for _, tcp := range []bool{false, true} {
				c := serveRaw(s, raw, src, tcp)
				if n := s.panics.Load(); n != 0 {
					t.Fatalf("the handler panicked (%d)", n)
				}
				if len(c.out) > 1 {
					t.Fatalf("%d responses to one packet", len(c.out))
				}
				for _, out := range c.out {
					if !tcp && len(out) > DefaultUDPSize {
						t.Fatalf("UDP response of %d bytes", len(out))
					}
					m := new(dns.Msg)
					if err := m.Unpack(out); err != nil {
						t.Fatalf("response does not parse: %v", err)
					}
					if len(raw) < 2 || m.Id != binary.BigEndian.Uint16(raw) || !m.Response {
						t.Fatalf("response id %d, query id bytes %x", m.Id, raw[:min(2, len(raw))])
					}
				}
			}
			pkts := [][]byte{plain, raw, plain}
			batched := serveBatch(noExplore, src, pkts...)
			if n := noExplore.panics.Load(); n != 0 {
				t.Fatalf("the batch worker panicked (%d)", n)
			}
			for i, p := range pkts {
				want := serveRaw(noExplore, p, src, false).out
				if len(batched[i]) != len(want) || len(want) == 1 && !bytes.Equal(batched[i][0], want[0]) {
					t.Fatalf("batch slot %d: answers %x, the chain alone %x", i, batched[i], want)
				}
			}
		}
	})
}
