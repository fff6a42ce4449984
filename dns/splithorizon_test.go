package dns

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	privateName = apiPrivate + ".private.us-east-1." + testZone
	// missingPrivate has the same length and shape as privateName.
	missingPrivate = "n0n3x1st3n.private.us-east-1." + testZone
	// missingElsewhere has the same length, outside the private tree.
	missingElsewhere = apiPrivate + ".nothere.us-east-1." + testZone
)

// TestSplitHorizon: private names resolve for internal clients only; an
// outsider's NXDOMAIN cannot be told from that of a name that does not
// exist.
func TestSplitHorizon(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(fixture())))
	const internal, external = "127.0.0.1", "127.0.0.2"

	for _, network := range []string{"udp", "tcp"} {
		r := exchange(t, s, query{name: privateName, qtype: dns.TypeA}.msg(), network, internal)
		if got := answerAddrs(r); !slices.Equal(got, []string{"10.1.0.21", "10.1.0.22"}) {
			t.Errorf("%s internal: %v, want the private addresses", network, got)
		}
		r = exchange(t, s, query{name: privateName, qtype: dns.TypeA}.msg(), network, external)
		if r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
			t.Errorf("%s external: %s %v, want NXDOMAIN", network, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}

	// Byte for byte, with the same id and EDNS (with and without a
	// client subnet), whatever the question type.
	for _, q := range []query{
		{qtype: dns.TypeA, id: 777},
		{qtype: dns.TypeAAAA, id: 778, edns: true},
		{qtype: dns.TypeA, id: 779, ecs: "198.51.100.0/24"},
		{qtype: dns.TypeTXT, id: 780, ecs: "10.1.0.0/24", do: true},
	} {
		q.name = privateName
		got := rawExchange(t, s, mustPack(t, q.msg()), external)
		q.name = missingPrivate
		want := rawExchange(t, s, mustPack(t, q.msg()), external)
		// The names differ in their first label only; put the private
		// one's label in place to compare the rest byte for byte.
		want = bytes.Replace(want, []byte("n0n3x1st3n"), []byte(apiPrivate), 1)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: NXDOMAIN for the private name differs from a missing name's:\n got  %x\n want %x", dns.TypeToString[q.qtype], got, want)
		}
	}

	// Outside the private tree the shape (flags, sections) is the same.
	priv := exchange(t, s, query{name: privateName, qtype: dns.TypeA, edns: true, id: 99}.msg(), "udp", external)
	miss := exchange(t, s, query{name: missingElsewhere, qtype: dns.TypeA, edns: true, id: 99}.msg(), "udp", external)
	if priv.MsgHdr != miss.MsgHdr {
		t.Errorf("headers differ: %+v vs %+v", priv.MsgHdr, miss.MsgHdr)
	}
	sameRRs(t, "authority", priv.Ns, []string{soaLine})
	sameRRs(t, "authority", miss.Ns, []string{soaLine})
	if len(priv.Extra) != len(miss.Extra) {
		t.Errorf("additional sections differ: %v vs %v", priv.Extra, miss.Extra)
	}

	// The private tree's empty non-terminals exist only inside too.
	if r := exchange(t, s, query{name: "private.us-east-1." + testZone, qtype: dns.TypeA}.msg(), "udp", external); r.Rcode != dns.RcodeNameError {
		t.Errorf("private.us-east-1 for an outsider: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if r := exchange(t, s, query{name: "private.us-east-1." + testZone, qtype: dns.TypeA}.msg(), "udp", internal); r.Rcode != dns.RcodeSuccess {
		t.Errorf("private.us-east-1 for an insider: %s, want NODATA", dns.RcodeToString[r.Rcode])
	}
}

// TestSplitHorizonECS: a client subnet can narrow who is internal, never
// widen it (ECS is not authenticated).
func TestSplitHorizonECS(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(t, newView(fixture())))
	cases := []struct {
		name, src, ecs string
		rcode          int
		scope          uint8
	}{
		{name: "internal source, internal subnet", src: "127.0.0.1:5300", ecs: "10.9.0.0/16", rcode: dns.RcodeSuccess, scope: 8},
		{name: "internal source, outside subnet", src: "127.0.0.1:5300", ecs: "203.0.113.0/24", rcode: dns.RcodeNameError, scope: 1},
		{name: "internal source, subnet withheld", src: "10.0.0.53:5300", ecs: "0.0.0.0/0", rcode: dns.RcodeSuccess, scope: 0},
		{name: "outside source claiming an internal subnet", src: "198.51.100.9:5300", ecs: "10.1.0.0/24", rcode: dns.RcodeNameError, scope: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := serveMsg(t, s, query{name: privateName, qtype: dns.TypeA, ecs: tc.ecs}.msg(), tc.src)
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if e := ecsOf(r); e == nil || e.SourceScope != tc.scope {
				t.Errorf("scope %v, want %d", e, tc.scope)
			}
			// A missing name in the private tree carries the same scope.
			m := serveMsg(t, s, query{name: missingPrivate, qtype: dns.TypeA, ecs: tc.ecs}.msg(), tc.src)
			if e := ecsOf(m); e == nil || e.SourceScope != tc.scope {
				t.Errorf("missing private name: scope %v, want %d", e, tc.scope)
			}
		})
	}
}

// rawExchange sends the packet q over UDP from local (a loopback address;
// "" for any) and returns the response as received, byte for byte.
func rawExchange(t testing.TB, s *Server, q []byte, local string) []byte {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}
