package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Explanation is how the server answers a name for a client, as
// `portico dns explain` shows it. It is JSON-serialisable.
type Explanation struct {
	Name string `json:"name"`
	// Type is the question explained: A, or AAAA when the name has
	// IPv6 addresses only.
	Type string `json:"type"`
	// Kind is what the name is: apex, name-server, node, edge, regional,
	// private, custom-domain, empty-non-terminal; empty when it does not
	// exist.
	Kind string `json:"kind,omitempty"`
	// Client is the resolver's address; Subnet the client subnet (ECS)
	// it sent, if any; Network what answers were tailored to.
	Client  string `json:"client"`
	Subnet  string `json:"subnet,omitempty"`
	Network string `json:"network,omitempty"`
	// Internal says whether the client may see private names.
	Internal bool   `json:"internal"`
	Rcode    string `json:"rcode"`
	// Answer is the addresses (or records) answered.
	Answer []string `json:"answer"`
	// Source is where the winner's latency came from: map, measured,
	// node-rtt or none (fallback order).
	Source     string               `json:"source,omitempty"`
	Candidates []ExplainedCandidate `json:"candidates,omitempty"`
	// RunnerUp is answered instead of the winner in ExploreShare of the
	// answers.
	RunnerUp     string  `json:"runner_up,omitempty"`
	ExploreShare float64 `json:"explore_share,omitempty"`
	FailOpen     bool    `json:"fail_open,omitempty"`
	// Scope is the ECS scope prefix length the answer carries.
	Scope  int    `json:"ecs_scope"`
	Reason string `json:"reason"`
	Serial uint32 `json:"serial"`
}

// ExplainedCandidate is one edge node or one region of a latency-routed
// name, ranked, answered or not, and why.
type ExplainedCandidate struct {
	Name    string  `json:"name"`
	Region  string  `json:"region"`
	Rank    int     `json:"rank,omitempty"` // 1 is the best; 0 when not eligible
	Healthy bool    `json:"healthy"`
	Load    float64 `json:"load"`
	// LatencyMS and LatencySource: the latency used and where it came
	// from (map, measured, node-rtt, none); Via says which rule, client
	// network or origin node.
	LatencyMS     float64  `json:"latency_ms"`
	LatencySource string   `json:"latency_source"`
	Via           string   `json:"via,omitempty"`
	Answered      bool     `json:"answered"`
	Addresses     []string `json:"addresses"`
	Note          string   `json:"note,omitempty"`
}

// Explain tells how a query for name (type A, or AAAA for a name with
// IPv6 addresses only) from a resolver at client, with client subnet
// subnet (the zero Prefix for none), is answered now. It never explores.
func (s *Server) Explain(name string, client netip.Addr, subnet netip.Prefix) Explanation {
	x := Explanation{Name: dns.Fqdn(name), Type: "A", Client: client.String(), Answer: []string{}}
	ix := s.index()
	if ix == nil {
		x.Rcode, x.Reason = dns.RcodeToString[dns.RcodeServerFailure], "the node has no snapshot yet"
		return x
	}
	x.Serial = ix.serial
	var ecs *ecsOption
	if subnet.IsValid() {
		subnet = subnet.Masked()
		e := ecsOption{family: familyIPv4, source: uint8(subnet.Bits()), addr: subnet.Addr().Unmap()}
		if !subnet.Addr().Is4() {
			e.family = familyIPv6
		}
		ecs = &e
		x.Subnet = subnet.String()
	}
	cl := newClient(ix, client, ecs)
	x.Internal = cl.internal
	if cl.net.IsValid() {
		x.Network = cl.net.String()
	}
	q := dns.Question{Name: x.Name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
	// Each resolve has its own scratch: the A result, kept when AAAA has
	// nothing, must not be overwritten by the AAAA resolve.
	res := s.resolve(ix, q, &cl, true, newScratch(s.cfg.MaxAnswers))
	if res.rcode == dns.RcodeSuccess && len(res.answer) == 0 && res.found && res.entry.kind >= kindNS {
		q.Qtype = dns.TypeAAAA
		if r6 := s.resolve(ix, q, &cl, true, newScratch(s.cfg.MaxAnswers)); len(r6.answer) > 0 {
			res, x.Type = r6, "AAAA"
		}
	}
	x.Rcode, x.Reason, x.Scope, x.FailOpen = dns.RcodeToString[res.rcode], res.why, int(res.scope), res.failOpen
	if res.found {
		x.Kind = res.entry.kind.String()
	}
	for _, rr := range res.answer {
		switch v := rr.(type) {
		case *dns.A:
			x.Answer = append(x.Answer, v.A.String())
		case *dns.AAAA:
			x.Answer = append(x.Answer, v.AAAA.String())
		default:
			x.Answer = append(x.Answer, rr.String())
		}
	}
	if d := res.d; d != nil {
		s.explainCandidates(&x, ix, res, &cl)
		if len(d.answered) > 0 {
			x.Source = d.cands[d.answered[0]].src.String()
		}
		if d.runnerUp >= 0 {
			x.RunnerUp = d.cands[d.runnerUp].key
			x.ExploreShare = max(s.cfg.Explore, 0)
		}
	}
	return x
}

// explainCandidates lists the ranked candidates, then those that were
// not eligible (unhealthy while others were healthy).
func (s *Server) explainCandidates(x *Explanation, ix *index, res result, cl *client) {
	d := res.d
	ranked := map[string]bool{}
	for i := range d.cands {
		c := &d.cands[i]
		ranked[c.key] = true
		ec := s.explained(c, res.fam)
		ec.Rank = i + 1
		ec.Answered = slices.Contains(d.answered, i)
		if d.explored && ec.Answered {
			ec.Note = "exploration"
		}
		x.Candidates = append(x.Candidates, ec)
	}
	var others []candidate
	if res.entry.byEdges() {
		for _, n := range withFamily(ix.edges, kindEdge, res.fam) {
			if !ranked[n.Name] {
				others = append(others, candidate{key: n.Name, region: n.Region, nodes: []*Node{n}, load: n.Load})
			}
		}
	} else {
		for _, r := range res.entry.regions {
			if ranked[r] {
				continue
			}
			ranked[r] = true
			with := withFamily(ix.regional[r], kindDomain, res.fam)
			others = append(others, candidate{key: r, region: r, nodes: with, load: minLoad(with)})
		}
	}
	for i := range others {
		c := &others[i]
		s.measure(ix, c, cl)
		ec := s.explained(c, res.fam)
		ec.Note = "not eligible: unhealthy"
		if len(c.nodes) == 0 {
			ec.Note = "not eligible: no regional node with an address of this family"
		}
		x.Candidates = append(x.Candidates, ec)
	}
}

func (s *Server) explained(c *candidate, fam int) ExplainedCandidate {
	ec := ExplainedCandidate{
		Name: c.key, Region: c.region, Load: c.load,
		LatencyMS: float64(c.rtt) / float64(time.Millisecond), LatencySource: c.src.String(),
		Addresses: []string{},
	}
	ec.Healthy = len(c.nodes) > 0
	for _, n := range c.nodes {
		ec.Healthy = ec.Healthy && n.Healthy
		for _, a := range n.Public {
			if isFamily(a, fam) {
				ec.Addresses = append(ec.Addresses, a.Unmap().String())
			}
		}
	}
	switch c.src {
	case srcMap:
		ec.Via = "latency map rule " + c.via.String()
	case srcMeasured:
		ec.Via = "measured for client network " + c.via.String()
	case srcNodeRTT:
		ec.Via = "node round trip from " + s.cfg.NodeName
	}
	return ec
}

// why says in words how d was decided.
func (d *decision) why(edges bool) string {
	var b strings.Builder
	if d.failOpen {
		b.WriteString("every candidate is unhealthy: ranking all of them (fail open); ")
	}
	best := &d.cands[0]
	if best.src == srcNone {
		if edges {
			b.WriteString("no latency known for any edge: healthy edges in fallback order (rendezvous hash of API id and node)")
		} else {
			b.WriteString("no latency known for any region: the first region in the domain's order")
		}
	} else {
		fmt.Fprintf(&b, "lowest latency by %s: %s (%v)", best.src, best.key, best.rtt)
		if edges && len(d.answered) > 1 && !d.explored {
			fmt.Fprintf(&b, ", with %d more edge(s) within tolerance", len(d.answered)-1)
		}
	}
	if d.explored {
		fmt.Fprintf(&b, "; exploring: answering the runner-up %s instead", d.cands[d.runnerUp].key)
	}
	return b.String()
}
