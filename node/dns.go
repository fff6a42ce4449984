package node

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/dns"
)

// dnsView is the dns server's picture of the cluster: rebuilt from gossip
// (members, roles, addresses, health) and the served state (APIs) whenever
// either changes, and swapped atomically.
type dnsView struct{ snap atomic.Pointer[dns.Snapshot] }

func (v *dnsView) Snapshot() *dns.Snapshot { return v.snap.Load() }

// follow rebuilds the view until ctx is done. It takes the Changed
// channels before reading, so no change is missed.
func (v *dnsView) follow(ctx context.Context, cfg configs.Node, g *cluster.Gossip, served *cluster.Served) {
	var serial uint32
	for {
		gch, sch := g.Changed(), served.Changed()
		snap := buildSnapshot(cfg, g.Members(), served.State())
		serial = max(serial+1, uint32(time.Now().Unix()))
		snap.Serial = serial
		v.snap.Store(snap)
		select {
		case <-ctx.Done():
			return
		case <-gch:
		case <-sch:
		}
	}
}

// buildSnapshot turns members and the committed state into what DNS
// answers from. A node is healthy when gossip sees it alive and it
// announces "ok"; its public addresses are its public_addresses, else the
// hosts of its edge, regional and dns listeners; its private addresses
// are the hosts of its private listeners.
func buildSnapshot(cfg configs.Node, members []cluster.Member, st *configs.State) *dns.Snapshot {
	rules := make([]dns.LatencyRule, 0, len(cfg.DNS.LatencyMap))
	for _, r := range cfg.DNS.LatencyMap {
		p, err := netip.ParsePrefix(r.Client)
		if err != nil {
			continue // validated at start
		}
		rules = append(rules, dns.LatencyRule{Client: p.Masked(), Region: r.Region, Node: r.Node, RTT: r.Latency.D()})
	}
	s := &dns.Snapshot{
		Zone: cfg.Zone, TTL: uint32(cfg.DNS.DNSTTL() / time.Second),
		APIs: map[string]dns.APIInfo{}, Domains: map[string]dns.Domain{},
		Internal: cfg.InternalPrefixes(), LatencyMap: rules,
	}
	for _, m := range members {
		if m.MetaErr != nil || m.Status == cluster.MemberLeft {
			continue
		}
		n := dns.Node{Name: m.Name, Region: m.Meta.Region, Roles: m.Meta.Roles, ConfigIndex: m.Meta.ConfigIndex,
			Healthy: m.Status == cluster.MemberAlive && m.Meta.Health == cluster.HealthOK}
		for _, p := range m.Meta.Public {
			n.Public = appendAddr(n.Public, p)
		}
		for key, addr := range m.Meta.Addrs {
			host, _, err := net.SplitHostPort(addr)
			switch {
			case err != nil:
			case strings.HasPrefix(key, privateAddrKey):
				n.Private = appendAddr(n.Private, host)
			case len(m.Meta.Public) == 0 && (key == "edge" || key == "regional" || key == "dns"):
				n.Public = appendAddr(n.Public, host)
			}
		}
		slices.SortFunc(n.Public, netip.Addr.Compare)
		slices.SortFunc(n.Private, netip.Addr.Compare)
		s.Nodes = append(s.Nodes, n)
	}
	if st != nil {
		// Regional custom domains resolve to the lowest-latency healthy
		// region they are served in, edge ones to the nearest edges.
		for _, d := range st.DomainList() {
			if d.EndpointType == configs.EndpointEdge {
				s.Domains[d.Name] = dns.Domain{Edge: true}
			} else if regions := st.DomainRegions(d); len(regions) > 0 {
				s.Domains[d.Name] = dns.Domain{Regions: regions}
			}
		}
		for id, a := range st.APIs {
			if a == nil {
				continue
			}
			s.APIs[id] = dns.APIInfo{HomeRegion: a.HomeRegion,
				Edge:       a.HasEndpointType(configs.EndpointEdge),
				Regional:   a.HasEndpointType(configs.EndpointRegional),
				Private:    a.HasEndpointType(configs.EndpointPrivate),
				ReadyIndex: st.ReadyIndex(id)}
		}
	}
	return s
}

// gossipLatency gives the dns server the round trips of client
// connections that regional and edge nodes measured and shared through
// gossip (RTT, from the table of rtt.go: fresh within rttTTL, keyed by
// /24 and /56), and node-to-node round trips from gossip coordinates
// (NodeRTT).
type gossipLatency struct {
	g   *cluster.Gossip
	rtt *rttTable
}

func (l gossipLatency) RTT(client netip.Prefix, node string) (time.Duration, bool) {
	return l.rtt.lookup(client, node, time.Now())
}

func (l gossipLatency) NodeRTT(from, to string) (time.Duration, bool) {
	if from == to {
		return 0, true
	}
	return l.g.RTTBetween(from, to)
}

// explainDNS answers GET /v1/dns/explain?name=N&client=IP[&subnet=CIDR].
func (ad *Admin) explainDNS(r *http.Request) (int, any, error) {
	if ad.explain == nil {
		return 0, nil, errorf(http.StatusConflict, "this node does not serve DNS (it lacks the dns role); ask a dns node")
	}
	q := r.URL.Query()
	name := strings.TrimSpace(q.Get("name"))
	if name == "" {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "name is required",
			fields: []configs.FieldError{{Field: "name", Message: "is required"}}}
	}
	client, err := netip.ParseAddr(q.Get("client"))
	if err != nil {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "client must be an IP address",
			fields: []configs.FieldError{{Field: "client", Message: "must be an IP address"}}}
	}
	var subnet netip.Prefix
	if v := q.Get("subnet"); v != "" {
		if subnet, err = netip.ParsePrefix(v); err != nil {
			return 0, nil, &adminError{status: http.StatusBadRequest, msg: "subnet must be a CIDR",
				fields: []configs.FieldError{{Field: "subnet", Message: "must be a CIDR such as 198.51.100.0/24"}}}
		}
	}
	return http.StatusOK, ad.explain(name, client, subnet), nil
}

// dnsCmd is `portico dns explain`.
func (c *cli) dnsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dns", Short: "Look into the built-in DNS server's answers"}
	var client, subnet string
	explain := &cobra.Command{
		Use:   "explain NAME --client IP [--subnet CIDR]",
		Short: "Show the candidates for a name, their latencies and health, and why the answer was chosen",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if client == "" {
				return fmt.Errorf("--client is required (the resolver's or client's IP address)")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			q := "name=" + url.QueryEscape(args[0]) + "&client=" + url.QueryEscape(client)
			if subnet != "" {
				q += "&subnet=" + url.QueryEscape(subnet)
			}
			var ex dns.Explanation
			if err := cl.Do(cmd.Context(), "GET", "/v1/dns/explain?"+q, nil, &ex); err != nil {
				return err
			}
			return c.print(ex, func(w io.Writer) { printExplanation(w, ex) })
		},
	}
	explain.Flags().StringVar(&client, "client", "", "address of the client or its resolver")
	explain.Flags().StringVar(&subnet, "subnet", "", "EDNS client subnet the resolver sends, e.g. 198.51.100.0/24")
	cmd.AddCommand(explain)
	return cmd
}

func printExplanation(w io.Writer, ex dns.Explanation) {
	fmt.Fprintf(w, "name:      %s (%s)\nclient:    %s", ex.Name, cmp.Or(ex.Kind, "does not exist"), ex.Client)
	if ex.Subnet != "" {
		fmt.Fprintf(w, " subnet %s", ex.Subnet)
	}
	fmt.Fprintf(w, " internal=%v\nanswer:    %s %s\nreason:    %s\n", ex.Internal, ex.Rcode, strings.Join(ex.Answer, " "), ex.Reason)
	if len(ex.Candidates) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNODE\tREGION\tHEALTHY\tLATENCY\tSOURCE\tANSWERED\tADDRESSES")
	for _, c := range ex.Candidates {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%.1fms\t%s\t%v\t%s\n", c.Rank, c.Name, c.Region, c.Healthy, c.LatencyMS, c.LatencySource, c.Answered, strings.Join(c.Addresses, ","))
	}
	tw.Flush()
}

// appendAddr adds host to addrs when it is a specific address not yet
// there (a wildcard is nothing a client can reach).
func appendAddr(addrs []netip.Addr, host string) []netip.Addr {
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() || slices.Contains(addrs, a.Unmap()) {
		return addrs
	}
	return append(addrs, a.Unmap())
}
