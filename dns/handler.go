package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime/debug"

	"github.com/miekg/dns"
)

// The handler chain is fixed in Go code, CoreDNS's shape without its
// plugin registry: each step answers the request or passes it on, and
// returns the response code it wrote.
//
//	recover+metrics → rate limit → parse/validate → client subnet → answer
//
// The chain starts from the packet's bytes, so rate limiting and metrics
// see every packet, including those that do not parse.
type handler interface {
	serveDNS(ctx context.Context, w writer, r *request) (rcode int, err error)
}

// rcodeDropped is returned when nothing was sent.
const rcodeDropped = -1

// writer sends one response. UDP sends a datagram; TCP adds the two-byte
// length (RFC 1035 section 4.2.2).
type writer interface {
	write(b []byte) error
}

// request is one query on its way through the chain. Transports reuse it.
type request struct {
	raw []byte         // the packet as received
	src netip.AddrPort // transport source
	tcp bool

	msg    *dns.Msg // set by parse
	opt    *dns.OPT // the query's OPT record; nil without EDNS
	size   int      // the largest response that may be sent (set by parse)
	ix     *index   // the snapshot answered from (set by client subnet)
	client client   // set by client subnet
	ecs    ecsOption
	scope  uint8 // ECS scope of the answer (set by the answer)

	buf     []byte   // pack buffer, reused between requests
	sc      *scratch // reused between requests
	written bool
}

// reset prepares r for the next packet, keeping its buffer and scratch.
func (r *request) reset(raw []byte, src netip.AddrPort, tcp bool) {
	*r = request{raw: raw, src: src, tcp: tcp, buf: r.buf, sc: r.sc}
	r.sc.reset()
}

// newRequest is a request for a transport worker to reuse, with a pack
// buffer of bufSize bytes.
func (s *Server) newRequest(bufSize int) *request {
	return &request{buf: make([]byte, bufSize), sc: newScratch(s.cfg.MaxAnswers)}
}

func (s *Server) newChain() handler {
	return recoverMetrics{s, rateLimit{s, parser{s, clientSubnet{s, answerer{s}}}}}
}

// Header bits (RFC 1035 section 4.1.1).
const (
	headerLen = 12
	flagQR    = 1 << 15
	flagRD    = 1 << 8
)

// recoverMetrics counts every packet and what it got, and turns a panic
// into SERVFAIL (when the query parsed) and a log line.
type recoverMetrics struct {
	s    *Server
	next handler
}

func (h recoverMetrics) serveDNS(ctx context.Context, w writer, r *request) (rcode int, err error) {
	defer func() {
		if v := recover(); v != nil {
			h.s.panics.Add(1)
			h.s.metrics.panicked()
			h.s.log.Error("panic answering a query", "panic", fmt.Sprint(v), "client", r.src.String(), "stack", string(debug.Stack()))
			rcode, err = rcodeDropped, fmt.Errorf("dns: panic answering a query: %v", v)
			if r.msg != nil && !r.written {
				rcode = h.s.servfailAfterPanic(w, r)
			}
		}
		h.s.metrics.served(r.tcp, rcode)
	}()
	return h.next.serveDNS(ctx, w, r)
}

// servfailAfterPanic writes SERVFAIL; a second panic only loses the reply.
func (s *Server) servfailAfterPanic(w writer, r *request) (rcode int) {
	defer func() {
		if recover() != nil {
			rcode = rcodeDropped
		}
	}()
	rcode, _ = s.writeError(w, r, dns.RcodeServerFailure)
	return rcode
}

// rateLimit applies response-rate limiting to UDP (TCP needs a real
// handshake, so its source is not spoofed and it is not limited).
type rateLimit struct {
	s    *Server
	next handler
}

func (h rateLimit) serveDNS(ctx context.Context, w writer, r *request) (int, error) {
	if r.tcp || h.s.limiter == nil {
		return h.next.serveDNS(ctx, w, r)
	}
	switch h.s.limiter.take(r.src.Addr()) {
	case verdictAllow:
		return h.next.serveDNS(ctx, w, r)
	case verdictSlip:
		h.s.metrics.limited(true)
		return h.s.slip(w, r)
	default:
		h.s.metrics.limited(false)
		return rcodeDropped, nil
	}
}

// slip answers a limited query with an empty truncated response (TC=1),
// so that a real client retries over TCP while a spoofed victim gets no
// more bytes than the query had.
func (s *Server) slip(w writer, r *request) (int, error) {
	var q dns.Msg
	if err := q.Unpack(r.raw); err != nil || q.Response || len(q.Question) != 1 {
		return rcodeDropped, nil
	}
	m := new(dns.Msg)
	m.SetReply(&q)
	m.Truncated = true
	b, err := m.PackBuffer(r.buf)
	if err != nil {
		return rcodeDropped, fmt.Errorf("dns: pack truncated response: %w", err)
	}
	r.written = true
	if err := w.write(b); err != nil {
		return m.Rcode, fmt.Errorf("dns: write truncated response: %w", err)
	}
	return m.Rcode, nil
}

// parser decodes and validates the query.
type parser struct {
	s    *Server
	next handler
}

func (h parser) serveDNS(ctx context.Context, w writer, r *request) (int, error) {
	r.size = dns.MinMsgSize // until the OPT record is read (RFC 1035 section 4.2.1)
	if len(r.raw) < headerLen {
		return rcodeDropped, nil // not even a header: any reply would only serve reflection
	}
	id, flags := binary.BigEndian.Uint16(r.raw), binary.BigEndian.Uint16(r.raw[2:])
	if flags&flagQR != 0 {
		return rcodeDropped, nil // a response: answering could start a loop
	}
	rd := flags&flagRD != 0
	if op := int(flags>>11) & 0xF; op != dns.OpcodeQuery {
		return h.s.writeHeader(w, r, id, op, rd, dns.RcodeNotImplemented)
	}
	m := r.sc.query()
	if err := m.Unpack(r.raw); err != nil {
		return h.s.writeHeader(w, r, id, dns.OpcodeQuery, rd, dns.RcodeFormatError)
	}
	opts := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 { // RFC 6891 section 6.1.1
		return h.s.writeHeader(w, r, id, dns.OpcodeQuery, rd, dns.RcodeFormatError)
	}
	r.msg, r.opt = m, m.IsEdns0()
	r.size = h.s.responseSize(r)
	if len(m.Question) != 1 {
		return h.s.writeHeader(w, r, id, dns.OpcodeQuery, rd, dns.RcodeFormatError)
	}
	if r.opt != nil && r.opt.Version() != 0 { // RFC 6891 section 6.1.3
		return h.s.writeError(w, r, dns.RcodeBadVers)
	}
	if t := m.Question[0].Qtype; t == dns.TypeOPT { // a pseudo-type, not a question (RFC 6891 section 6.1.1)
		return h.s.writeError(w, r, dns.RcodeFormatError)
	}
	return h.next.serveDNS(ctx, w, r)
}

// responseSize is the largest response for r: 65535 over TCP; over UDP
// the client's EDNS buffer size (512 when smaller, RFC 6891 section
// 6.2.5, and without EDNS, RFC 1035 section 4.2.1) but no more than ours.
func (s *Server) responseSize(r *request) int {
	switch {
	case r.tcp:
		return dns.MaxMsgSize
	case r.opt == nil:
		return dns.MinMsgSize
	}
	return min(max(int(r.opt.UDPSize()), dns.MinMsgSize), s.cfg.UDPSize)
}

// clientSubnet picks the snapshot and works out who the answer is for:
// the ECS option's network when the query has one, else the source.
type clientSubnet struct {
	s    *Server
	next handler
}

func (h clientSubnet) serveDNS(ctx context.Context, w writer, r *request) (int, error) {
	ix := h.s.index()
	if ix == nil {
		return h.s.writeError(w, r, dns.RcodeServerFailure) // the node has no snapshot yet
	}
	r.ix = ix
	var ecs *ecsOption
	if r.opt != nil {
		e, found, err := parseECS(r.raw)
		if err != nil {
			return h.s.writeError(w, r, dns.RcodeFormatError)
		}
		if found {
			r.ecs = e
			ecs = &r.ecs
		}
	}
	r.client = newClient(ix, r.src.Addr(), ecs)
	return h.next.serveDNS(ctx, w, r)
}

// writeError answers r (parsed) with rcode and no records.
func (s *Server) writeError(w writer, r *request, rcode int) (int, error) {
	m := r.sc.replyTo(r.msg)
	m.Rcode = rcode
	return s.writeReply(w, r, m)
}

// writeHeader answers with a bare header: for queries whose question is
// not to be echoed (it did not parse, or there is not exactly one).
func (s *Server) writeHeader(w writer, r *request, id uint16, opcode int, rd bool, rcode int) (int, error) {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: id, Response: true, Opcode: opcode, RecursionDesired: rd, Rcode: rcode}}
	return s.writeReply(w, r, m)
}

// writeReply adds the OPT record when the query had one (our buffer size,
// DO copied, the client subnet echoed with the answer's scope), packs
// the message, truncates it to the client's size and sends it.
func (s *Server) writeReply(w writer, r *request, m *dns.Msg) (int, error) {
	if r.opt != nil {
		o := r.sc.opt()
		o.SetUDPSize(uint16(s.cfg.UDPSize))
		if r.opt.Do() {
			o.SetDo() // RFC 3225 section 3
		}
		if r.client.ecs != nil {
			o.Option = r.sc.ecsEcho(r.client.ecs, r.scope)
		}
		m.Extra = r.sc.appendExtra(m.Extra, o)
	}
	m.Compress = true
	b, err := m.PackBuffer(r.buf)
	if err != nil {
		return rcodeDropped, fmt.Errorf("dns: pack response: %w", err)
	}
	if len(b) > r.size {
		if b, err = s.truncate(r, m); err != nil {
			return rcodeDropped, err
		}
	}
	r.written = true
	if err := w.write(b); err != nil {
		return m.Rcode, fmt.Errorf("dns: write response: %w", err)
	}
	return m.Rcode, nil
}

// truncate fits m into r.size (RFC 2181 section 9): the additional
// section is optional and goes first; if the answer still does not fit,
// no partial RRset is sent: TC is set on an empty answer, and the client
// retries over TCP (RFC 7766).
func (s *Server) truncate(r *request, m *dns.Msg) ([]byte, error) {
	var opt []dns.RR
	if o := m.IsEdns0(); o != nil {
		opt = []dns.RR{o}
	}
	m.Extra = opt
	b, err := m.PackBuffer(r.buf)
	if err == nil && len(b) <= r.size {
		return b, nil
	}
	m.Answer, m.Ns, m.Truncated = nil, nil, true
	s.metrics.truncated()
	if b, err = m.PackBuffer(r.buf); err != nil {
		return nil, fmt.Errorf("dns: pack truncated response: %w", err)
	}
	return b, nil
}
