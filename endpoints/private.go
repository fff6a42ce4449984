package endpoints

import (
	"cmp"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"github.com/portico-gw/portico/configs"
)

// sourceListener closes accepted connections whose peer is outside the
// allowed networks. On Linux the socket filter (sourceFilter) already
// drops their handshakes; this second check holds where the filter is
// missing or a prefix list changed under it.
type sourceListener struct {
	net.Listener
	allowed []netip.Prefix
}

func (l sourceListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ap, perr := netip.ParseAddrPort(c.RemoteAddr().String()); perr == nil && configs.InPrefixes(l.allowed, ap.Addr()) {
			return c, nil
		}
		_ = c.Close()
	}
}

// endpointType is the API endpoint type requests on g arrive through:
// what resource policies' endpoint_types name.
func (g *Gateway) endpointType() configs.EndpointType {
	switch g.cfg.Kind {
	case KindEdge, KindOrigin:
		return configs.EndpointEdge
	case KindPrivate:
		return configs.EndpointPrivate
	}
	return configs.EndpointRegional
}

// policy is an API's resource policy compiled for one endpoint type: the
// statements that apply to it. A nil *policy admits everyone.
type policy struct {
	deny, allow []statement
}

type statement struct {
	sid       string
	deny      bool
	cidrs     []netip.Prefix // nil: any source
	notCIDRs  []netip.Prefix // nil: no exclusion
	networks  []string       // nil: any network, including none
	endpoints []string       // nil: any endpoint, including none
}

// compilePolicy keeps the statements of rp that apply to endpoint type t.
// Entries were validated before they were committed; one that still does
// not parse matches nothing.
func compilePolicy(rp *configs.ResourcePolicy, t configs.EndpointType) *policy {
	if rp == nil {
		return nil
	}
	p := &policy{}
	for _, s := range rp.Statements {
		if len(s.EndpointTypes) > 0 && !slices.Contains(s.EndpointTypes, t) {
			continue
		}
		st := statement{sid: s.Sid, deny: s.Effect == configs.EffectDeny, cidrs: prefixes(s.SourceCIDRs), notCIDRs: prefixes(s.NotSourceCIDRs),
			networks: s.SourceNetworks, endpoints: s.PrivateEndpoints}
		if st.deny {
			p.deny = append(p.deny, st)
		} else {
			p.allow = append(p.allow, st)
		}
	}
	if len(p.deny) == 0 && len(p.allow) == 0 {
		return nil
	}
	return p
}

func prefixes(cidrs []string) []netip.Prefix {
	if len(cidrs) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// origin is where a request comes from, as resource policies see it.
type origin struct {
	addr     netip.Addr // invalid when unknown; matches no CIDR
	network  string     // internal network of a private listener, or ""
	endpoint string     // private endpoint id, or ""
}

// matches says whether every condition of s holds for o. A request whose
// address is unknown (RemoteAddr did not parse) fails closed: it matches
// the address conditions of Deny statements and no others.
func (s *statement) matches(o origin) bool {
	if (s.cidrs != nil || s.notCIDRs != nil) && !o.addr.IsValid() {
		return s.deny
	}
	if s.cidrs != nil && !configs.InPrefixes(s.cidrs, o.addr) {
		return false
	}
	if s.notCIDRs != nil && configs.InPrefixes(s.notCIDRs, o.addr) {
		return false
	}
	if s.networks != nil && (o.network == "" || !slices.Contains(s.networks, o.network)) {
		return false
	}
	if s.endpoints != nil && (o.endpoint == "" || !slices.Contains(s.endpoints, o.endpoint)) {
		return false
	}
	return true
}

// admits evaluates the policy: an explicit deny wins, then an allow
// admits, else the request is denied. why names the deciding statement
// (its sid, or its position) for the log.
func (p *policy) admits(o origin) (ok bool, why string) {
	if p == nil {
		return true, ""
	}
	for i := range p.deny {
		if p.deny[i].matches(o) {
			return false, cmp.Or(p.deny[i].sid, "deny statement "+strconv.Itoa(i))
		}
	}
	for i := range p.allow {
		if p.allow[i].matches(o) {
			return true, cmp.Or(p.allow[i].sid, "allow statement "+strconv.Itoa(i))
		}
	}
	return false, "no allow statement matches"
}

// originOf is the request's origin on g. On an origin endpoint
// RemoteAddr already holds the client address the edge sent.
func (g *Gateway) originOf(r *http.Request) origin {
	o := origin{network: g.cfg.Network, endpoint: g.cfg.EndpointID}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		o.addr = ap.Addr().Unmap()
	}
	return o
}
