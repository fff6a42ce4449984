package dns

import (
	"net/netip"

	"github.com/miekg/dns"
)

// scratch is memory a transport worker reuses from query to query for
// what one answer is built from: the reply message, its records, the
// addresses and the latency decision. All of it is dead once the answer
// is packed, before the worker reads its next query, so nothing is shared
// between queries in flight. Explain uses a fresh scratch per resolve.
type scratch struct {
	queryMsg dns.Msg
	replyMsg dns.Msg
	question [1]dns.Question
	answer   []dns.RR
	ns       [1]dns.RR
	soa      dns.SOA
	optRR    dns.OPT
	extra    [1]dns.RR
	subnet   dns.EDNS0_SUBNET
	subnetIP [16]byte
	options  [1]dns.EDNS0
	as       pool[aRR] // records handed out, reused from query to query
	aaaas    pool[aaaaRR]
	addrs    []netip.Addr // cap MaxAnswers: appendFamily never grows it
	cands    []candidate
	dec      decision
	answered []int
}

// aRR and aaaaRR are records with room for their address.
type aRR struct {
	rr dns.A
	ip [4]byte
}

type aaaaRR struct {
	rr dns.AAAA
	ip [16]byte
}

// pool hands out Ts, kept from query to query: the first n are in use.
type pool[T any] struct {
	items []*T
	n     int
}

// next is an unused T (with the values it last had).
func (p *pool[T]) next() *T {
	if p.n == len(p.items) {
		p.items = append(p.items, new(T))
	}
	t := p.items[p.n]
	p.n++
	return t
}

func newScratch(maxAnswers int) *scratch {
	return &scratch{addrs: make([]netip.Addr, 0, maxAnswers), answer: make([]dns.RR, 0, maxAnswers)}
}

// reset forgets the last query's objects (they stay allocated). The
// accessors below overwrite whatever they hand out, so only the slices
// and counters need resetting.
func (sc *scratch) reset() {
	sc.answer = sc.answer[:0]
	sc.as.n, sc.aaaas.n = 0, 0
	sc.addrs = sc.addrs[:0]
	clear(sc.cands) // no old index's nodes kept alive by an idle worker
	sc.cands = sc.cands[:0]
	sc.answered = sc.answered[:0]
}

// query is an empty message to unpack the query into.
func (sc *scratch) query() *dns.Msg {
	sc.queryMsg = dns.Msg{}
	return &sc.queryMsg
}

// replyTo is an empty reply to q, as miekg's SetReply makes it.
func (sc *scratch) replyTo(q *dns.Msg) *dns.Msg {
	m := &sc.replyMsg
	*m = dns.Msg{}
	m.Id, m.Response, m.Opcode = q.Id, true, q.Opcode
	if m.Opcode == dns.OpcodeQuery {
		m.RecursionDesired, m.CheckingDisabled = q.RecursionDesired, q.CheckingDisabled
	}
	m.Rcode = dns.RcodeSuccess
	if len(q.Question) > 0 {
		sc.question[0] = q.Question[0]
		m.Question = sc.question[:]
	}
	return m
}

// addrBuf is an empty slice to collect the answer's addresses in.
func (sc *scratch) addrBuf() []netip.Addr {
	return sc.addrs[:0]
}

// rrs is an empty slice for n records.
func (sc *scratch) rrs(n int) []dns.RR {
	if n > cap(sc.answer) {
		return make([]dns.RR, 0, n)
	}
	return sc.answer[:0]
}

// addrRR is addrRR, in a reused record.
func (sc *scratch) addrRR(owner string, ttl uint32, a netip.Addr) dns.RR {
	if a.Is4() {
		r := sc.as.next()
		r.ip = a.As4()
		r.rr = dns.A{Hdr: header(owner, dns.TypeA, ttl), A: r.ip[:]}
		return &r.rr
	}
	r := sc.aaaas.next()
	r.ip = a.As16()
	r.rr = dns.AAAA{Hdr: header(owner, dns.TypeAAAA, ttl), AAAA: r.ip[:]}
	return &r.rr
}

// soaRRs is the one-record section holding ix's SOA for owner.
func (sc *scratch) soaRRs(ix *index, owner string) []dns.RR {
	sc.soa = ix.soa(owner)
	sc.ns[0] = &sc.soa
	return sc.ns[:]
}

// candidates is a copy of cands that decide may reorder and fill in.
func (sc *scratch) candidates(cands []candidate) []candidate {
	sc.cands = append(sc.cands[:0], cands...)
	return sc.cands
}

// decision is a new, zero decision.
func (sc *scratch) decision() *decision {
	sc.dec = decision{}
	return &sc.dec
}

// ints is a slice of n ints, 0 to n-1.
func (sc *scratch) ints(n int) []int {
	out := append(sc.answered[:0], make([]int, n)...)
	sc.answered = out
	for i := range out {
		out[i] = i
	}
	return out
}

// opt is an OPT record with no flags or options yet.
func (sc *scratch) opt() *dns.OPT {
	sc.optRR = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	return &sc.optRR
}

// appendExtra is append(extra, rr).
func (sc *scratch) appendExtra(extra []dns.RR, rr dns.RR) []dns.RR {
	if len(extra) > 0 {
		return append(extra, rr)
	}
	sc.extra[0] = rr
	return sc.extra[:]
}

// ecsEcho is the options of a response's OPT record: e echoed with
// scope (ecsOption.echoInto).
func (sc *scratch) ecsEcho(e *ecsOption, scope uint8) []dns.EDNS0 {
	e.echoInto(&sc.subnet, scope, &sc.subnetIP)
	sc.options[0] = &sc.subnet
	return sc.options[:]
}
