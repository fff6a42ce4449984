package node

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/dns"
)

var rttT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// netN is the n-th of many distinct client addresses, each in its own /24.
func netN(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7}) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestRTTRecorderAggregates(t *testing.T) {
	t.Parallel()
	var r rttRecorder
	ms := time.Millisecond
	// 127.0.5.0/24: 20 connections, the last 16 count: 4×900ms outliers
	// first (pushed out of the window), then 15 around 10ms and one
	// outlier, so the median shrugs it off.
	for range 4 {
		r.record(netip.MustParseAddr("127.0.5.1"), 900*ms, rttT0)
	}
	for i := range 15 {
		r.record(netip.MustParseAddr("127.0.5."+fmt.Sprint(i+2)), time.Duration(9+i%3)*ms, rttT0)
	}
	r.record(netip.MustParseAddr("127.0.5.200"), 700*ms, rttT0)
	// An IPv6 /56 (mapped and zoned spellings count as the address).
	for _, d := range []time.Duration{30 * ms, 10 * ms, 20 * ms, 40 * ms} {
		r.record(netip.MustParseAddr("2001:db8:0:aa11::1"), d, rttT0)
	}
	// Too few connections to share; and samples that are no round trip.
	r.record(netip.MustParseAddr("192.0.2.1"), 5*ms, rttT0)
	r.record(netip.MustParseAddr("192.0.2.1"), 5*ms, rttT0)
	r.record(netip.MustParseAddr("198.51.100.1"), 0, rttT0)
	r.record(netip.MustParseAddr("198.51.100.1"), -ms, rttT0)
	r.record(netip.MustParseAddr("198.51.100.1"), time.Hour, rttT0)
	r.record(netip.Addr{}, 5*ms, rttT0)
	r.record(netip.MustParseAddr("::ffff:203.0.113.9"), 50*ms, rttT0)
	r.record(netip.MustParseAddr("203.0.113.10"), 60*ms, rttT0)
	r.record(netip.MustParseAddr("203.0.113.11"), 70*ms, rttT0)

	got := r.aggregates(rttT0.Add(time.Second))
	want := []rttEntry{
		{net: mustPrefix("127.0.5.0/24"), rtt: 10 * ms, samples: 20},
		{net: mustPrefix("2001:db8:0:aa00::/56"), rtt: 25 * ms, samples: 4},
		{net: mustPrefix("203.0.113.0/24"), rtt: 60 * ms, samples: 3},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("aggregates\n got %+v\nwant %+v", got, want)
	}
	if _, ok := r.nets[mustPrefix("198.51.100.0/24")]; ok {
		t.Error("samples that are no round trip were recorded")
	}
}

func TestRTTRecorderBoundedEvictsLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	var r rttRecorder
	for i := range rttMaxNetworks {
		for range rttMinSamples {
			r.record(netN(i), time.Duration(i+1)*time.Microsecond, rttT0)
		}
	}
	r.record(netN(0), time.Millisecond, rttT0.Add(time.Second)) // seen again: the most recent now
	for i := rttMaxNetworks; i < rttMaxNetworks+10; i++ {
		r.record(netN(i), time.Millisecond, rttT0.Add(2*time.Second))
	}
	if len(r.nets) != rttMaxNetworks {
		t.Fatalf("%d networks kept, want the bound %d", len(r.nets), rttMaxNetworks)
	}
	has := func(i int) bool { p, _ := clientNetwork(netN(i)); return r.nets[p] != nil }
	if !has(0) {
		t.Error("the network seen again was evicted")
	}
	for i := 1; i <= 10; i++ {
		if has(i) {
			t.Errorf("network %d, among the least recently seen, was kept", i)
		}
	}
	if !has(11) || !has(rttMaxNetworks+9) {
		t.Error("a recent network was evicted")
	}
	// The recency list and the map agree.
	n := 0
	for e := r.head; e != nil; e = e.older {
		if r.nets[e.key] != e {
			t.Fatalf("list entry %v not in the map", e.key)
		}
		n++
	}
	if n != len(r.nets) {
		t.Fatalf("list holds %d, map %d", n, len(r.nets))
	}
	// One round shares at most rttMaxShare, the most sampled first.
	agg := r.aggregates(rttT0.Add(3 * time.Second))
	if len(agg) != rttMaxShare || agg[0].net != mustPrefix("10.0.0.0/24") || agg[0].samples != rttMinSamples+1 {
		t.Fatalf("shared %d networks, first %+v; want %d, 10.0.0.0/24 with %d samples", len(agg), agg[0], rttMaxShare, rttMinSamples+1)
	}
	// Networks not seen for rttMaxAge are forgotten.
	r.record(netN(5000), time.Millisecond, rttT0.Add(rttMaxAge))
	if agg := r.aggregates(rttT0.Add(rttMaxAge + 3*time.Second)); len(agg) != 0 || len(r.nets) != 1 {
		t.Fatalf("after rttMaxAge: %d shared, %d kept; want 0 and 1", len(agg), len(r.nets))
	}
}

func TestRTTEncodingRoundTripAndChunks(t *testing.T) {
	t.Parallel()
	var entries []rttEntry
	for i := range rttMaxShare {
		e := rttEntry{net: mustPrefix(fmt.Sprintf("2001:db8:%x:%x00::/56", i, i%256)), rtt: rttMaxSample, samples: math.MaxUint32}
		if i%3 == 0 {
			e = rttEntry{net: netip.PrefixFrom(netN(i), 24).Masked(), rtt: time.Duration(i+1) * time.Millisecond, samples: uint32(i + 3)}
		}
		entries = append(entries, e)
	}
	name := strings.Repeat("n", 63) // the longest node name (a DNS label)
	events, err := encodeRTT(name, entries, rttPayloadMax)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 2 {
		t.Fatalf("%d events for %d networks: not chunked", len(events), len(entries))
	}
	var back []rttEntry
	for i, p := range events {
		if len(p) > rttPayloadMax || len(rttEvent)+len(p) > cluster.MaxEventSize {
			t.Errorf("event %d: %d bytes", i, len(p))
		}
		from, es, err := decodeRTT(p)
		if err != nil || from != name {
			t.Fatalf("event %d: from %q err %v", i, from, err)
		}
		back = append(back, es...)
	}
	if !slices.Equal(back, entries) {
		t.Fatal("entries changed on the way through the encoding")
	}
	if _, err := encodeRTT("", entries, rttPayloadMax); err == nil {
		t.Error("encoded without a node name")
	}
	if _, err := encodeRTT(name, entries, 40); err == nil {
		t.Error("encoded into payloads too small for one entry")
	}
}

func TestRTTDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	good, _ := encodeRTT("edge-1", []rttEntry{{net: mustPrefix("127.0.5.0/24"), rtt: 5 * time.Millisecond, samples: 3}}, rttPayloadMax)
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"version 2", append([]byte{2}, good[0][1:]...)},
		{"no node name", []byte{1, 0}},
		{"short node name", []byte{1, 9, 'a'}},
		{"unknown family", append(slices.Clone(good[0][:8]), 5, 1, 2, 3, 1, 1)},
		{"short address", append(slices.Clone(good[0][:8]), 6, 1, 2, 3)},
		{"no round trip", append(slices.Clone(good[0][:8]), 4, 1, 2, 3)},
		{"zero round trip", append(slices.Clone(good[0][:8]), 4, 1, 2, 3, 0, 1)},
		{"round trip over a minute", append(slices.Clone(good[0][:8]), 4, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0x0f, 1)},
		{"zero samples", append(slices.Clone(good[0][:8]), 4, 1, 2, 3, 1, 0)},
		{"truncated varint", append(slices.Clone(good[0][:8]), 4, 1, 2, 3, 0x80)},
		{"trailing byte", append(slices.Clone(good[0]), 4)},
	} {
		if from, es, err := decodeRTT(tc.payload); err == nil {
			t.Errorf("%s: decoded from %q entries %+v", tc.name, from, es)
		}
	}
	if _, _, err := decodeRTT(good[0]); err != nil {
		t.Fatalf("good payload: %v", err)
	}
}

// FuzzDecodeRTT: gossip payloads come from other nodes; decoding never
// panics, and what decodes encodes back to the same entries.
func FuzzDecodeRTT(f *testing.F) {
	one, _ := encodeRTT("edge-1", []rttEntry{{net: mustPrefix("127.0.5.0/24"), rtt: 5 * time.Millisecond, samples: 3}}, rttPayloadMax)
	f.Add(one[0]) // one IPv4 network
	six, _ := encodeRTT("e", []rttEntry{{net: mustPrefix("2001:db8::/56"), rtt: time.Microsecond, samples: 1}}, rttPayloadMax)
	f.Add(six[0])            // one IPv6 network, smallest values
	f.Add([]byte{1, 1, 'x'}) // a node name and no entries
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		from, es, err := decodeRTT(p)
		if err != nil || len(es) == 0 {
			return
		}
		again, err := encodeRTT(from, es, 1<<20)
		if err != nil {
			t.Fatalf("decoded %q %+v but cannot encode it: %v", from, es, err)
		}
		from2, es2, err := decodeRTT(again[0])
		if err != nil || from2 != from || !slices.Equal(es, es2) {
			t.Fatalf("round trip changed %q %+v into %q %+v (%v)", from, es, from2, es2, err)
		}
	})
}

// TestRTTEventsFitGossip broadcasts a full round of the largest entries
// through real serf: every event is accepted (its envelope included)
// and arrives whole.
func TestRTTEventsFitGossip(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 64)
	g, err := cluster.StartGossip(cluster.GossipConfig{
		NodeName: "edge-1", Bind: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(name string, payload []byte) {
			if name == rttEvent {
				got <- payload
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown()
	n := &Node{cfg: configs.Node{Name: strings.Repeat("e", 63)}, log: slog.New(slog.DiscardHandler)}
	for i := range rttMaxShare + 10 {
		for range rttMinSamples {
			n.observeRTT(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 0xff, 1, 15: 1}), rttMaxSample)
		}
	}
	sent := n.shareRTT(g, time.Now())
	if sent < 2 {
		t.Fatalf("%d events sent", sent)
	}
	total := 0
	for range sent {
		select {
		case p := <-got:
			_, es, err := decodeRTT(p)
			if err != nil {
				t.Fatal(err)
			}
			total += len(es)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d events arrived", total, sent)
		}
	}
	if total != rttMaxShare {
		t.Fatalf("%d networks arrived, want %d", total, rttMaxShare)
	}
}

// fakeBroadcaster records events.
type fakeBroadcaster struct{ events [][]byte }

func (b *fakeBroadcaster) Broadcast(name string, payload []byte) error {
	if name != rttEvent {
		return fmt.Errorf("event %q", name)
	}
	b.events = append(b.events, payload)
	return nil
}

func TestRTTTable(t *testing.T) {
	t.Parallel()
	var tab rttTable
	net5 := mustPrefix("127.0.5.0/24")
	if _, ok := tab.lookup(net5, "edge-1", rttT0); ok {
		t.Fatal("an empty table knows something")
	}
	if _, ok := (*rttTable)(nil).lookup(net5, "edge-1", rttT0); ok {
		t.Fatal("a nil table knows something")
	}
	// Through the node's own paths: record, share, receive.
	sender := &Node{cfg: configs.Node{Name: "edge-1"}, log: slog.New(slog.DiscardHandler)}
	for range rttMinSamples {
		sender.observeRTT(netip.MustParseAddr("127.0.5.7"), 5*time.Millisecond)
	}
	var b fakeBroadcaster
	if sent := sender.shareRTT(&b, time.Now()); sent != 1 {
		t.Fatalf("%d events", sent)
	}
	receiver := &Node{cfg: configs.Node{Name: "dns-1", Roles: []string{configs.RoleDNS}}, log: slog.New(slog.DiscardHandler)}
	receiver.receiveRTT(b.events[0])
	receiver.receiveRTT([]byte("junk")) // ignored
	now := time.Now()
	if _, ok := receiver.rtt.table.lookup(net5, "edge-1", now); ok {
		t.Fatal("visible before publish")
	}
	receiver.rtt.table.publish()
	if rtt, ok := (gossipLatency{rtt: &receiver.rtt.table}).RTT(net5, "edge-1"); !ok || rtt != 5*time.Millisecond {
		t.Fatalf("RTT %v %v, want 5ms", rtt, ok)
	}
	for _, miss := range []struct {
		net  netip.Prefix
		node string
	}{{net5, "edge-2"}, {mustPrefix("127.0.6.0/24"), "edge-1"}, {mustPrefix("127.0.0.0/16"), "edge-1"}} {
		if _, ok := receiver.rtt.table.lookup(miss.net, miss.node, now); ok {
			t.Errorf("%v from %s: known", miss.net, miss.node)
		}
	}
	// A node without the dns role keeps nothing.
	edge := &Node{cfg: configs.Node{Name: "edge-2", Roles: []string{configs.RoleEdge}}, log: slog.New(slog.DiscardHandler)}
	edge.receiveRTT(b.events[0])
	if edge.rtt.table.nodes != nil {
		t.Error("an edge keeps the table")
	}

	// TTL: stale entries count as unknown, then are freed.
	tab.apply("edge-1", []rttEntry{{net: net5, rtt: 7 * time.Millisecond, samples: 3}}, rttT0)
	tab.apply("edge-2", []rttEntry{{net: net5, rtt: 9 * time.Millisecond, samples: 3}}, rttT0.Add(time.Minute))
	tab.publish()
	if rtt, ok := tab.lookup(net5, "edge-1", rttT0.Add(rttTTL)); !ok || rtt != 7*time.Millisecond {
		t.Fatalf("within the TTL: %v %v", rtt, ok)
	}
	if _, ok := tab.lookup(net5, "edge-1", rttT0.Add(rttTTL+time.Second)); ok {
		t.Fatal("known after the TTL")
	}
	kept := tab.snap.Load().nodes["edge-2"]
	tab.expire(rttT0.Add(rttTTL + time.Second))
	tab.publish()
	if tab.nodes["edge-1"] != nil || len(tab.snap.Load().nodes) != 1 {
		t.Fatalf("expired entries kept: %v", tab.snap.Load().nodes)
	}
	if fresh := tab.snap.Load().nodes["edge-2"]; fmt.Sprintf("%p", fresh) != fmt.Sprintf("%p", kept) {
		t.Error("an unchanged node's map was copied on publish")
	}
	// Nodes that left or are gone are forgotten.
	tab.apply("edge-3", []rttEntry{{net: net5, rtt: time.Millisecond, samples: 3}}, rttT0.Add(time.Minute))
	tab.forget([]cluster.Member{{Name: "edge-2", Status: cluster.MemberLeft}, {Name: "edge-3", Status: cluster.MemberFailed}})
	tab.publish()
	if _, ok := tab.lookup(net5, "edge-2", rttT0.Add(time.Minute)); ok {
		t.Error("a node that left is still known")
	}
	if _, ok := tab.lookup(net5, "edge-3", rttT0.Add(time.Minute)); !ok {
		t.Error("a failed node was forgotten (it may come back; the TTL drops it otherwise)")
	}
	// Bounded per node.
	var many []rttEntry
	for i := range rttMaxNetworks + 100 {
		many = append(many, rttEntry{net: netip.PrefixFrom(netN(i), 24).Masked(), rtt: time.Millisecond, samples: 3})
	}
	tab.apply("edge-4", many, rttT0)
	if len(tab.nodes["edge-4"]) != rttMaxNetworks {
		t.Errorf("%d networks kept for one node, want %d", len(tab.nodes["edge-4"]), rttMaxNetworks)
	}
}

// TestRTTForgetOnShareTick is the case runRTT calls forget for on every
// share tick: an event checked against the membership while its sender
// was still a member lands after the membership change was handled, so
// no further change comes to drop it. The next forget (the share tick's)
// drops it, whether the sender left or is gone from the membership.
func TestRTTForgetOnShareTick(t *testing.T) {
	t.Parallel()
	net5 := mustPrefix("127.0.5.0/24")
	at := rttT0.Add(time.Minute)
	alive := func(names ...string) []cluster.Member {
		var ms []cluster.Member
		for _, name := range names {
			ms = append(ms, cluster.Member{Name: name, Status: cluster.MemberAlive})
		}
		return ms
	}
	var tab rttTable
	// The membership change (edge-2 leaves, edge-3 is gone) is handled
	// while the table does not hold their aggregates yet.
	tab.forget(append(alive("edge-1"), cluster.Member{Name: "edge-2", Status: cluster.MemberLeft}))
	// Then their late events land.
	for i, node := range []string{"edge-1", "edge-2", "edge-3"} {
		tab.apply(node, []rttEntry{{net: net5, rtt: time.Duration(i+1) * time.Millisecond, samples: 3}}, at)
	}
	tab.publish()
	for _, node := range []string{"edge-2", "edge-3"} {
		if _, ok := tab.lookup(net5, node, at); !ok {
			t.Fatalf("%s: not recorded, so the case is not the one under test", node)
		}
	}
	// The share tick: the same membership, no change since.
	tab.forget(append(alive("edge-1"), cluster.Member{Name: "edge-2", Status: cluster.MemberLeft}))
	tab.publish()
	if _, ok := tab.lookup(net5, "edge-2", at); ok {
		t.Error("a node that left is still known after the share tick's forget")
	}
	if _, ok := tab.lookup(net5, "edge-3", at); ok {
		t.Error("a node gone from the membership is still known after the share tick's forget")
	}
	if tab.nodes["edge-2"] != nil || tab.nodes["edge-3"] != nil {
		t.Errorf("aggregates of departed nodes kept: %v", tab.nodes)
	}
	if rtt, ok := tab.lookup(net5, "edge-1", at); !ok || rtt != time.Millisecond {
		t.Errorf("edge-1 (still a member): RTT %v %v, want 1ms", rtt, ok)
	}
}

// lookupECS asks for name's A records from 127.0.0.1 with a client
// subnet, and returns the answers and the ECS scope.
func lookupECS(t *testing.T, server, name string, subnet netip.Prefix) ([]string, int) {
	t.Helper()
	c := &mdns.Client{Net: "udp", Timeout: 3 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1,
		SourceNetmask: uint8(subnet.Bits()), Address: net.IP(subnet.Addr().AsSlice())})
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s with subnet %v: %v", name, subnet, err)
	}
	out := answerA(r)
	scope := -1
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if s, ok := opt.(*mdns.EDNS0_SUBNET); ok {
				scope = int(s.SourceScope)
			}
		}
	}
	return out, scope
}

// TestMeasuredRTTRoutesDNS runs a control+regional+dns node and two edges
// on their own loopback addresses, without a latency map. Observations
// enter each edge where its endpoints' TCP_INFO hook hands them
// (observeRTT), gossip carries the aggregates to the dns node, and the
// edge name follows them for clients of 127.0.5.0/24 (by source address
// and by client subnet), both ways; other networks are not affected, and
// explain names the measured source. When an edge leaves, its
// measurements go with it.
func TestMeasuredRTTRoutesDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	ctl, eu, ap, created := startDNSEdgeCluster(t, "127.0.6", nil)
	server := ctl.node.Addrs().DNS
	const euAddr, apAddr = "127.0.6.2", "127.0.6.3"
	edgeName := created.API.ID + ".edge.portico.test"
	clientNet := mustPrefix("127.0.5.0/24")
	scope := 24 // measurements are per client network

	want := func(from string, addrs ...string) {
		t.Helper()
		eventually(t, 15*time.Second, func() error {
			got, rcode := lookupFrom(t, server, from, edgeName)
			if rcode != mdns.RcodeSuccess || !slices.Equal(got, addrs) {
				return fmt.Errorf("%s from %s: rcode %d answers %v, want %v", edgeName, from, rcode, got, addrs)
			}
			if from != "127.0.5.7" {
				return nil
			}
			got, gotScope := lookupECS(t, server, edgeName, clientNet)
			if !slices.Equal(got, addrs) || gotScope != scope {
				return fmt.Errorf("%s with subnet %v: answers %v scope %d, want %v scope %d", edgeName, clientNet, got, gotScope, addrs, scope)
			}
			return nil
		})
	}
	explain := func() dns.Explanation {
		t.Helper()
		var ex dns.Explanation
		ctl.mustDo("GET", "/v1/dns/explain?name="+url.QueryEscape(edgeName)+"&client=127.0.5.7", nil, &ex)
		return ex
	}
	// measure feeds the edges' recorders the way their endpoints do,
	// then shares at once instead of at the next rttShareInterval tick.
	measure := func(euRTT, apRTT time.Duration) {
		for range rttWindow {
			eu.node.observeRTT(netip.MustParseAddr("127.0.5.7"), euRTT)
			ap.node.observeRTT(netip.MustParseAddr("127.0.5.9"), apRTT)
		}
		for _, n := range []*testNode{eu, ap} {
			if sent := n.node.shareRTT(n.node.Gossip(), time.Now()); sent != 1 {
				t.Fatalf("%s shared %d events", n.node.Name(), sent)
			}
		}
	}

	// Nothing measured: both edges (node round trips from the dns node
	// are all alike on loopback, or unknown: the fallback order).
	want("127.0.5.7", euAddr, apAddr)
	if ex := explain(); ex.Source == "measured" {
		t.Fatalf("measured before any measurement: %+v", ex)
	}

	measure(5*time.Millisecond, 80*time.Millisecond)
	want("127.0.5.7", euAddr)
	want("127.0.7.1", euAddr, apAddr) // another network: nothing measured
	ex := explain()
	if ex.Source != "measured" || len(ex.Candidates) != 2 || ex.Candidates[0].Name != "edge-eu" ||
		ex.Candidates[0].LatencyMS != 5 || ex.Candidates[0].Via != "measured for client network 127.0.5.0/24" ||
		ex.Candidates[1].Name != "edge-ap" || ex.Candidates[1].LatencyMS != 80 {
		t.Fatalf("explain: %+v", ex)
	}

	measure(80*time.Millisecond, 5*time.Millisecond)
	want("127.0.5.7", apAddr)
	code, out, errOut := ctl.run("dns", "explain", edgeName, "--client", "127.0.5.7")
	if code != 0 || !strings.Contains(out, "lowest latency by measured: edge-ap") || !strings.Contains(out, "measured") {
		t.Fatalf("dns explain: exit %d\n%s%s", code, out, errOut)
	}

	// edge-ap leaves: the dns node forgets what it measured.
	ap.stop()
	eventually(t, 15*time.Second, func() error {
		if _, ok := ctl.node.rtt.table.lookup(clientNet, "edge-ap", time.Now()); ok {
			return fmt.Errorf("edge-ap's round trips are still known")
		}
		return nil
	})
	if _, ok := ctl.node.rtt.table.lookup(clientNet, "edge-eu", time.Now()); !ok {
		t.Fatal("edge-eu's round trips were forgotten too")
	}
	scope = 0 // one edge left: the same answer for everyone
	want("127.0.5.7", euAddr)
}
