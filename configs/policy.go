package configs

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
)

// ResourcePolicy says who may call an API, in the spirit of API Gateway's
// resource policies: statements that allow or deny by where the request
// comes from. It is checked on every endpoint type before anything else
// of the request is looked at (stage, route, authorizer).
//
// Evaluation, for a request arriving on an endpoint of type T:
//
//  1. The statements that apply to T are those without endpoint_types and
//     those that list T. When none applies, the request passes (an API
//     without a policy for that endpoint is open to it).
//  2. If any applicable Deny statement matches, the request is denied: an
//     explicit deny wins.
//  3. Otherwise, if any applicable Allow statement matches, it passes.
//  4. Otherwise it is denied (implicit deny).
//
// A statement matches when every condition it sets matches (a condition
// it leaves out matches everything); a list condition matches when any of
// its entries does. A denied request gets 403 ACCESS_DENIED.
//
// Unlike API Gateway, a policy change takes effect without a new
// deployment: who may reach an API is not part of a release.
type ResourcePolicy struct {
	Statements []PolicyStatement `json:"statements"`
}

// PolicyStatement is one rule of a ResourcePolicy.
type PolicyStatement struct {
	// Sid names the statement in logs and errors; optional.
	Sid string `json:"sid,omitempty"`
	// Effect is Allow or Deny.
	Effect PolicyEffect `json:"effect"`
	// EndpointTypes limits the statement to requests arriving on these
	// endpoint types; empty means every type.
	EndpointTypes []EndpointType `json:"endpoint_types,omitempty"`
	// SourceCIDRs match the client's address (on an edge, the address the
	// edge saw; on a private listener, the internal client's).
	SourceCIDRs []string `json:"source_cidrs,omitempty"`
	// NotSourceCIDRs match every client address outside these CIDRs.
	NotSourceCIDRs []string `json:"not_source_cidrs,omitempty"`
	// SourceNetworks match requests that arrived on the private listener
	// of one of these internal networks (the "source VPC"); a request on
	// a public listener comes from no network and never matches.
	SourceNetworks []string `json:"source_networks,omitempty"`
	// PrivateEndpoints match requests that arrived through one of these
	// private endpoint ids (internal_networks[].endpoint_id of the nodes).
	PrivateEndpoints []string `json:"private_endpoints,omitempty"`
}

// PolicyEffect is Allow or Deny.
type PolicyEffect string

// Policy effects.
const (
	EffectAllow PolicyEffect = "Allow"
	EffectDeny  PolicyEffect = "Deny"
)

// Resource policy limits.
const (
	MaxPolicyStatements = 64
	maxPolicyEntries    = 256 // per list in one statement
)

var (
	sidRE        = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	endpointIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (a *API) validatePolicy(p *problems) {
	rp := a.ResourcePolicy
	if rp == nil {
		return
	}
	if len(rp.Statements) == 0 {
		p.add("resource_policy.statements", "at least one statement is required (remove resource_policy to open the API)")
	}
	if len(rp.Statements) > MaxPolicyStatements {
		p.add("resource_policy.statements", "at most %d statements, not %d", MaxPolicyStatements, len(rp.Statements))
	}
	for i, s := range rp.Statements {
		f := fmt.Sprintf("resource_policy.statements[%d]", i)
		if s.Sid != "" && !sidRE.MatchString(s.Sid) {
			p.add(f+".sid", "must be 1 to 64 letters, digits, _ or -")
		}
		if s.Effect != EffectAllow && s.Effect != EffectDeny {
			p.add(f+".effect", "must be Allow or Deny, not %q", s.Effect)
		}
		for j, t := range s.EndpointTypes {
			switch {
			case t != EndpointEdge && t != EndpointRegional && t != EndpointPrivate:
				p.add(fmt.Sprintf("%s.endpoint_types[%d]", f, j), "must be EDGE, REGIONAL or PRIVATE, not %q", t)
			case !a.HasEndpointType(t):
				p.add(fmt.Sprintf("%s.endpoint_types[%d]", f, j), "the API is not published as %s", t)
			}
		}
		for _, list := range []struct {
			name    string
			entries []string
		}{{"source_cidrs", s.SourceCIDRs}, {"not_source_cidrs", s.NotSourceCIDRs}, {"source_networks", s.SourceNetworks}, {"private_endpoints", s.PrivateEndpoints}} {
			if len(list.entries) > maxPolicyEntries {
				p.add(f+"."+list.name, "at most %d entries", maxPolicyEntries)
			}
			for j, v := range list.entries {
				ef := fmt.Sprintf("%s.%s[%d]", f, list.name, j)
				switch list.name {
				case "source_cidrs", "not_source_cidrs":
					if _, err := netip.ParsePrefix(v); err != nil {
						p.add(ef, "must be a CIDR such as 10.0.0.0/16, not %q", v)
					}
				case "source_networks":
					if !regionRE.MatchString(v) {
						p.add(ef, "must be an internal network name (lowercase letters, digits and -), not %q", v)
					}
				default:
					if !endpointIDRE.MatchString(v) {
						p.add(ef, "must be a private endpoint id (lowercase letters, digits and -), not %q", v)
					}
				}
			}
		}
		if (len(s.SourceNetworks) > 0 || len(s.PrivateEndpoints) > 0) && len(s.EndpointTypes) > 0 && !slices.Contains(s.EndpointTypes, EndpointPrivate) {
			p.add(f, "source_networks and private_endpoints only match requests on PRIVATE endpoints; add PRIVATE to endpoint_types")
		}
	}
}
