package dns

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// packed builds a query and lets f spoil it before packing.
func packed(t testing.TB, q query, f func(*dns.Msg)) []byte {
	t.Helper()
	m := q.msg()
	m.Id = 4242
	if f != nil {
		f(m)
	}
	return mustPack(t, m)
}

// withOption adds a raw EDNS option (for malformed client subnets).
func withOption(code uint16, data ...byte) func(*dns.Msg) {
	return func(m *dns.Msg) {
		if m.IsEdns0() == nil {
			m.SetEdns0(1232, false)
		}
		o := m.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: code, Data: data})
	}
}

// TestMalformedQueries: what a query that is not a plain QUERY with one
// question gets, through the handler chain (no network).
func TestMalformedQueries(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(t, newView(fixture())))
	node := query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA}
	header := func(id uint16, flags uint16, qd, an, ns, ar uint16) []byte {
		return []byte{byte(id >> 8), byte(id), byte(flags >> 8), byte(flags), byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), byte(ns >> 8), byte(ns), byte(ar >> 8), byte(ar)}
	}
	// Some malformed client subnets are rejected by miekg/dns while
	// unpacking: FORMERR with a bare header. The others parse, and get
	// FORMERR with an OPT record.
	cases := []struct {
		name    string
		raw     []byte
		rcode   int // -1: nothing sent
		opt     bool
		noQuest bool
	}{
		{name: "empty packet dropped", raw: nil, rcode: rcodeDropped},
		{name: "short header dropped", raw: []byte{1, 2, 3}, rcode: rcodeDropped},
		{name: "a response dropped", raw: packed(t, node, func(m *dns.Msg) { m.Response = true }), rcode: rcodeDropped},
		{name: "no question", raw: packed(t, node, func(m *dns.Msg) { m.Question = nil }), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "two questions", raw: packed(t, node, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "two questions with EDNS keeps OPT", raw: packed(t, query{name: node.name, qtype: dns.TypeA, edns: true}, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), rcode: dns.RcodeFormatError, opt: true, noQuest: true},
		{name: "truncated question", raw: append(header(4242, 0, 1, 0, 0, 0), 5, 'a', 'b'), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "compression loop", raw: append(header(4242, 0, 1, 0, 0, 0), 0xC0, 12, 0, 1, 0, 1), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "NOTIFY not implemented", raw: packed(t, node, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), rcode: dns.RcodeNotImplemented, noQuest: true},
		{name: "UPDATE not implemented", raw: packed(t, node, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), rcode: dns.RcodeNotImplemented, noQuest: true},
		{name: "unassigned opcode not implemented", raw: header(4242, 3<<11, 0, 0, 0, 0), rcode: dns.RcodeNotImplemented, noQuest: true},
		{name: "EDNS version 1 BADVERS", raw: packed(t, query{name: node.name, qtype: dns.TypeA, edns: true}, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }), rcode: dns.RcodeBadVers, opt: true},
		{name: "two OPT records", raw: packed(t, query{name: node.name, qtype: dns.TypeA, edns: true}, func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "OPT as question type", raw: packed(t, query{name: testZone, qtype: dns.TypeOPT}, nil), rcode: dns.RcodeFormatError},
		{name: "ECS bits beyond source", raw: packed(t, node, withOption(8, 0, 1, 20, 0, 192, 0, 2)), rcode: dns.RcodeFormatError, opt: true},
		{name: "ECS too many octets", raw: packed(t, node, withOption(8, 0, 1, 24, 0, 192, 0, 2, 0)), rcode: dns.RcodeFormatError, opt: true},
		{name: "ECS too few octets", raw: packed(t, node, withOption(8, 0, 1, 24, 0, 192, 0)), rcode: dns.RcodeFormatError, opt: true},
		{name: "ECS scope set in a query", raw: packed(t, node, withOption(8, 0, 1, 24, 8, 192, 0, 2)), rcode: dns.RcodeFormatError, opt: true},
		{name: "ECS unknown family", raw: packed(t, node, withOption(8, 0, 3, 0, 0)), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "ECS IPv4 source 33", raw: packed(t, node, withOption(8, 0, 1, 33, 0, 1, 2, 3, 4, 5)), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "ECS shorter than its header", raw: packed(t, node, withOption(8, 0, 1)), rcode: dns.RcodeFormatError, noQuest: true},
		{name: "two ECS options", raw: packed(t, node, func(m *dns.Msg) {
			withOption(8, 0, 1, 24, 0, 192, 0, 2)(m)
			withOption(8, 0, 1, 24, 0, 192, 0, 2)(m)
		}), rcode: dns.RcodeFormatError, opt: true},
		{name: "ECS family 0 source 0 accepted", raw: packed(t, node, withOption(8, 0, 0, 0, 0)), rcode: dns.RcodeSuccess, opt: true},
		{name: "unknown EDNS option ignored", raw: packed(t, node, withOption(65001, 1, 2, 3)), rcode: dns.RcodeSuccess, opt: true},
		{name: "class CH refused", raw: packed(t, node, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), rcode: dns.RcodeRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := serveRaw(s, tc.raw, "127.0.0.1:5300", false)
			if tc.rcode == rcodeDropped {
				if len(got.out) != 0 || got.rcode != rcodeDropped {
					t.Fatalf("sent %d responses (rcode %d), want none", len(got.out), got.rcode)
				}
				return
			}
			if len(got.out) != 1 {
				t.Fatalf("sent %d responses, want 1 (err %v)", len(got.out), got.err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(got.out[0]); err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if r.Id != 4242 || !r.Response {
				t.Errorf("id %d response %v, want 4242 true", r.Id, r.Response)
			}
			if r.Rcode != tc.rcode || got.rcode != tc.rcode {
				t.Errorf("rcode %s (handler %d), want %s", dns.RcodeToString[r.Rcode], got.rcode, dns.RcodeToString[tc.rcode])
			}
			if (r.IsEdns0() != nil) != tc.opt {
				t.Errorf("OPT present %v, want %v", r.IsEdns0() != nil, tc.opt)
			}
			if tc.noQuest && len(r.Question) != 0 {
				t.Errorf("question echoed: %v", r.Question)
			}
			if len(r.Answer)+len(r.Ns) != 0 && r.Rcode != dns.RcodeSuccess {
				t.Errorf("records in an error response: %v %v", r.Answer, r.Ns)
			}
		})
	}
}

// TestMalformedOverUDP: the real server answers FORMERR to a packet that
// does not parse, with the query's id.
func TestMalformedOverUDP(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(fixture())))
	out := rawExchange(t, s, []byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'b', 'r', 'o'}, "")
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if r.Id != 0x1234 || r.Rcode != dns.RcodeFormatError {
		t.Errorf("id %#x rcode %s, want 0x1234 FORMERR", r.Id, dns.RcodeToString[r.Rcode])
	}
}

// TestEDNS: the response has an OPT only when the query had one, with our
// buffer size, version 0 and the DO bit copied.
func TestEDNS(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(fixture())))
	name := "use-edge-1.nodes." + testZone
	r := exchange(t, s, query{name: name, qtype: dns.TypeA}.msg(), "udp", "")
	if r.IsEdns0() != nil {
		t.Error("OPT in the response to a query without EDNS")
	}
	r = exchange(t, s, query{name: name, qtype: dns.TypeA, bufsize: 4096, do: true}.msg(), "udp", "")
	o := r.IsEdns0()
	if o == nil {
		t.Fatal("no OPT in the response to an EDNS query")
	}
	if o.UDPSize() != DefaultUDPSize || o.Version() != 0 || !o.Do() {
		t.Errorf("OPT size %d version %d DO %v, want %d 0 true", o.UDPSize(), o.Version(), o.Do(), DefaultUDPSize)
	}
	r = exchange(t, s, query{name: name, qtype: dns.TypeA, edns: true}.msg(), "udp", "")
	if r.IsEdns0() == nil || r.IsEdns0().Do() {
		t.Error("DO set in the response though not in the query")
	}
}

// manyEdges is a fixture with n IPv6-only edges, for answers too big for
// 512 (or 1232) bytes.
func manyEdges(n int) *Snapshot {
	s := fixture()
	s.Nodes = nil
	for i := range n {
		s.Nodes = append(s.Nodes, Node{
			Name: fmt.Sprintf("edge-%02d", i), Region: "us-east-1", Roles: []string{"edge"}, Healthy: true,
			Public: []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})},
		})
	}
	return s
}

// TestTruncation: an answer bigger than the client's UDP size comes back
// empty with TC set; the same query over TCP gets all of it.
func TestTruncation(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newView(manyEdges(50)))
	cfg.MaxAnswers = 50
	s := startServer(t, cfg)
	big := cfg
	big.UDPSize = 4096
	sBig := startServer(t, big)
	name := apiEdge + ".edge." + testZone // 50 AAAA: about 1.4 KB
	cases := []struct {
		name    string
		srv     *Server
		q       query
		network string
		tc      bool
	}{
		{name: "UDP without EDNS: 512 bytes", srv: s, q: query{name: name, qtype: dns.TypeAAAA}, network: "udp", tc: true},
		{name: "UDP with EDNS 512", srv: s, q: query{name: name, qtype: dns.TypeAAAA, bufsize: 512}, network: "udp", tc: true},
		{name: "UDP with EDNS 4096: our 1232 caps it", srv: s, q: query{name: name, qtype: dns.TypeAAAA, bufsize: 4096}, network: "udp", tc: true},
		{name: "TCP gets it all", srv: s, q: query{name: name, qtype: dns.TypeAAAA}, network: "tcp"},
		{name: "TCP with EDNS gets it all", srv: s, q: query{name: name, qtype: dns.TypeAAAA, bufsize: 512}, network: "tcp"},
		{name: "UDP with EDNS 4096 and a 4096 server", srv: sBig, q: query{name: name, qtype: dns.TypeAAAA, bufsize: 4096}, network: "udp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := exchange(t, tc.srv, tc.q.msg(), tc.network, "")
			if r.Truncated != tc.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tc.tc)
			}
			want := 50
			if tc.tc {
				want = 0 // no partial RRset (RFC 2181 section 9)
			}
			if len(r.Answer) != want {
				t.Errorf("%d answers, want %d", len(r.Answer), want)
			}
			if tc.q.bufsize != 0 && r.IsEdns0() == nil {
				t.Error("OPT lost in truncation")
			}
		})
	}
}

// TestTruncationDropsGlueFirst: an NS answer whose glue does not fit is
// sent without the glue and without TC (the glue is optional).
func TestTruncationDropsGlueFirst(t *testing.T) {
	t.Parallel()
	snap := fixture()
	for i := range 12 {
		snap.Nodes = append(snap.Nodes, Node{Name: fmt.Sprintf("dns-x%02d", i), Region: "us-east-1", Roles: []string{"dns"}, Healthy: true,
			Public: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(100 + i)})}})
	}
	s := newServer(t, testConfig(t, newView(snap)))
	r := serveMsg(t, s, query{name: testZone, qtype: dns.TypeNS}.msg(), "127.0.0.1:5300")
	if r.Truncated || len(r.Answer) != 14 || len(r.Extra) != 0 {
		t.Errorf("TC %v, %d NS, %d glue; want no TC, 14 NS, no glue", r.Truncated, len(r.Answer), len(r.Extra))
	}
	r = serveMsg(t, s, query{name: testZone, qtype: dns.TypeNS, bufsize: 1232}.msg(), "127.0.0.1:5300")
	if r.Truncated || len(r.Answer) != 14 || len(r.Extra) != 14+13+1 { // 14 A, 13 AAAA, OPT
		t.Errorf("EDNS 1232: TC %v, %d NS, %d extra; want all glue", r.Truncated, len(r.Answer), len(r.Extra))
	}
}
