package dns

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const ms = time.Millisecond

var (
	usEdges   = []string{"192.0.2.11", "192.0.2.12"}
	euEdges   = []string{"198.51.100.11"}
	allEdges  = []string{"192.0.2.11", "192.0.2.12", "198.51.100.11"}
	usRegion  = []string{"192.0.2.21", "192.0.2.22"}
	euRegion  = []string{"198.51.100.21"}
	edgeName  = apiEdge + ".edge." + testZone
	domain    = "api.example.com."
	pfx       = netip.MustParsePrefix
	clientUS  = "127.0.1.1" // loopback sources the latency map places
	clientEU  = "127.0.2.1"
	clientAny = "127.0.9.1"
)

// latencyMap sends 127.0.1.0/24 to us-east-1 and 127.0.2.0/24 to
// eu-west-1; 127.0.0.0/16 prefers us-east-1 a little.
func latencyMap() []LatencyRule {
	return []LatencyRule{
		{Client: pfx("127.0.1.0/24"), Region: "us-east-1", RTT: 10 * ms},
		{Client: pfx("127.0.1.0/24"), Region: "eu-west-1", RTT: 80 * ms},
		{Client: pfx("127.0.2.0/24"), Region: "eu-west-1", RTT: 5 * ms},
		{Client: pfx("127.0.2.0/24"), Region: "us-east-1", RTT: 90 * ms},
		{Client: pfx("127.0.0.0/16"), Region: "us-east-1", RTT: 30 * ms},
		{Client: pfx("127.0.0.0/16"), Region: "eu-west-1", RTT: 50 * ms},
	}
}

func mappedFixture() *Snapshot {
	s := fixture()
	s.LatencyMap = latencyMap()
	s.Domains["edge.example.net"] = Domain{Edge: true}
	return s
}

// TestLatencyMapRouting: two clients with different source addresses
// get different edges and different regions for a custom domain; the
// same over ECS from one address.
func TestLatencyMapRouting(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(mappedFixture())))
	cases := []struct {
		name, local, ecs string
		qname            string
		want             []string
	}{
		{name: "US client, edge", local: clientUS, qname: edgeName, want: usEdges},
		{name: "EU client, edge", local: clientEU, qname: edgeName, want: euEdges},
		{name: "US client, custom domain", local: clientUS, qname: domain, want: usRegion},
		{name: "EU client, custom domain", local: clientEU, qname: domain, want: euRegion},
		{name: "US subnet over ECS", ecs: "127.0.1.0/24", qname: edgeName, want: usEdges},
		{name: "EU subnet over ECS", ecs: "127.0.2.0/24", qname: domain, want: euRegion},
		{name: "shorter rule matches the rest of the /16", local: clientAny, qname: domain, want: usRegion},
		// An EDGE custom domain is answered like an API's edge name.
		{name: "US client, edge custom domain", local: clientUS, qname: "edge.example.net.", want: usEdges},
		{name: "EU client, edge custom domain", local: clientEU, qname: "Edge.Example.Net.", want: euEdges},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := exchange(t, s, query{name: tc.qname, qtype: dns.TypeA, ecs: tc.ecs}.msg(), "udp", tc.local)
			if got := answerAddrs(r); !slices.Equal(got, tc.want) {
				t.Errorf("answer %v, want %v", got, tc.want)
			}
		})
	}
}

// TestECSScope: the echoed option keeps FAMILY, SOURCE and ADDRESS, and
// SCOPE says how much of the address the answer depended on.
func TestECSScope(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(mappedFixture())))
	withLatency := testConfig(t, newView(mappedFixture()))
	withLatency.Latency = &fakeLatency{}
	sLat := startServer(t, withLatency)
	cases := []struct {
		name  string
		srv   *Server
		qname string
		ecs   string
		scope uint8
	}{
		{name: "node name: same for everyone", srv: s, qname: "use-edge-1.nodes." + testZone, ecs: "127.0.2.0/24", scope: 0},
		{name: "regional name: same for everyone", srv: s, qname: apiEdge + ".us-east-1." + testZone, ecs: "127.0.2.0/24", scope: 0},
		{name: "single-region domain: same for everyone", srv: s, qname: "solo.example.org.", ecs: "127.0.2.0/24", scope: 0},
		{name: "NXDOMAIN: same for everyone", srv: s, qname: "nope." + testZone, ecs: "127.0.2.0/24", scope: 0},
		{name: "edge by a /24 rule", srv: s, qname: edgeName, ecs: "127.0.2.0/24", scope: 24},
		// 127.0.9.0/24 matches the /16 rule; the /21 around it holds
		// neither /24 rule, so everyone in 127.0.8.0/21 gets this answer.
		{name: "edge by the /16 rule", srv: s, qname: edgeName, ecs: "127.0.9.0/24", scope: 21},
		{name: "edge, no rule near", srv: s, qname: edgeName, ecs: "198.51.100.0/24", scope: 1},
		{name: "measurements: the whole client network", srv: sLat, qname: edgeName, ecs: "198.51.100.0/24", scope: 24},
		{name: "measurements, shorter source", srv: sLat, qname: edgeName, ecs: "198.51.96.0/20", scope: 20},
		{name: "IPv6 client", srv: sLat, qname: edgeName, ecs: "2001:db8:1:2300::/56", scope: 56},
		{name: "IPv6 source longer than /56 is used as /56", srv: sLat, qname: edgeName, ecs: "2001:db8:1:2345::/64", scope: 56},
		{name: "source 0: nothing about the client", srv: sLat, qname: edgeName, ecs: "0.0.0.0/0", scope: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := exchange(t, tc.srv, query{name: tc.qname, qtype: dns.TypeA, ecs: tc.ecs}.msg(), "udp", "")
			e := ecsOf(r)
			if e == nil {
				t.Fatal("no client subnet option in the response")
			}
			want := pfx(tc.ecs)
			if e.SourceNetmask != uint8(want.Bits()) || !e.Address.Equal(want.Addr().AsSlice()) {
				t.Errorf("echo %s/%d, want %s as sent", e.Address, e.SourceNetmask, want)
			}
			if e.SourceScope != tc.scope {
				t.Errorf("scope %d, want %d", e.SourceScope, tc.scope)
			}
		})
	}
}

// TestMeasuredRouting: without a map rule, the measured round trips for
// the client network decide; the node-to-node proxy when none is known;
// the map over both.
func TestMeasuredRouting(t *testing.T) {
	t.Parallel()
	lat := &fakeLatency{
		rtt: map[netip.Prefix]map[string]time.Duration{
			pfx("203.0.113.0/24"): {"euw-edge-1": 15 * ms, "use-edge-1": 100 * ms, "use-edge-2": 104 * ms},
			pfx("198.18.0.0/24"):  {"euw-edge-1": 15 * ms, "use-edge-1": 20 * ms, "use-edge-2": 30 * ms},
			pfx("127.0.2.0/24"):   {"use-edge-1": 1 * ms},
		},
		node: map[string]time.Duration{"dns-1>use-edge-1": 1 * ms, "dns-1>use-edge-2": 8 * ms, "dns-1>euw-edge-1": 70 * ms},
	}
	cfg := testConfig(t, newView(mappedFixture()))
	cfg.Latency = lat
	s := newServer(t, cfg)
	cases := []struct {
		name, ecs string
		want      []string
	}{
		{name: "measured: the nearest edge only", ecs: "203.0.113.0/24", want: euEdges},
		{name: "measured: edges within tolerance", ecs: "198.18.0.0/24", want: []string{"192.0.2.11", "198.51.100.11"}},
		{name: "node round trips when the client is unknown", ecs: "192.0.2.0/24", want: usEdges},
		{name: "the map beats measurements", ecs: "127.0.2.0/24", want: euEdges},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := serveMsg(t, s, query{name: edgeName, qtype: dns.TypeA, ecs: tc.ecs}.msg(), "127.0.0.1:5300")
			if got := answerAddrs(r); !slices.Equal(got, tc.want) {
				t.Errorf("answer %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFailover: when the winning region's or edge's nodes turn
// unhealthy, answers move to the next best.
func TestFailover(t *testing.T) {
	t.Parallel()
	v := newView(mappedFixture())
	s := newServer(t, testConfig(t, v))
	ask := func(qname string) []string {
		return answerAddrs(serveMsg(t, s, query{name: qname, qtype: dns.TypeA}.msg(), clientEU+":5300"))
	}
	if got := ask(domain); !slices.Equal(got, euRegion) {
		t.Fatalf("before: %v, want %v", got, euRegion)
	}
	if got := ask(edgeName); !slices.Equal(got, euEdges) {
		t.Fatalf("before: %v, want %v", got, euEdges)
	}
	v.update(func(s *Snapshot) { setHealth(s, false, "euw-reg-1", "euw-edge-1") })
	if got := ask(domain); !slices.Equal(got, usRegion) {
		t.Errorf("domain after eu-west-1 failed: %v, want %v", got, usRegion)
	}
	if got := ask(edgeName); !slices.Equal(got, usEdges) {
		t.Errorf("edge after euw-edge-1 failed: %v, want %v", got, usEdges)
	}
	v.update(func(s *Snapshot) { setHealth(s, false, "use-reg-1") })
	if got := ask(apiEdge + ".us-east-1." + testZone); !slices.Equal(got, []string{"192.0.2.22"}) {
		t.Errorf("regional name with one node down: %v", got)
	}
	v.update(func(s *Snapshot) { setHealth(s, true, "euw-reg-1", "euw-edge-1") })
	if got := ask(domain); !slices.Equal(got, euRegion) {
		t.Errorf("after recovery: %v, want %v", got, euRegion)
	}
}

// TestFailOpen: when every candidate is unhealthy all of them are
// candidates again, as if healthy (Route 53's fail open): a regional
// name answers all its nodes, latency-routed names route among all. It
// is logged once a minute per name.
func TestFailOpen(t *testing.T) {
	t.Parallel()
	snap := mappedFixture()
	setHealth(snap, false, "use-edge-1", "use-edge-2", "euw-edge-1", "use-reg-1", "use-reg-2", "euw-reg-1")
	cfg := testConfig(t, newView(snap))
	log, buf := testLogger(t)
	clock := newClock()
	cfg.Logger, cfg.Now = log, clock.Now
	s := newServer(t, cfg)
	ask := func(qname string) []string {
		return answerAddrs(serveMsg(t, s, query{name: qname, qtype: dns.TypeA}.msg(), clientEU+":5300"))
	}
	if got := ask(edgeName); !slices.Equal(got, euEdges) {
		t.Errorf("edges: %v, want the nearest of all %v", got, euEdges)
	}
	unknown := serveMsg(t, s, query{name: edgeName, qtype: dns.TypeA}.msg(), "198.51.100.7:5300")
	if got := answerAddrs(unknown); !slices.Equal(got, allEdges) {
		t.Errorf("edges for a client nothing is known of: %v, want all %v", got, allEdges)
	}
	if got := ask(apiEdge + ".us-east-1." + testZone); !slices.Equal(got, usRegion) {
		t.Errorf("regional: %v, want all %v", got, usRegion)
	}
	if got := ask(domain); !slices.Equal(got, euRegion) {
		t.Errorf("domain: %v, want the best region by latency %v", got, euRegion)
	}
	lines := func() int { return strings.Count(buf.String(), "fail open") }
	if n := lines(); n != 3 {
		t.Errorf("%d fail-open log lines, want one per name (3)", n)
	}
	ask(edgeName)
	if n := lines(); n != 3 {
		t.Errorf("%d fail-open log lines after asking again, want still 3", n)
	}
	clock.advance(2 * time.Minute)
	ask(edgeName)
	if n := lines(); n != 4 {
		t.Errorf("%d fail-open log lines a minute later, want 4", n)
	}
}

// TestExplore: with the injected draw under the share, the runner-up is
// answered; otherwise the winner.
func TestExplore(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		explore float64
		draw    float64
		qname   string
		want    []string
	}{
		{name: "edge: draw under the share", draw: 0.01, qname: edgeName, want: euEdges},
		{name: "edge: draw at the share", draw: 0.05, qname: edgeName, want: usEdges},
		{name: "domain: draw under the share", draw: 0.049, qname: domain, want: euRegion},
		{name: "exploration off", explore: -1, draw: 0, qname: edgeName, want: usEdges},
		{name: "always explore", explore: 1, draw: 0.999, qname: domain, want: euRegion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, newView(mappedFixture()))
			cfg.Explore, cfg.Rand = tc.explore, func() float64 { return tc.draw }
			s := newServer(t, cfg)
			r := serveMsg(t, s, query{name: tc.qname, qtype: dns.TypeA}.msg(), clientUS+":5300")
			if got := answerAddrs(r); !slices.Equal(got, tc.want) {
				t.Errorf("answer %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFallbackOrder: with nothing known, an API's edges come in a stable
// order that does not depend on the client, and differs between APIs.
func TestFallbackOrder(t *testing.T) {
	t.Parallel()
	snap := manyEdges(20)
	other := "z9y8x7w6v5"
	snap.APIs[other] = APIInfo{HomeRegion: "us-east-1", Edge: true}
	cfg := testConfig(t, newView(snap))
	cfg.MaxAnswers = 4
	s := newServer(t, cfg)
	order := func(api, src string) []string {
		r := serveMsg(t, s, query{name: api + ".edge." + testZone, qtype: dns.TypeAAAA}.msg(), src)
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.AAAA).AAAA.String())
		}
		return out
	}
	a, b := order(apiEdge, "127.0.1.1:5300"), order(apiEdge, "198.51.100.7:5300")
	if len(a) != 4 || !slices.Equal(a, b) {
		t.Errorf("fallback answers differ by client or size: %v and %v", a, b)
	}
	if c := order(other, "127.0.1.1:5300"); slices.Equal(a, c) {
		t.Errorf("two APIs got the same edges in the same order: %v", a)
	}
}

func TestSplitBits(t *testing.T) {
	t.Parallel()
	ps := []netip.Prefix{pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), pfx("192.168.0.0/16")}
	cases := []struct {
		client  string
		longest bool
		want    int
	}{
		{"10.1.2.0/24", true, 16},
		{"10.2.3.0/24", true, 15},   // in /8 only; 10.2.0.0/15 keeps clear of 10.1/16
		{"10.128.0.0/24", true, 9},  // 10.128/9 holds no longer rule
		{"10.1.2.0/24", false, 8},   // internal: all of 10/8 is
		{"172.16.0.0/24", false, 2}, // external: 172/8... shares one bit with 192 and none with 10 → /2
		{"10.1.0.0/12", true, 8},    // /16 rule longer than the client: ignored
		{"2001:db8::/56", true, 0},  // no rule of the family
	}
	for _, tc := range cases {
		if got := splitBits(pfx(tc.client), ps, tc.longest); got != tc.want {
			t.Errorf("splitBits(%s, longest=%v) = %d, want %d", tc.client, tc.longest, got, tc.want)
		}
	}
}

// TestReadiness: among healthy nodes, those that already serve the API's
// current deployments (ConfigIndex ≥ ReadyIndex) are answered; while none
// does, the healthy ones are.
func TestReadiness(t *testing.T) {
	t.Parallel()
	v := newView(mappedFixture())
	s := newServer(t, testConfig(t, v))
	ask := func(qname string) []string {
		return answerAddrs(serveMsg(t, s, query{name: qname, qtype: dns.TypeA}.msg(), clientEU+":5300"))
	}
	regional := apiEdge + ".us-east-1." + testZone
	setIndex := func(s *Snapshot, ready uint64, idx map[string]uint64) {
		info := s.APIs[apiEdge]
		info.ReadyIndex = ready
		s.APIs[apiEdge] = info
		for i := range s.Nodes {
			s.Nodes[i].ConfigIndex = idx[s.Nodes[i].Name]
		}
	}
	v.update(func(s *Snapshot) {
		setIndex(s, 40, map[string]uint64{"use-reg-1": 40, "use-reg-2": 39, "euw-edge-1": 39, "use-edge-1": 41, "use-edge-2": 41})
	})
	if got := ask(regional); !slices.Equal(got, []string{"192.0.2.21"}) {
		t.Errorf("regional name with use-reg-2 lagging: %v, want only use-reg-1", got)
	}
	// The EU client's nearest edge lags: the US edges serve the new
	// deployment and win.
	if got := ask(edgeName); !slices.Equal(got, usEdges) {
		t.Errorf("edge name with euw-edge-1 lagging: %v, want %v", got, usEdges)
	}
	v.update(func(s *Snapshot) { setIndex(s, 50, map[string]uint64{"use-reg-1": 40, "use-reg-2": 39}) })
	if got := ask(regional); !slices.Equal(got, []string{"192.0.2.21", "192.0.2.22"}) {
		t.Errorf("regional name while no node serves index 50: %v, want every healthy node", got)
	}
}
