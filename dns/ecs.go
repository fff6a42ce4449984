package dns

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// EDNS Client Subnet (RFC 7871).
const (
	optionECS  = dns.EDNS0SUBNET // option code 8, RFC 7871 section 6
	familyIPv4 = 1               // IANA address family numbers, RFC 7871 section 6
	familyIPv6 = 2
	// The most of a client address the server uses: the prefix lengths
	// RFC 7871 section 11.1 recommends resolvers send, and the keys of
	// the measured latency table.
	clientBits4 = 24
	clientBits6 = 56
)

// errECS is a malformed client subnet option, answered with FORMERR
// (RFC 7871 section 7.1.1 and section 6).
var errECS = errors.New("malformed client subnet option")

// ecsOption is a validated client subnet option of a query.
type ecsOption struct {
	family uint16
	source uint8      // SOURCE PREFIX-LENGTH
	addr   netip.Addr // masked to source; invalid for family 0
}

// echoInto writes into o the option for the response, its address in
// buf: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as in the query, SCOPE
// PREFIX-LENGTH = scope (RFC 7871 section 7.2.1).
func (e *ecsOption) echoInto(o *dns.EDNS0_SUBNET, scope uint8, buf *[16]byte) {
	*o = dns.EDNS0_SUBNET{Code: optionECS, Family: e.family, SourceNetmask: e.source, SourceScope: scope}
	switch e.family {
	case familyIPv4:
		a := e.addr.As4()
		o.Address = net.IP(buf[:copy(buf[:], a[:])])
	case familyIPv6:
		*buf = e.addr.As16()
		o.Address = net.IP(buf[:])
	default: // family 0 with SOURCE 0, as dig sends for +subnet=0
		o.Address = net.IPv4zero
		o.SourceScope = 0
	}
}

// parseECS finds and validates the client subnet option of the query p,
// a message miekg/dns has already unpacked. miekg keeps neither the
// option's length nor the address bytes beyond four (or sixteen), so the
// checks RFC 7871 asks for read the wire form.
func parseECS(p []byte) (ecsOption, bool, error) {
	rdata, ok := optRData(p)
	if !ok {
		return ecsOption{}, false, nil
	}
	var (
		e     ecsOption
		found bool
	)
	for len(rdata) >= 4 {
		code, n := binary.BigEndian.Uint16(rdata), int(binary.BigEndian.Uint16(rdata[2:]))
		rdata = rdata[4:]
		if n > len(rdata) {
			return ecsOption{}, false, errECS
		}
		data := rdata[:n]
		rdata = rdata[n:]
		if code != optionECS {
			continue
		}
		if found {
			return ecsOption{}, false, errECS // one ECS option per query
		}
		found = true
		var err error
		if e, err = decodeECS(data); err != nil {
			return ecsOption{}, false, err
		}
	}
	return e, found, nil
}

// decodeECS validates one option: a known family, a SOURCE PREFIX-LENGTH
// within it, SCOPE 0 (section 6: "In queries, it MUST be set to 0"),
// exactly ceil(SOURCE/8) address octets and no address bit set beyond
// SOURCE (section 7.1.1: either is answered with FORMERR).
func decodeECS(b []byte) (ecsOption, error) {
	if len(b) < 4 {
		return ecsOption{}, errECS
	}
	e := ecsOption{family: binary.BigEndian.Uint16(b), source: b[2]}
	scope, addr := b[3], b[4:]
	if scope != 0 || len(addr) != (int(e.source)+7)/8 {
		return ecsOption{}, errECS
	}
	switch e.family {
	case 0:
		if e.source != 0 {
			return ecsOption{}, errECS
		}
		return e, nil
	case familyIPv4:
		if e.source > 32 {
			return ecsOption{}, errECS
		}
		var a [4]byte
		copy(a[:], addr)
		e.addr = netip.AddrFrom4(a)
	case familyIPv6:
		if e.source > 128 {
			return ecsOption{}, errECS
		}
		var a [16]byte
		copy(a[:], addr)
		e.addr = netip.AddrFrom16(a)
	default:
		return ecsOption{}, errECS
	}
	if netip.PrefixFrom(e.addr, int(e.source)).Masked().Addr() != e.addr {
		return ecsOption{}, errECS
	}
	return e, nil
}

// optRData returns the RDATA of the first OPT record in the additional
// section of p. Every step is bounds-checked; a message that does not
// parse yields false.
func optRData(p []byte) ([]byte, bool) {
	if len(p) < 12 {
		return nil, false
	}
	qd := int(binary.BigEndian.Uint16(p[4:]))
	rrs := int(binary.BigEndian.Uint16(p[6:])) + int(binary.BigEndian.Uint16(p[8:]))
	ar := int(binary.BigEndian.Uint16(p[10:]))
	off := 12
	var ok bool
	for range qd {
		if off, ok = skipName(p, off); !ok || off+4 > len(p) {
			return nil, false
		}
		off += 4
	}
	for i := range rrs + ar {
		if off, ok = skipName(p, off); !ok || off+10 > len(p) {
			return nil, false
		}
		typ := binary.BigEndian.Uint16(p[off:])
		n := int(binary.BigEndian.Uint16(p[off+8:]))
		off += 10
		if off+n > len(p) {
			return nil, false
		}
		if i >= rrs && typ == dns.TypeOPT {
			return p[off : off+n], true
		}
		off += n
	}
	return nil, false
}

// skipName returns the offset just past the (possibly compressed) name
// at off. The loop ends: off grows by at least one each round.
func skipName(p []byte, off int) (int, bool) {
	for off < len(p) {
		c := int(p[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xC0:
			if off+2 > len(p) {
				return 0, false
			}
			return off + 2, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// client is who an answer is for.
type client struct {
	src netip.Addr // the transport source (the resolver, usually)
	// net is the client network answers are tailored to: the ECS
	// address truncated to its SOURCE (at most /24 or /56), or the
	// source address without ECS. Invalid when unknown: ECS with
	// SOURCE 0 asks that no address be used (RFC 7871 section 7.1.2).
	net netip.Prefix
	ecs *ecsOption // echoed in the response
	// internal clients see private names. ECS can only narrow this,
	// never widen it: the transport source must be internal, and the
	// client subnet too when one is given. ECS is unauthenticated; an
	// outsider must not get private answers by claiming 10.0.0.0/24.
	internal bool
}

// newClient derives the client from the transport source and the query's
// ECS option (nil without one), against ix's internal networks.
func newClient(ix *index, src netip.Addr, ecs *ecsOption) client {
	c := client{src: src.Unmap().WithZone(""), ecs: ecs}
	switch {
	case ecs == nil:
		if c.src.IsValid() {
			c.net = netip.PrefixFrom(c.src, c.src.BitLen())
		}
	case ecs.source > 0:
		c.net = netip.PrefixFrom(ecs.addr, min(int(ecs.source), clientBits(ecs.addr))).Masked()
	}
	c.internal = c.src.IsValid() && covered(ix.nets, netip.PrefixFrom(c.src, c.src.BitLen())) &&
		(!c.net.IsValid() || covered(ix.nets, c.net))
	return c
}

// measuredNet is the key of the measured latency table for c: its
// network truncated to /24 or /56.
func (c *client) measuredNet() netip.Prefix {
	if !c.net.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(c.net.Addr(), min(c.net.Bits(), clientBits(c.net.Addr()))).Masked()
}

func clientBits(a netip.Addr) int {
	if a.Is4() {
		return clientBits4
	}
	return clientBits6
}

// covered reports whether some prefix of ps contains all of p.
func covered(ps []netip.Prefix, p netip.Prefix) bool {
	for _, n := range ps {
		if n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// splitBits is the ECS scope for an answer that depends on which of ps
// contain the client network c: the shortest length L such that every
// network in c's /L block gets the same answer. Prefixes longer than c
// never match a client of c's length and are ignored.
//
// With longest true, the answer depends on the longest prefix containing
// c (latency map); otherwise only on whether any prefix contains c
// (internal networks). In both, a prefix that does not contain c must
// stay outside the block: L must exceed the bits it shares with c.
func splitBits(c netip.Prefix, ps []netip.Prefix, longest bool) int {
	l, shortestIn := 0, -1
	for _, p := range ps {
		if p.Bits() > c.Bits() || p.Addr().Is4() != c.Addr().Is4() {
			continue
		}
		if p.Contains(c.Addr()) {
			l = max(l, p.Bits())
			if shortestIn < 0 || p.Bits() < shortestIn {
				shortestIn = p.Bits()
			}
			continue
		}
		l = max(l, commonBits(p.Addr(), c.Addr())+1)
	}
	if !longest && shortestIn >= 0 {
		return shortestIn // inside an internal network: all of it is internal
	}
	return l
}

// commonBits is the number of leading bits a and b (one family) share.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			n += bits.LeadingZeros8(d)
			break
		}
		n += 8
	}
	if a.Is4() {
		n -= 96
	}
	return n
}
