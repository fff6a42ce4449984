package dns

import (
	"cmp"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Labels of the naming scheme under the zone Z:
//
//	Z                          SOA, NS (ns-{node}.Z)
//	ns-{node}.Z                A/AAAA of a dns node (glue)
//	{node}.nodes.Z             A/AAAA of a node's public addresses
//	{apiId}.edge.Z             nearest healthy edge nodes
//	{apiId}.{region}.Z         healthy regional nodes of the API's home region
//	{apiId}.private.{region}.Z private addresses, internal clients only
//
// A region named "edge" or "nodes", or an API id "private", would shadow
// or be shadowed by these; the first name added wins and the conflict is
// logged when the snapshot is indexed.
const (
	labelNodes   = "nodes"
	labelEdge    = "edge"
	labelPrivate = "private"
	nsPrefix     = "ns-"
	hostmaster   = "hostmaster"
)

// SOA timers (RFC 1912 section 2.2 ranges). There are no secondaries
// (zone transfers are refused), so refresh, retry and expire only matter
// to tools that read them.
const (
	soaRefresh = 7200
	soaRetry   = 3600
	soaExpire  = 1209600
)

// kind is what a name is.
type kind uint8

const (
	kindENT      kind = iota // empty non-terminal: exists, holds no records (RFC 8020)
	kindApex                 // the zone itself
	kindNS                   // ns-{node}.Z
	kindNode                 // {node}.nodes.Z
	kindEdge                 // {apiId}.edge.Z
	kindRegional             // {apiId}.{region}.Z
	kindPrivate              // {apiId}.private.{region}.Z
	kindDomain               // a custom domain, answered as its own apex
)

var kindNames = [...]string{
	kindENT: "empty-non-terminal", kindApex: "apex", kindNS: "name-server",
	kindNode: "node", kindEdge: "edge", kindRegional: "regional",
	kindPrivate: "private", kindDomain: "custom-domain",
}

func (k kind) String() string { return kindNames[k] }

// entry is one existing name.
type entry struct {
	kind    kind
	node    *Node       // kindNS, kindNode
	api     string      // kindEdge, kindRegional, kindPrivate; an edge kindDomain's name
	region  string      // kindRegional, kindPrivate
	regions []string    // kindDomain
	edge    bool        // kindDomain served by the edges: answered like an edge name
	ready   uint64      // APIInfo.ReadyIndex of kindEdge, kindRegional, kindPrivate
	sel     *selections // kindEdge, kindRegional, kindPrivate, kindDomain: see selection.go
}

// byEdges says whether e is answered with the nearest edges.
func (e entry) byEdges() bool { return e.kind == kindEdge || (e.kind == kindDomain && e.edge) }

// index is a Snapshot prepared for lookups, built once per snapshot
// pointer and never modified after: every name that exists, by lowercase
// FQDN, and the node lists answers are picked from.
type index struct {
	snap   *Snapshot
	noZone bool   // the snapshot names no zone: nothing is answered
	zone   string // lowercase FQDN
	ttl    uint32
	serial uint32
	mname  string // SOA primary name server
	rname  string // SOA mailbox

	names    map[string]entry // names that exist for everyone
	internal map[string]entry // names that exist only for internal clients
	domains  map[string]entry // custom domains

	nsHosts  []*Node            // dns nodes answered in NS: healthy ones, or all (fail open)
	edges    []*Node            // nodes with the edge role
	regional map[string][]*Node // region → nodes with the regional role
	rules    []LatencyRule      // valid, masked, longest prefix first
	nets     []netip.Prefix     // internal networks, masked
}

// newIndex indexes snap. self is the answering node's name, used for the
// SOA primary when the snapshot has no dns node.
func newIndex(snap *Snapshot, self string, log *slog.Logger) *index {
	ix := &index{
		snap:     snap,
		zone:     canonical(snap.Zone),
		ttl:      cmp.Or(snap.TTL, DefaultTTL),
		serial:   snap.Serial,
		names:    map[string]entry{},
		internal: map[string]entry{},
		domains:  map[string]entry{},
		regional: map[string][]*Node{},
	}
	if ix.zone == "." {
		// Answering for the root would claim every name there is.
		log.Error("snapshot has no zone; answering SERVFAIL until it has one")
		ix.noZone = true
		return ix
	}
	ix.rname = hostmaster + "." + ix.zone
	ix.names[ix.zone] = entry{kind: kindApex}

	nodes := make([]*Node, 0, len(snap.Nodes))
	for i := range snap.Nodes {
		nodes = append(nodes, &snap.Nodes[i])
	}
	slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	var dnsNodes []*Node
	for _, n := range nodes {
		label := strings.ToLower(n.Name)
		if !validLabel(label) {
			log.Warn("node name is not a DNS label; not answered by name", "node", n.Name)
		} else {
			ix.add(log, ix.names, label+"."+labelNodes+"."+ix.zone, entry{kind: kindNode, node: n})
			if n.hasRole(roleDNS) {
				ix.add(log, ix.names, nsPrefix+label+"."+ix.zone, entry{kind: kindNS, node: n})
				dnsNodes = append(dnsNodes, n)
			}
		}
		if n.hasRole(roleEdge) {
			ix.edges = append(ix.edges, n)
		}
		if n.hasRole(roleRegional) {
			ix.regional[n.Region] = append(ix.regional[n.Region], n)
		}
	}
	ix.nsHosts, _ = healthyOrAll(dnsNodes)
	switch {
	case len(dnsNodes) > 0:
		ix.mname = nsPrefix + strings.ToLower(dnsNodes[0].Name) + "." + ix.zone
	case validLabel(strings.ToLower(self)):
		ix.mname = nsPrefix + strings.ToLower(self) + "." + ix.zone
	default:
		ix.mname = ix.zone
	}

	for _, id := range slices.Sorted(maps.Keys(snap.APIs)) {
		api := snap.APIs[id]
		label, home := strings.ToLower(id), strings.ToLower(api.HomeRegion)
		if !validLabel(label) {
			log.Warn("API id is not a DNS label; not answered", "api", id)
			continue
		}
		if api.Edge {
			ix.add(log, ix.names, label+"."+labelEdge+"."+ix.zone, entry{kind: kindEdge, api: id, ready: api.ReadyIndex, sel: new(selections)})
		}
		if (api.Regional || api.Private) && !validLabel(home) {
			log.Warn("API home region is not a DNS label; regional and private names not answered", "api", id, "region", api.HomeRegion)
			continue
		}
		if api.Regional {
			ix.add(log, ix.names, label+"."+home+"."+ix.zone, entry{kind: kindRegional, api: id, region: api.HomeRegion, ready: api.ReadyIndex, sel: new(selections)})
		}
		if api.Private {
			ix.add(log, ix.internal, label+"."+labelPrivate+"."+home+"."+ix.zone, entry{kind: kindPrivate, api: id, region: api.HomeRegion, ready: api.ReadyIndex, sel: new(selections)})
		}
	}

	for name, d := range snap.Domains {
		c := canonical(name)
		if c == ix.zone || dns.IsSubDomain(ix.zone, c) {
			log.Warn("custom domain inside the zone is ignored", "domain", name, "zone", ix.zone)
			continue
		}
		ix.domains[c] = entry{kind: kindDomain, regions: d.Regions, edge: d.Edge, api: c, sel: new(selections)}
	}

	for _, r := range snap.LatencyMap {
		if !r.Client.IsValid() || (r.Node == "" && r.Region == "") {
			continue
		}
		r.Client = r.Client.Masked()
		ix.rules = append(ix.rules, r)
	}
	slices.SortStableFunc(ix.rules, func(a, b LatencyRule) int { return cmp.Compare(b.Client.Bits(), a.Client.Bits()) })
	for _, p := range snap.Internal {
		if p.IsValid() {
			ix.nets = append(ix.nets, p.Masked())
		}
	}
	return ix
}

// add records name in m (ix.names or ix.internal) with its ancestors up
// to the zone as empty non-terminals. A name that already exists keeps
// its first meaning; only an empty non-terminal is replaced.
func (ix *index) add(log *slog.Logger, m map[string]entry, name string, e entry) {
	for _, in := range []map[string]entry{ix.names, m} {
		if old, ok := in[name]; ok && old.kind != kindENT {
			log.Warn("name conflict; keeping the first meaning", "name", name, "kept", old.kind.String(), "dropped", e.kind.String())
			return
		}
	}
	m[name] = e
	for p := parent(name); p != ix.zone && p != ""; p = parent(p) {
		if _, ok := ix.names[p]; ok {
			return
		}
		if _, ok := m[p]; ok {
			return
		}
		m[p] = entry{kind: kindENT}
	}
}

// where says how a name relates to what the server answers.
type where uint8

const (
	outside    where = iota // neither the zone nor a custom domain: REFUSED
	inZone                  // under the zone (entry may be absent: NXDOMAIN)
	inDomain                // a custom domain
	inPrivate               // under private.{region}.Z (split horizon)
	inPrivateX              // under private.{region}.Z, asked by an external client
)

// lookup finds name (lowercase FQDN). For an external client, everything
// under private.{region}.Z does not exist, whatever is there.
func (ix *index) lookup(name string, internal bool) (entry, bool, where) {
	if name != ix.zone && !isSubdomain(name, ix.zone) {
		e, ok := ix.domains[name]
		if !ok {
			return entry{}, false, outside
		}
		return e, true, inDomain
	}
	if ix.privateTree(name) {
		if !internal {
			return entry{}, false, inPrivateX
		}
		if e, ok := ix.internal[name]; ok {
			return e, true, inPrivate
		}
		e, ok := ix.names[name]
		return e, ok, inPrivate
	}
	if internal {
		if e, ok := ix.internal[name]; ok {
			return e, true, inZone
		}
	}
	e, ok := ix.names[name]
	return e, ok, inZone
}

// privateTree reports whether name (under the zone) is private.{region}.Z
// or below it.
func (ix *index) privateTree(name string) bool {
	if len(name) <= len(ix.zone) {
		return false
	}
	rel := name[:len(name)-len(ix.zone)-1] // "{id}.private.{region}"
	i := strings.LastIndexByte(rel, '.')
	if i < 0 {
		return false
	}
	rest := rel[:i]
	return rest == labelPrivate || strings.HasSuffix(rest, "."+labelPrivate)
}

// isSubdomain reports whether name (lowercase FQDN) is strictly below
// zone. Names with escapes take miekg's label-aware comparison.
func isSubdomain(name, zone string) bool {
	if strings.IndexByte(name, '\\') >= 0 {
		return name != zone && dns.IsSubDomain(zone, name)
	}
	return len(name) > len(zone) && strings.HasSuffix(name, zone) && name[len(name)-len(zone)-1] == '.'
}

func parent(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return ""
	}
	return name[i+1:]
}

// canonical is name as a lowercase FQDN.
func canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// validLabel reports whether s is a lowercase LDH label (RFC 1123 section
// 2.1), underscores allowed.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// healthyOrAll returns the healthy nodes of ns, or all of them when none
// is healthy (fail open, as Route 53 does); failOpen says which.
func healthyOrAll(ns []*Node) (out []*Node, failOpen bool) {
	return readyOrAll(ns, 0)
}

// readyOrAll are the healthy nodes of ns that serve config index ready or
// later (they serve the API's current deployments); when none does yet,
// the healthy ones; when none is healthy, all of them (fail open).
func readyOrAll(ns []*Node, ready uint64) (out []*Node, failOpen bool) {
	lagging := 0
	for _, n := range ns {
		if n.Healthy {
			if n.ConfigIndex >= ready {
				out = append(out, n)
			} else {
				lagging++
			}
		}
	}
	if len(out) == 0 && lagging > 0 {
		return readyOrAll(ns, 0)
	}
	if len(out) == 0 && len(ns) > 0 {
		return ns, true
	}
	return out, false
}
