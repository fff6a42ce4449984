package dns

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// answerer is the last step of the chain: it looks the question up in
// the request's index and writes the answer.
type answerer struct{ s *Server }

func (h answerer) serveDNS(_ context.Context, w writer, r *request) (int, error) {
	res := h.s.resolve(r.ix, r.msg.Question[0], &r.client, false, r.sc)
	if res.d != nil {
		h.s.metrics.decided(res.d)
	}
	if res.failOpen {
		h.s.noteFailOpen(res.entry, r.msg.Question[0].Name)
	}
	m := r.sc.replyTo(r.msg)
	m.Authoritative = res.aa
	m.Rcode = res.rcode
	m.Answer, m.Ns, m.Extra = res.answer, res.ns, res.extra
	r.scope = res.scope
	return h.s.writeReply(w, r, m)
}

// result is the answer to one question, before EDNS is added, with what
// Explain shows of how it was found.
type result struct {
	rcode             int
	aa                bool
	answer, ns, extra []dns.RR
	scope             uint8

	entry    entry
	found    bool
	where    where
	fam      int       // address family looked at: 4, 6 or 0
	d        *decision // latency-routed answers
	failOpen bool
	why      string
}

// resolve answers q for cl from ix. explain is set by Explain: no
// exploration (it shows the winner), and the reasons are spelled out
// (the query path does not pay for the strings). The records and the
// decision live in sc until its next reset.
func (s *Server) resolve(ix *index, q dns.Question, cl *client, explain bool, sc *scratch) result {
	var res result
	if q.Qclass != dns.ClassINET {
		res.rcode, res.why = dns.RcodeRefused, "only class IN is served"
		return res
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		res.rcode, res.why = dns.RcodeRefused, "zone transfers are refused"
		return res
	}
	name := strings.ToLower(q.Name)
	e, ok, wh := ix.lookup(name, cl.internal)
	res.entry, res.found, res.where = e, ok, wh
	if wh == outside {
		res.rcode, res.why = dns.RcodeRefused, "outside the zone and not a custom domain"
		return res
	}
	res.aa = true
	if wh == inPrivate || wh == inPrivateX {
		res.scope = privateScope(ix, cl)
	}
	apex := ix.zone
	if wh == inDomain {
		apex = name
	}
	if !ok {
		res.rcode, res.ns = dns.RcodeNameError, sc.soaRRs(ix, apex)
		res.why = "no such name"
		if wh == inPrivateX {
			res.why = "private names exist only for clients in internal networks"
		}
		return res
	}
	nodata := func(why string) result {
		res.answer, res.ns, res.why = nil, sc.soaRRs(ix, apex), why
		return res
	}
	isApex := e.kind == kindApex || e.kind == kindDomain
	switch {
	case e.kind == kindENT:
		return nodata("the name exists but holds no records (empty non-terminal)")
	case isApex && q.Qtype == dns.TypeSOA:
		res.answer, res.why = sc.soaRRs(ix, q.Name), "apex SOA"
		return res
	case isApex && q.Qtype == dns.TypeNS:
		res.answer, res.extra, res.why = ix.nsRRs(q.Name), ix.glue(), "name servers: the dns nodes"
		return res
	case e.kind == kindApex && q.Qtype == dns.TypeANY:
		res.answer, res.why = sc.soaRRs(ix, q.Name), "ANY: one RRset (RFC 8482)"
		return res
	case e.kind == kindApex:
		return nodata("the apex holds SOA and NS only")
	}

	var fams []int
	switch q.Qtype {
	case dns.TypeA:
		fams = []int{4}
	case dns.TypeAAAA:
		fams = []int{6}
	case dns.TypeANY:
		fams = []int{4, 6} // the first family with addresses: one RRset (RFC 8482)
	default:
		return nodata("only A and AAAA exist at this name")
	}
	var addrs []netip.Addr
	for _, fam := range fams {
		res.fam = fam
		addrs, res.d, res.failOpen, res.why = s.addresses(ix, e, fam, cl, explain, sc)
		if len(addrs) > 0 {
			break
		}
	}
	if res.d != nil {
		res.scope = s.scope(ix, res.d, cl)
	}
	if len(addrs) == 0 {
		if q.Qtype == dns.TypeANY {
			res.answer = []dns.RR{&dns.HINFO{Hdr: header(q.Name, dns.TypeHINFO, ix.ttl), Cpu: "RFC8482"}}
			res.why = "ANY: HINFO (RFC 8482)"
			return res
		}
		return nodata(res.why)
	}
	res.answer = sc.rrs(len(addrs))
	for _, a := range addrs {
		res.answer = append(res.answer, sc.addrRR(q.Name, ix.ttl, a))
	}
	return res
}

// addresses are the addresses of family fam answered for e, and why
// (when explaining). The returned slice is not to be modified: it may be
// the entry's shared selection.
func (s *Server) addresses(ix *index, e entry, fam int, cl *client, explain bool, sc *scratch) ([]netip.Addr, *decision, bool, string) {
	limit := s.cfg.MaxAnswers
	switch e.kind {
	case kindNS, kindNode:
		return appendFamily(sc.addrBuf(), e.node.Public, fam, limit), nil, false, "the node's public addresses"
	case kindRegional, kindPrivate:
		sel := e.sel.get(fam, func() *selection { return regionalSelection(ix, e, fam, limit) })
		why := ""
		switch {
		case !explain:
		case len(sel.addrs) == 0:
			why = "no regional node of " + e.region + " has an address of this family"
		case sel.failOpen:
			why = "every regional node of " + e.region + " is unhealthy: answering all of them (fail open)"
		default:
			why = "the healthy regional nodes of " + e.region + ", least loaded first"
		}
		return sel.addrs, nil, sel.failOpen, why
	case kindEdge, kindDomain:
		sel := e.sel.get(fam, func() *selection { return candidateSelection(ix, e, fam) })
		if len(sel.cands) == 0 {
			return nil, nil, false, "no candidate has an address of this family"
		}
		d := s.decide(ix, sc.candidates(sel.cands), cl, e.byEdges(), !explain, sc)
		d.failOpen = sel.failOpen
		out := sc.addrBuf()
		for _, i := range d.answered {
			for _, n := range d.cands[i].nodes {
				out = appendFamily(out, n.Public, fam, limit)
			}
		}
		why := ""
		if explain {
			why = d.why(e.byEdges())
		}
		return out, d, sel.failOpen, why
	}
	return nil, nil, false, ""
}

// privateScope is the ECS scope of an answer under private.{region}.Z,
// whether the name exists or not (the NXDOMAIN an outsider gets must not
// differ from that of a name that does not exist). Only an internal
// source can get a client-dependent answer, so only then does the client
// subnet matter.
func privateScope(ix *index, cl *client) uint8 {
	if cl.ecs == nil || !cl.net.IsValid() || !covered(ix.nets, netip.PrefixFrom(cl.src, cl.src.BitLen())) {
		return 0
	}
	return uint8(splitBits(cl.net, ix.nets, false))
}

// addrsOf are the addresses n is answered with for a name of kind k:
// private ones for private names, else public ones.
func addrsOf(n *Node, k kind) []netip.Addr {
	if k == kindPrivate {
		return n.Private
	}
	return n.Public
}

// withFamily are the nodes that have an address of family fam among
// those answered for a name of kind k.
func withFamily(nodes []*Node, k kind, fam int) []*Node {
	var out []*Node
	for _, n := range nodes {
		if hasFamily(addrsOf(n, k), fam) {
			out = append(out, n)
		}
	}
	return out
}

// appendFamily appends the addresses of family fam in addrs to out,
// keeping out at most limit long.
func appendFamily(out, addrs []netip.Addr, fam, limit int) []netip.Addr {
	for _, a := range addrs {
		if len(out) >= limit {
			break
		}
		if isFamily(a, fam) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// byLoad is a copy of nodes, least loaded first (then by name).
func byLoad(nodes []*Node) []*Node {
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b *Node) int { return cmp.Or(cmp.Compare(a.Load, b.Load), strings.Compare(a.Name, b.Name)) })
	return out
}

// soa is the SOA record of an apex (the zone, or a custom domain answered
// as its own apex): owner is the apex in the question's spelling for an
// answer, canonical in the authority section of a negative answer. The
// negative-caching TTL is min(TTL, MINIMUM) = TTL (RFC 2308 section 5).
func (ix *index) soa(owner string) dns.SOA {
	return dns.SOA{
		Hdr: header(owner, dns.TypeSOA, ix.ttl),
		Ns:  ix.mname, Mbox: ix.rname, Serial: ix.serial,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: ix.ttl,
	}
}

// nsRRs are the NS records of an apex: ns-{node}.Z for each dns node.
func (ix *index) nsRRs(owner string) []dns.RR {
	out := make([]dns.RR, 0, len(ix.nsHosts))
	for _, n := range ix.nsHosts {
		out = append(out, &dns.NS{Hdr: header(owner, dns.TypeNS, ix.ttl), Ns: nsPrefix + strings.ToLower(n.Name) + "." + ix.zone})
	}
	return out
}

// glue are the A and AAAA records of the NS hosts, for the additional
// section.
func (ix *index) glue() []dns.RR {
	var out []dns.RR
	for _, n := range ix.nsHosts {
		owner := nsPrefix + strings.ToLower(n.Name) + "." + ix.zone
		for _, a := range n.Public {
			out = append(out, addrRR(owner, ix.ttl, a.Unmap()))
		}
	}
	return out
}

func header(owner string, typ uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: typ, Class: dns.ClassINET, Ttl: ttl}
}

func addrRR(owner string, ttl uint32, a netip.Addr) dns.RR {
	if a.Is4() {
		v := a.As4()
		return &dns.A{Hdr: header(owner, dns.TypeA, ttl), A: v[:]}
	}
	v := a.As16()
	return &dns.AAAA{Hdr: header(owner, dns.TypeAAAA, ttl), AAAA: v[:]}
}
