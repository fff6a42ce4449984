package configs

import (
	"fmt"
	"net/netip"
	"time"
)

// DNS limits.
const (
	DefaultDNSTTL = 60 * time.Second
	MaxDNSTTL     = 24 * time.Hour
)

// DNSConfig is the authoritative DNS server of a node with role dns.
type DNSConfig struct {
	// Listen is the address served on UDP and TCP; default
	// 127.0.0.1:8053. Bind a specific address, not a wildcard.
	Listen string `json:"listen"`
	// TTL of answers (and of negative answers); default 60s.
	TTL Duration `json:"ttl,omitempty"`
	// LatencyMap is the operator's latency picture for known networks:
	// the rule with the longest client prefix that names a node, or that
	// node's region, gives the latency. It beats measurements.
	LatencyMap []LatencyRule `json:"latency_map,omitempty"`
	// Explore is the share of latency-routed answers given to the
	// runner-up so that its measurements stay fresh; default 0.05, -1 for
	// never.
	Explore float64 `json:"explore,omitempty"`
}

// LatencyRule says how far clients of a network are from a region or a
// node.
type LatencyRule struct {
	Client  string   `json:"client"` // CIDR
	Region  string   `json:"region,omitempty"`
	Node    string   `json:"node,omitempty"`
	Latency Duration `json:"latency"`
}

// DNSTTL is the configured TTL or the default.
func (c DNSConfig) DNSTTL() time.Duration {
	if c.TTL == 0 {
		return DefaultDNSTTL
	}
	return c.TTL.D()
}

func (n *Node) validateDNS(p *problems) {
	checkAddr(p, "dns.listen", n.DNS.Listen)
	if n.DNS.TTL < 0 || n.DNS.TTL.D() > MaxDNSTTL || (n.DNS.TTL != 0 && n.DNS.TTL.D() < time.Second) {
		p.add("dns.ttl", "must be between 1s and %s", MaxDNSTTL)
	}
	if e := n.DNS.Explore; e > 1 || (e < 0 && e != -1) {
		p.add("dns.explore", "must be between 0 and 1, or -1 for never")
	}
	for i, r := range n.DNS.LatencyMap {
		f := fmt.Sprintf("dns.latency_map[%d]", i)
		if _, err := netip.ParsePrefix(r.Client); err != nil {
			p.add(f+".client", "must be a CIDR such as 192.0.2.0/24")
		}
		if (r.Region == "") == (r.Node == "") {
			p.add(f, "needs a region or a node (one of them)")
		}
		if r.Latency < 0 {
			p.add(f+".latency", "must not be negative")
		}
	}
}
