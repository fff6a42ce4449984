package node

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/configs"
)

// lookupFrom asks the DNS server at server for name's A records, from a
// chosen loopback source address (the "client network").
func lookupFrom(t *testing.T, server, from, name string) ([]string, int) {
	t.Helper()
	c := &mdns.Client{Net: "udp", Timeout: 3 * time.Second,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second}}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s from %s: %v", name, from, err)
	}
	return answerA(r), r.Rcode
}

// answerA are the addresses of the A records of r, sorted.
func answerA(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestDNSRoutesByLatencyFailsOverAndFailsOpen runs a control+regional+dns
// node and two edges on their own loopback addresses, with an operator
// latency map: clients of two networks get the edge nearest to them; when
// an edge stops answering gossip its clients move to the other; when both
// do, DNS fails open.
func TestDNSRoutesByLatencyFailsOverAndFailsOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	ctl, eu, ap, created := startDNSEdgeCluster(t, "127.0.3", []configs.LatencyRule{
		{Client: "127.0.4.0/24", Node: "edge-ap", Latency: configs.Duration(5 * time.Millisecond)},
		{Client: "127.0.4.0/24", Node: "edge-eu", Latency: configs.Duration(80 * time.Millisecond)},
		{Client: "127.0.5.0/24", Region: "eu-west-1", Latency: configs.Duration(5 * time.Millisecond)},
		{Client: "127.0.5.0/24", Region: "ap-south-1", Latency: configs.Duration(90 * time.Millisecond)},
	})
	server := ctl.node.Addrs().DNS
	edgeName := created.API.ID + ".edge.portico.test"

	want := func(from string, addrs ...string) {
		t.Helper()
		eventually(t, 15*time.Second, func() error {
			got, rcode := lookupFrom(t, server, from, edgeName)
			if rcode != mdns.RcodeSuccess || !slices.Equal(got, addrs) {
				return fmt.Errorf("%s from %s: rcode %d answers %v, want %v", edgeName, from, rcode, got, addrs)
			}
			return nil
		})
	}
	want("127.0.4.1", "127.0.3.3")
	want("127.0.5.1", "127.0.3.2")
	if got, _ := lookupFrom(t, server, "127.0.4.1", created.API.ID+".us-east-1.portico.test"); !slices.Equal(got, []string{"127.0.3.1"}) {
		t.Errorf("regional name: %v, want the us-east-1 node", got)
	}
	if _, rcode := lookupFrom(t, server, "127.0.4.1", "nope.edge.portico.test"); rcode != mdns.RcodeNameError {
		t.Errorf("unknown API: rcode %d, want NXDOMAIN", rcode)
	}
	// NODATA: the name exists, the nodes have no IPv6 address.
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(edgeName), mdns.TypeAAAA)
	if r, err := mdns.Exchange(q, server); err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
		t.Errorf("AAAA of an edge name without IPv6 nodes: %v (err %v), want NOERROR, no answer, the SOA in authority", r, err)
	}

	// A custom domain mapped to the API answers with its home region.
	ctl.mustDo("POST", "/v1/apis/"+created.API.ID+"/deployments", deployRequest{Stage: "prod"}, nil)
	ctl.mustDo("POST", "/v1/domains", map[string]any{"name": "shop.example.com"}, nil)
	ctl.mustDo("PUT", "/v1/domains/shop.example.com/mappings/(none)", map[string]string{"api_id": created.API.ID, "stage": "prod"}, nil)
	eventually(t, 10*time.Second, func() error {
		if got, rcode := lookupFrom(t, server, "127.0.4.1", "shop.example.com"); rcode != mdns.RcodeSuccess || !slices.Equal(got, []string{"127.0.3.1"}) {
			return fmt.Errorf("custom domain: rcode %d answers %v, want the us-east-1 node", rcode, got)
		}
		return nil
	})
	if _, rcode := lookupFrom(t, server, "127.0.4.1", "other.example.com"); rcode != mdns.RcodeRefused {
		t.Errorf("a name outside the zone and not a domain: rcode %d, want REFUSED", rcode)
	}

	// Explain, through the command line.
	code, out, errOut := ctl.run("dns", "explain", edgeName, "--client", "127.0.4.1")
	if code != 0 || !strings.Contains(out, "edge-ap") || !strings.Contains(out, "map") || !strings.Contains(out, "127.0.3.3") {
		t.Fatalf("dns explain: exit %d\n%s%s", code, out, errOut)
	}

	// edge-ap stops answering gossip (as a crashed node does): its
	// clients get edge-eu once the cluster declares it failed.
	if err := ap.node.Gossip().Shutdown(); err != nil {
		t.Fatal(err)
	}
	want("127.0.4.1", "127.0.3.2")
	// Both edges gone: rather than answer nothing, DNS fails open and
	// answers as if all were healthy (as Route 53 does), so the nearest
	// by the latency map again, although it is down.
	if err := eu.node.Gossip().Shutdown(); err != nil {
		t.Fatal(err)
	}
	want("127.0.4.1", "127.0.3.3")
}

// startDNSEdgeCluster runs a control+regional+dns node ("ctl-1",
// us-east-1, at {net}.1) and two edges ("edge-eu" at {net}.2, "edge-ap"
// at {net}.3), each on its own loopback address, with the given latency
// map and exploration off, and creates an API published EDGE and
// REGIONAL.
func startDNSEdgeCluster(t *testing.T, net string, latencyMap []configs.LatencyRule) (ctl, eu, ap *testNode, created applyResult) {
	t.Helper()
	c := newTestCluster(t)
	cfg := c.config("ctl-1", "us-east-1", []string{configs.RoleControl, configs.RoleRegional, configs.RoleDNS}, 1, nil, nil)
	cfg.Regional.Listen = net + ".1:0"
	cfg.DNS.Listen = net + ".1:0"
	cfg.DNS.Explore = -1
	cfg.DNS.LatencyMap = latencyMap
	ctl = startNodeCfg(t, cfg)
	join := []string{ctl.node.Addrs().Gossip}
	edgeCfg := func(name, region, ip string) configs.Node {
		e := c.config(name, region, []string{configs.RoleEdge}, 0, join, nil)
		e.Edge.Listen = ip + ":0"
		return e
	}
	eu = startNodeCfg(t, edgeCfg("edge-eu", "eu-west-1", net+".2"))
	ap = startNodeCfg(t, edgeCfg("edge-ap", "ap-south-1", net+".3"))
	def := `{"name": "shop", "endpoint_types": ["EDGE", "REGIONAL"], "resources": [{"path": "/a", "methods": {"GET": {"integration": {"type": "MOCK", "status_code": 200}}}}]}`
	ctl.mustDo("POST", "/v1/apis", json.RawMessage(def), &created)
	return ctl, eu, ap, created
}
