package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Latency-based answers (edge names and custom domains).
//
// Candidates are edge nodes (for {apiId}.edge.Z) or regions (for a
// custom domain: the regions it is mapped in, each standing for its
// regional nodes). Only healthy nodes with an address of the asked family
// count; when none is healthy, all of them do (fail open).
//
// Each candidate gets a latency from the first source that knows it:
//
//  1. map: the operator's latency map, the longest rule prefix containing
//     the client network that names the node or its region (a node rule
//     wins over a region rule of the same length);
//  2. measured: client-connection round trips for the client network
//     (Latency.RTT, keyed by /24 or /56);
//  3. node-rtt: the round trip from the answering node to the candidate
//     (Latency.NodeRTT), a proxy for the client's position;
//  4. none.
//
// Candidates are ranked by source first (anything the map knows beats any
// measurement: the operator's word overrides), then latency, then load,
// then the fallback order. Candidates nothing is known about come last,
// in the fallback order alone: a rendezvous hash of (API id, node) for
// edges (each API is spread over the edges the same way by every dns
// node, whoever asks) and the operator's order of the domain's regions
// for custom domains.
//
// The answer is the best edge plus every edge of the same source within
// Tolerance of it (up to MaxAnswers addresses; all in fallback order when
// nothing is known), or every answerable node of the best region. With
// probability Explore the runner-up (the first candidate not answered)
// is answered instead, so that its measurements stay fresh.

// source says where a candidate's latency comes from, most trusted first.
type source uint8

const (
	srcMap source = iota
	srcMeasured
	srcNodeRTT
	srcNone
)

var sourceNames = [...]string{srcMap: "map", srcMeasured: "measured", srcNodeRTT: "node-rtt", srcNone: "none"}

func (s source) String() string { return sourceNames[s] }

// candidate is one edge node or one region.
type candidate struct {
	key    string  // node name, or region
	region string  // the node's region, or the region
	nodes  []*Node // answerable nodes
	rtt    time.Duration
	src    source
	via    netip.Prefix // map: the rule's client prefix; measured: the client network
	load   float64      // lowest load among nodes
	order  uint64       // fallback order
}

// decision is a ranked set of candidates and what was answered.
type decision struct {
	cands    []candidate // best first
	answered []int       // indexes into cands, in answer order
	runnerUp int         // first candidate not answered; -1 when none
	explored bool        // the runner-up was answered instead of the winner
	failOpen bool        // no candidate was healthy
	// dependsOnClient is false when the answer is the same for every
	// client (at most one candidate).
	dependsOnClient bool
}

// edgeCandidates are the edge nodes with a public address of family fam
// (4 or 6): the healthy ones that serve config index ready, else the
// healthy ones, else all (see readyOrAll).
func edgeCandidates(ix *index, name string, ready uint64, fam int) ([]candidate, bool) {
	nodes, failOpen := readyOrAll(withFamily(ix.edges, kindEdge, fam), ready)
	cands := make([]candidate, 0, len(nodes))
	for i, n := range nodes {
		cands = append(cands, candidate{key: n.Name, region: n.Region, nodes: nodes[i : i+1], load: n.Load, order: rendezvous(name, n.Name)})
	}
	return cands, failOpen
}

// regionCandidates are the regions of a custom domain that have regional
// nodes with a public address of family fam: with their healthy nodes, or,
// when no region has one, with all of them (fail open).
func regionCandidates(ix *index, regions []string, fam int) ([]candidate, bool) {
	var healthy, all []candidate
	seen := map[string]bool{}
	for i, r := range regions {
		if seen[r] {
			continue
		}
		seen[r] = true
		with := withFamily(ix.regional[r], kindDomain, fam)
		if len(with) == 0 {
			continue
		}
		c := candidate{key: r, region: r, nodes: with, order: uint64(i)}
		all = append(all, c)
		if h, failOpen := healthyOrAll(with); !failOpen {
			c.nodes = h
			healthy = append(healthy, c)
		}
	}
	out, failOpen := healthy, false
	if len(healthy) == 0 {
		out, failOpen = all, len(all) > 0
	}
	for i := range out {
		out[i].load = minLoad(out[i].nodes)
	}
	return out, failOpen
}

// decide ranks cands for cl and picks the answer. edges says whether
// candidates are single nodes (tolerance grouping) or regions. The
// decision lives in sc until its next reset.
func (s *Server) decide(ix *index, cands []candidate, cl *client, edges, explore bool, sc *scratch) *decision {
	d := sc.decision()
	d.cands, d.runnerUp, d.dependsOnClient = cands, -1, len(cands) > 1
	if len(cands) == 0 {
		return d
	}
	for i := range cands {
		s.measure(ix, &cands[i], cl)
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(a.src, b.src); c != 0 || a.src == srcNone {
			return cmp.Or(c, cmp.Compare(a.order, b.order)) // no latency: the fallback order alone
		}
		return cmp.Or(cmp.Compare(a.rtt, b.rtt), cmp.Compare(a.load, b.load), cmp.Compare(a.order, b.order))
	})
	n := 1
	if edges {
		best, addrs := cands[0], len(cands[0].nodes)
		for n < len(cands) && addrs < s.cfg.MaxAnswers &&
			(best.src == srcNone || (cands[n].src == best.src && cands[n].rtt-best.rtt <= s.cfg.Tolerance)) {
			addrs += len(cands[n].nodes)
			n++
		}
	}
	d.answered = sc.ints(n)
	if n < len(cands) {
		d.runnerUp = n
		if explore && s.cfg.Explore > 0 && s.rand() < s.cfg.Explore {
			d.answered, d.explored = append(d.answered[:0], n), true
		}
	}
	return d
}

// measure fills c's latency from the first source that knows it.
func (s *Server) measure(ix *index, c *candidate, cl *client) {
	c.src = srcNone
	if cl.net.IsValid() {
		if rtt, via, ok := mapRTT(ix.rules, cl.net, c); ok {
			c.rtt, c.src, c.via = rtt, srcMap, via
			return
		}
	}
	if s.latency == nil {
		return
	}
	found := false
	if key := cl.measuredNet(); key.IsValid() {
		for _, n := range c.nodes {
			if rtt, ok := s.latency.RTT(key, n.Name); ok && (!found || rtt < c.rtt) {
				c.rtt, found = rtt, true
			}
		}
		if found {
			c.src, c.via = srcMeasured, key
			return
		}
	}
	if s.cfg.NodeName == "" {
		return
	}
	for _, n := range c.nodes {
		if rtt, ok := s.latency.NodeRTT(s.cfg.NodeName, n.Name); ok && (!found || rtt < c.rtt) {
			c.rtt, found = rtt, true
		}
	}
	if found {
		c.src = srcNodeRTT
	}
}

// mapRTT is c's latency from the rules (longest prefix first) for the
// client network: the first prefix length at which a rule contains the
// client and names one of c's nodes or c's region. At that length node
// rules win over region rules; among several, the lowest RTT counts.
func mapRTT(rules []LatencyRule, clientNet netip.Prefix, c *candidate) (time.Duration, netip.Prefix, bool) {
	bits := -1
	var nodeRTT, regionRTT time.Duration
	var nodeOK, regionOK bool
	var via netip.Prefix
	for _, r := range rules {
		if bits >= 0 && r.Client.Bits() < bits {
			break
		}
		if r.Client.Bits() > clientNet.Bits() || !r.Client.Contains(clientNet.Addr()) {
			continue
		}
		switch {
		case r.Node != "":
			if !slices.ContainsFunc(c.nodes, func(n *Node) bool { return n.Name == r.Node }) {
				continue
			}
			if !nodeOK || r.RTT < nodeRTT {
				nodeRTT, nodeOK = r.RTT, true
			}
		case r.Region == c.region:
			if !regionOK || r.RTT < regionRTT {
				regionRTT, regionOK = r.RTT, true
			}
		default:
			continue
		}
		bits, via = r.Client.Bits(), r.Client
	}
	switch {
	case nodeOK:
		return nodeRTT, via, true
	case regionOK:
		return regionRTT, via, true
	}
	return 0, netip.Prefix{}, false
}

// scope is the ECS scope of a latency-routed answer (RFC 7871 section
// 7.2.1): 0 when it is the same for everyone; the whole client network
// when measurements may decide (they are kept per network); otherwise
// the block the latency map rules naming these candidates split at.
func (s *Server) scope(ix *index, d *decision, cl *client) uint8 {
	if cl.ecs == nil || !cl.net.IsValid() || !d.dependsOnClient {
		return 0
	}
	if s.latency != nil {
		return uint8(cl.net.Bits())
	}
	var ps []netip.Prefix
	for _, r := range ix.rules {
		for i := range d.cands {
			c := &d.cands[i]
			if r.Region == c.region && r.Node == "" || r.Node != "" && slices.ContainsFunc(c.nodes, func(n *Node) bool { return n.Name == r.Node }) {
				ps = append(ps, r.Client)
				break
			}
		}
	}
	return uint8(splitBits(cl.net, ps, true))
}

func minLoad(nodes []*Node) float64 {
	l := 0.0
	for i, n := range nodes {
		if i == 0 || n.Load < l {
			l = n.Load
		}
	}
	return l
}

// rendezvous is a deterministic 64-bit FNV-1a hash of (name, node): the
// same on every dns node, unlike a seeded hash.
func rendezvous(name, node string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h *= prime // a zero byte between the two
	for i := 0; i < len(node); i++ {
		h = (h ^ uint64(node[i])) * prime
	}
	return h
}

// hasFamily reports whether addrs holds an address of family fam.
func hasFamily(addrs []netip.Addr, fam int) bool {
	for _, a := range addrs {
		if isFamily(a, fam) {
			return true
		}
	}
	return false
}

func isFamily(a netip.Addr, fam int) bool {
	if fam == 4 {
		return a.Is4() || a.Is4In6()
	}
	return a.Is6() && !a.Is4In6()
}
