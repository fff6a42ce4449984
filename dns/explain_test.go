package dns

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	snap := mappedFixture()
	setHealth(snap, false, "use-edge-2")
	cfg := testConfig(t, newView(snap))
	cfg.Latency = &fakeLatency{
		rtt:  map[netip.Prefix]map[string]time.Duration{pfx("203.0.113.0/24"): {"euw-edge-1": 15 * ms, "use-edge-1": 100 * ms}},
		node: map[string]time.Duration{"dns-1>use-edge-1": 1 * ms, "dns-1>euw-edge-1": 70 * ms},
	}
	s := newServer(t, cfg)
	resolver := netip.MustParseAddr("127.0.0.1")

	t.Run("edge by measurements", func(t *testing.T) {
		x := s.Explain(edgeName, resolver, pfx("203.0.113.77/24"))
		if x.Rcode != "NOERROR" || x.Kind != "edge" || x.Source != "measured" || x.Subnet != "203.0.113.0/24" || x.Network != "203.0.113.0/24" {
			t.Errorf("rcode %s kind %s source %s subnet %s network %s", x.Rcode, x.Kind, x.Source, x.Subnet, x.Network)
		}
		if !slices.Equal(x.Answer, euEdges) || x.RunnerUp != "use-edge-1" || x.ExploreShare != DefaultExplore || x.Scope != 24 {
			t.Errorf("answer %v runner-up %q share %v scope %d", x.Answer, x.RunnerUp, x.ExploreShare, x.Scope)
		}
		if len(x.Candidates) != 3 {
			t.Fatalf("candidates %+v, want 2 ranked and 1 not eligible", x.Candidates)
		}
		first, second, out := x.Candidates[0], x.Candidates[1], x.Candidates[2]
		if first.Name != "euw-edge-1" || first.Rank != 1 || !first.Answered || first.LatencyMS != 15 || first.LatencySource != "measured" || !strings.Contains(first.Via, "203.0.113.0/24") {
			t.Errorf("first candidate %+v", first)
		}
		if second.Name != "use-edge-1" || second.Rank != 2 || second.Answered || second.LatencyMS != 100 {
			t.Errorf("second candidate %+v", second)
		}
		if out.Name != "use-edge-2" || out.Rank != 0 || out.Healthy || !strings.Contains(out.Note, "unhealthy") {
			t.Errorf("ineligible candidate %+v", out)
		}
		if !strings.Contains(x.Reason, "lowest latency by measured: euw-edge-1") {
			t.Errorf("reason %q", x.Reason)
		}
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"name", "type", "kind", "client", "rcode", "answer", "source", "candidates", "runner_up", "ecs_scope", "reason", "serial"} {
			if _, ok := back[k]; !ok {
				t.Errorf("JSON lacks %q: %s", k, b)
			}
		}
		t.Logf("%s", b)
	})

	t.Run("edge by node round trips", func(t *testing.T) {
		x := s.Explain(edgeName, netip.MustParseAddr("192.0.2.9"), netip.Prefix{})
		if x.Source != "node-rtt" || !slices.Equal(x.Answer, []string{"192.0.2.11"}) || x.Candidates[0].Via != "node round trip from dns-1" {
			t.Errorf("%+v", x)
		}
	})

	t.Run("custom domain by the map", func(t *testing.T) {
		x := s.Explain("API.example.com", netip.MustParseAddr(clientEU), netip.Prefix{})
		if x.Kind != "custom-domain" || x.Source != "map" || !slices.Equal(x.Answer, euRegion) {
			t.Errorf("%+v", x)
		}
		if c := x.Candidates[0]; c.Name != "eu-west-1" || c.Via != "latency map rule 127.0.2.0/24" || c.LatencyMS != 5 {
			t.Errorf("first candidate %+v", c)
		}
	})

	t.Run("private name for an outsider", func(t *testing.T) {
		x := s.Explain(privateName, netip.MustParseAddr("203.0.113.1"), netip.Prefix{})
		if x.Rcode != "NXDOMAIN" || x.Internal || !strings.Contains(x.Reason, "internal") {
			t.Errorf("%+v", x)
		}
	})

	t.Run("IPv6-only name explains AAAA", func(t *testing.T) {
		x := s.Explain("ns-dns-1."+testZone, resolver, netip.Prefix{})
		if x.Type != "A" || !slices.Equal(x.Answer, []string{"192.0.2.53"}) {
			t.Errorf("%+v", x)
		}
		v6 := newServer(t, testConfig(t, newView(manyEdges(2))))
		x = v6.Explain(edgeName, resolver, netip.Prefix{})
		if x.Type != "AAAA" || len(x.Answer) != 2 || x.Source != "none" {
			t.Errorf("%+v", x)
		}
	})

	t.Run("outside the zone", func(t *testing.T) {
		if x := s.Explain("example.net", resolver, netip.Prefix{}); x.Rcode != "REFUSED" {
			t.Errorf("%+v", x)
		}
	})

	t.Run("no snapshot", func(t *testing.T) {
		empty := newServer(t, testConfig(t, &fakeView{}))
		if x := empty.Explain(edgeName, resolver, netip.Prefix{}); x.Rcode != "SERVFAIL" {
			t.Errorf("%+v", x)
		}
	})
}
