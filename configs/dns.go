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
	// RateLimit limits UDP responses per client /24 (/56) against
	// amplification (response-rate limiting with slip).
	RateLimit DNSRateLimit `json:"rate_limit,omitzero"`
}

// DNSRateLimit is response-rate limiting per client network.
type DNSRateLimit struct {
	// Rate is responses per second; default 20, -1 turns limiting off
	// (a resolver in front of Portico, or a benchmark).
	Rate float64 `json:"rate,omitempty"`
	// Burst is the bucket size; default 2×rate.
	Burst int `json:"burst,omitempty"`
	// Slip: every slip-th limited response goes out empty with TC=1 so a
	// real client retries over TCP; the rest are dropped. Default 2, 1
	// truncates all, -1 drops all.
	Slip int `json:"slip,omitempty"`
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
	if rl := n.DNS.RateLimit; rl.Rate < 0 && rl.Rate != -1 {
		p.add("dns.rate_limit.rate", "must be positive, or -1 for no limit")
	}
	if n.DNS.RateLimit.Burst < 0 {
		p.add("dns.rate_limit.burst", "must not be negative")
	}
	if n.DNS.RateLimit.Slip < -1 {
		p.add("dns.rate_limit.slip", "must be -1 (drop all), 0 (default) or a positive count")
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
