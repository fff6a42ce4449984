package configs

import (
	"fmt"
	"net/netip"
	"strconv"
)

// DefaultPrivatePort is the port of private listeners.
const DefaultPrivatePort = 8445

// InternalNetwork is a network treated as internal, like a VPC: private
// names resolve only for DNS clients in it, and a regional node with an
// address on it serves PRIVATE APIs there.
type InternalNetwork struct {
	Name  string   `json:"name"`
	CIDRs []string `json:"cidrs"`
	// Address is this node's address on the network. A regional node
	// runs a private listener on Address:private.port; a node without an
	// address on a network serves nothing there (its DNS still treats
	// clients in the CIDRs as internal). It must lie in one of the CIDRs
	// and be assigned to an interface of the machine at start.
	Address string `json:"address,omitempty"`
	// EndpointID names the private endpoint the listener serves, for
	// resource policies (private_endpoints); default "pe-" + name. Nodes
	// on the same network normally share it, as one VPC endpoint spans
	// subnets.
	EndpointID string `json:"endpoint_id,omitempty"`
}

// PrivateConfig is what every private listener of a node shares.
type PrivateConfig struct {
	// Port the private listeners bind on each internal address; default
	// 8445, 0 for a free port (tests).
	Port *int `json:"port,omitempty"`
	// TLS files; when both are empty a certificate naming
	// *.private.{region}.{zone} and the internal addresses is generated
	// under data_dir/tls, as for the other listeners.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// PrivatePort is the configured private port or the default.
func (c PrivateConfig) PrivatePort() int {
	if c.Port == nil {
		return DefaultPrivatePort
	}
	return *c.Port
}

// PrivateListener is one private listener a node runs.
type PrivateListener struct {
	Network    string
	EndpointID string
	Listen     string // address:port
	CIDRs      []netip.Prefix
}

// PrivateListeners are the private listeners the node runs: one per
// internal network it has an address on, when it holds the regional role.
func (n *Node) PrivateListeners() []PrivateListener {
	if !n.HasRole(RoleRegional) {
		return nil
	}
	var out []PrivateListener
	for _, in := range n.InternalNetworks {
		a, err := netip.ParseAddr(in.Address)
		if err != nil {
			continue
		}
		l := PrivateListener{Network: in.Name, EndpointID: in.EndpointID,
			Listen: netip.AddrPortFrom(a, uint16(n.Private.PrivatePort())).String()}
		for _, c := range in.CIDRs {
			if p, err := netip.ParsePrefix(c); err == nil {
				l.CIDRs = append(l.CIDRs, p.Masked())
			}
		}
		out = append(out, l)
	}
	return out
}

// InternalPrefixes are the CIDRs of every internal network.
func (n *Node) InternalPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, in := range n.InternalNetworks {
		for _, c := range in.CIDRs {
			if p, err := netip.ParsePrefix(c); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}

func (n *Node) applyPrivateDefaults() {
	for i := range n.InternalNetworks {
		if n.InternalNetworks[i].EndpointID == "" && n.InternalNetworks[i].Name != "" {
			n.InternalNetworks[i].EndpointID = "pe-" + n.InternalNetworks[i].Name
		}
	}
}

func (n *Node) validatePrivate(p *problems) {
	names, ids := map[string]bool{}, map[string]bool{}
	for i, in := range n.InternalNetworks {
		f := fmt.Sprintf("internal_networks[%d]", i)
		if !regionRE.MatchString(in.Name) {
			p.add(f+".name", "must be lowercase letters, digits and -")
		} else if names[in.Name] {
			p.add(f+".name", "%q is used twice", in.Name)
		}
		names[in.Name] = true
		if len(in.CIDRs) == 0 {
			p.add(f+".cidrs", "at least one CIDR is required")
		}
		var prefixes []netip.Prefix
		for j, c := range in.CIDRs {
			pf, err := netip.ParsePrefix(c)
			if err != nil {
				p.add(fmt.Sprintf("%s.cidrs[%d]", f, j), "must be a CIDR such as 10.0.0.0/16")
				continue
			}
			prefixes = append(prefixes, pf.Masked())
		}
		if in.Address != "" {
			a, err := netip.ParseAddr(in.Address)
			switch {
			case err != nil || a.Zone() != "":
				p.add(f+".address", "must be an IP address, not %q", in.Address)
			case a.IsUnspecified() || a.IsMulticast():
				p.add(f+".address", "must be a unicast address of this node, never a wildcard such as %s", a)
			case len(prefixes) == len(in.CIDRs) && !InPrefixes(prefixes, a):
				p.add(f+".address", "%s is not inside the network's cidrs", a)
			}
		}
		if in.EndpointID != "" {
			if !endpointIDRE.MatchString(in.EndpointID) {
				p.add(f+".endpoint_id", "must be lowercase letters, digits and -")
			} else if ids[in.EndpointID] {
				p.add(f+".endpoint_id", "%q is used twice", in.EndpointID)
			}
			ids[in.EndpointID] = true
		}
	}
	if port := n.Private.PrivatePort(); port < 0 || port > 65535 {
		p.add("private.port", "must be a number from 0 to 65535, not %s", strconv.Itoa(port))
	}
	if (n.Private.CertFile == "") != (n.Private.KeyFile == "") {
		p.add("private.cert_file", "cert_file and key_file must be set together")
	}
	for i, s := range n.PublicAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			p.add(fmt.Sprintf("public_addresses[%d]", i), "must be a unicast IP address, not %q", s)
		}
	}
}

// InPrefixes says whether a (IPv4-mapped forms unmapped) lies in one of
// ps.
func InPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
