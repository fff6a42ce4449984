package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/node"
	"github.com/portico-gw/portico/simulations/harness"
)

// The cluster: two regions, each with one control+regional node and one
// edge node, as `portico dev --regions 2 --edges 1` lays it out; the first
// node also holds the dns role. With two edges an edge name is routed by
// latency for real (node round trips from gossip rank the candidates)
// rather than answered with the only edge there is.
const (
	zone  = "portico.localhost"
	stage = "bench"
	// raftTimeout is the tighter loopback Raft timing `portico dev` uses.
	raftTimeout = 500 * time.Millisecond
	// apisPerRegion is how many APIs have their home in each region.
	apisPerRegion = 4
)

var layout = harness.Layout{Regions: []string{"us-east-1", "eu-west-1"}, Edges: true, Zone: zone, RaftTimeout: raftTimeout}

// porticoCluster is the running cluster with the bench APIs created.
type porticoCluster struct {
	prefix string
	nodes  []string     // names, control nodes first
	admin  *node.Client // the dns node's admin API
	dns    string       // the dns node's DNS listener (UDP and TCP)
	edges  int          // edge nodes
	apis   []benchAPI
}

// startPortico lays the cluster out under dir on prefix, gives the first
// node the dns role on a free port of its address (dnsExtra, a JSON
// object, is merged into its dns section), starts every node (`portico
// run`, output to dir/logs/<name>.log) and waits until each admin API
// answers and a Raft leader is known.
func startPortico(ctx context.Context, procs *harness.Group, bin, dir, prefix string, dnsExtra map[string]any) (*porticoCluster, error) {
	cfgs, files, err := layout.Write(dir, prefix)
	if err != nil {
		return nil, err
	}
	dnsNode := &cfgs[0]
	host, _, err := net.SplitHostPort(dnsNode.Admin.Listen)
	if err != nil {
		return nil, err
	}
	if dnsNode.DNS.Listen, err = freeDNSAddr(host); err != nil {
		return nil, err
	}
	dnsNode.Roles = append(dnsNode.Roles, configs.RoleDNS)
	if err := writeNodeConfig(files[0], *dnsNode, dnsExtra); err != nil {
		return nil, err
	}
	c := &porticoCluster{prefix: prefix, admin: node.NewClient(dnsNode.Admin.Listen), dns: dnsNode.DNS.Listen}
	for _, cfg := range cfgs {
		c.nodes = append(c.nodes, cfg.Name)
		if cfg.HasRole(configs.RoleEdge) {
			c.edges++
		}
	}
	_, err = harness.StartNodes(ctx, procs, bin, dir, cfgs, files, func(rctx context.Context) error {
		var st cluster.Status
		if err := c.admin.Do(rctx, "GET", "/v1/status", nil, &st); err != nil {
			return err
		}
		if st.Leader == "" {
			return errors.New("no Raft leader yet")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// writeNodeConfig writes cfg as JSON to file, with extra's fields set in
// its dns section.
func writeNodeConfig(file string, cfg configs.Node, extra map[string]any) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	section, _ := m["dns"].(map[string]any)
	if section == nil {
		section = map[string]any{}
	}
	maps.Copy(section, extra)
	m["dns"] = section
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// freeDNSAddr finds a port free for both UDP and TCP on host and releases
// it for the dns node to bind. Another process could take it in between;
// on loopback in a bench run that has not been seen to happen.
func freeDNSAddr(host string) (string, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", fmt.Errorf("reserve a DNS port on %s: %w", host, err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err != nil {
			lastErr = err
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no port free for UDP and TCP on %s: %w", host, lastErr)
}

// createAPIs creates apisPerRegion APIs homed in each region, published
// on edges and regionally, each with one MOCK route, and deploys each to
// stage. Their ids name the queried names.
func (c *porticoCluster) createAPIs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, region := range layout.Regions {
		for i := range apisPerRegion {
			def := map[string]any{
				"name":           fmt.Sprintf("dnsbench-%s-%d", region, i+1),
				"description":    "DNS benchmark (simulations/cmd/dnsbench)",
				"endpoint_types": []configs.EndpointType{configs.EndpointEdge, configs.EndpointRegional},
				"home_region":    region,
				"resources": []any{map[string]any{"path": "/ping", "methods": map[string]any{"GET": map[string]any{
					"integration": map[string]any{"type": "MOCK", "status_code": 200, "body": "pong"}}}}},
			}
			var created struct {
				API struct {
					ID string `json:"id"`
				} `json:"api"`
			}
			if err := c.admin.Do(ctx, "POST", "/v1/apis", def, &created); err != nil {
				return fmt.Errorf("create API %s: %w", def["name"], err)
			}
			if created.API.ID == "" {
				return errors.New("POST /v1/apis: the answer has no api.id")
			}
			if err := c.admin.Do(ctx, "POST", "/v1/apis/"+created.API.ID+"/deployments",
				map[string]string{"stage": stage, "description": "dnsbench"}, nil); err != nil {
				return fmt.Errorf("deploy API %s: %w", created.API.ID, err)
			}
			c.apis = append(c.apis, benchAPI{ID: created.API.ID, Home: region})
		}
	}
	return nil
}

// awaitAnswers asks the dns node (over TCP, which response-rate limiting
// leaves alone) for the zone's SOA and NS and for every name until each
// answers as it should: a regional name with an address, an edge name with
// every edge (on loopback their round trips are all within the 10 ms
// tolerance of the best, so all are answered), a name of classNX with
// NXDOMAIN. It returns the answers, from which the zone file for CoreDNS
// is written.
func (c *porticoCluster) awaitAnswers(ctx context.Context, names map[class][]string) (zoneData, error) {
	var z zoneData
	err := harness.Retry(ctx, time.Minute, 200*time.Millisecond, func() error {
		var err error
		z, err = readZone(ctx, c.dns, zone, names, map[class]int{classRegional: 1, classEdge: c.edges})
		return err
	})
	if err != nil {
		return zoneData{}, fmt.Errorf("portico's DNS does not answer the bench names yet: %w", err)
	}
	return z, nil
}

// tcpClient asks a server over TCP: the answers are the same as over UDP,
// and are never rate-limited.
var tcpClient = &dns.Client{Net: "tcp", Timeout: 2 * time.Second}

// ask sends one question to addr over TCP.
func ask(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := tcpClient.ExchangeContext(ctx, m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)
	}
	return r, nil
}

// readZone asks the server at addr for the apex SOA and NS and for every
// name, and checks the answers: names of classNX must be NXDOMAIN, the
// others NOERROR with at least want[class] A records.
func readZone(ctx context.Context, addr, zone string, names map[class][]string, want map[class]int) (zoneData, error) {
	z := zoneData{Zone: dns.Fqdn(zone), Answers: map[string][]dns.RR{}}
	soa, err := ask(ctx, addr, zone, dns.TypeSOA)
	if err != nil {
		return z, err
	}
	for _, rr := range soa.Answer {
		if s, ok := rr.(*dns.SOA); ok {
			z.SOA = s
		}
	}
	if z.SOA == nil {
		return z, fmt.Errorf("%s SOA: no SOA in the answer (%s)", zone, dns.RcodeToString[soa.Rcode])
	}
	ns, err := ask(ctx, addr, zone, dns.TypeNS)
	if err != nil {
		return z, err
	}
	z.NS = ns.Answer
	for _, rr := range ns.Extra {
		if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
			z.Glue = append(z.Glue, rr)
		}
	}
	if len(z.NS) == 0 {
		return z, fmt.Errorf("%s NS: no NS in the answer (%s)", zone, dns.RcodeToString[ns.Rcode])
	}
	for _, cl := range classes {
		for _, name := range names[cl] {
			r, err := ask(ctx, addr, name, dns.TypeA)
			if err != nil {
				return z, err
			}
			if cl == classNX {
				if r.Rcode != dns.RcodeNameError {
					return z, fmt.Errorf("%s A: %s, want NXDOMAIN", name, dns.RcodeToString[r.Rcode])
				}
				continue
			}
			if r.Rcode != dns.RcodeSuccess || len(addrSet(r.Answer)) < want[cl] {
				return z, fmt.Errorf("%s A: %s with %d addresses, want NOERROR with %d", name, dns.RcodeToString[r.Rcode], len(addrSet(r.Answer)), want[cl])
			}
			z.Answers[name] = r.Answer
		}
	}
	return z, nil
}

// sameAnswers checks that the server at addr answers every name of z as
// z holds it (rcode and addresses), and that its apex SOA is z's: the
// zone served is equivalent.
func sameAnswers(ctx context.Context, addr string, z zoneData, names map[class][]string) error {
	soa, err := ask(ctx, addr, z.Zone, dns.TypeSOA)
	if err != nil {
		return err
	}
	if len(soa.Answer) != 1 || soa.Answer[0].String() != z.SOA.String() {
		return fmt.Errorf("%s SOA: %v, want %v", z.Zone, soa.Answer, z.SOA)
	}
	for _, cl := range classes {
		for _, name := range names[cl] {
			r, err := ask(ctx, addr, name, dns.TypeA)
			if err != nil {
				return err
			}
			wantRcode := dns.RcodeSuccess
			if cl == classNX {
				wantRcode = dns.RcodeNameError
			}
			got, want := addrSet(r.Answer), addrSet(z.Answers[name])
			if r.Rcode != wantRcode || fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s A: %s %v, want %s %v", name, dns.RcodeToString[r.Rcode], got, dns.RcodeToString[wantRcode], want)
			}
		}
	}
	return nil
}

// rrlProbe is how many UDP queries limitedOverUDP sends: more than the
// default burst of Portico's response-rate limiter (40).
const rrlProbe = 100

// limitedOverUDP sends rrlProbe queries for name to addr over UDP, one
// after another, and counts those not answered in full: dropped (no
// answer within 200 ms) or truncated with an empty answer (the limiter's
// "slip"). A server that limits responses per client network turns a
// loopback benchmark into a measurement of its limiter.
func limitedOverUDP(ctx context.Context, addr, name string) (limited int, err error) {
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	for range rrlProbe {
		if err := ctx.Err(); err != nil {
			return 0, context.Cause(ctx)
		}
		r, _, err := c.ExchangeContext(ctx, m, addr)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			limited++
		case err != nil:
			return 0, fmt.Errorf("%s A over UDP: %w", name, err)
		case r.Truncated && len(r.Answer) == 0:
			limited++
		}
	}
	return limited, nil
}
