package dns

import (
	"net/netip"
	"slices"
	"time"
)

// View is how the server reads the cluster. The node implements it (a
// pointer it swaps when membership, health, definitions or the latency map
// change); the server calls it once per query.
type View interface {
	// Snapshot returns the current picture. It must never block: return
	// a pointer kept in an atomic.Pointer, not something built on demand.
	// The returned value is never modified by anyone afterwards, and the
	// same pointer is returned until something changed: the server
	// indexes each new pointer once. A nil Snapshot (the node is not
	// ready) is answered with SERVFAIL.
	Snapshot() *Snapshot
}

// Latency is the measured latency source. It is optional: without one,
// only the operator's latency map and the fallback order pick answers.
// Both methods run on the query path of every latency-routed answer, so
// they must not block (read an in-memory table; no I/O, no lock held
// across anything slow) and must be safe for concurrent use.
type Latency interface {
	// RTT is the typical round trip between clients of the network and
	// the node, aggregated from the TCP round trips of client connections
	// and shared through gossip. client is the client network, masked: a
	// /24 (IPv4) or /56 (IPv6), or shorter when the resolver sent a
	// shorter client subnet. ok is false when nothing is known.
	RTT(client netip.Prefix, node string) (rtt time.Duration, ok bool)
	// NodeRTT is the estimated round trip between two nodes (gossip
	// coordinates). The server asks it with from = the answering node
	// (Config.NodeName), as a proxy for where the client is when nothing
	// about the client is known: a resolver usually asks the closest of
	// the zone's name servers. NodeRTT(n, n) should report 0, true.
	NodeRTT(from, to string) (rtt time.Duration, ok bool)
}

// Snapshot is an immutable picture of everything the answers depend on.
type Snapshot struct {
	// Zone is the zone the server is authoritative for, e.g.
	// "portico.localhost." (case and the final dot do not matter).
	Zone string
	// TTL of every answer, and the SOA minimum (the negative-caching TTL,
	// RFC 2308). 0 means DefaultTTL.
	TTL uint32
	// Serial is the SOA serial. The node raises it when answers may have
	// changed (the applied config index, or a counter of snapshots).
	Serial uint32
	// Nodes is every known node, healthy or not.
	Nodes []Node
	// APIs maps an API id to where it is published.
	APIs map[string]APIInfo
	// Domains maps a custom domain name (a FQDN, any case) to the regions
	// it is mapped in. Base-path mappings do not matter to DNS.
	Domains map[string]Domain
	// Internal lists the internal networks: only clients in them get the
	// answers for private names (split horizon).
	Internal []netip.Prefix
	// LatencyMap is the operator's latency map. For a client, the rule
	// with the longest prefix containing it that names a node (or that
	// node's region) gives that node's latency.
	LatencyMap []LatencyRule
}

// DefaultTTL is Snapshot.TTL when unset: answers on health-checked names
// must leave caches within a minute (DESIGN: 60 s or less).
const DefaultTTL = 60

// Node is one node of the cluster as DNS sees it.
type Node struct {
	// Name is the node name; it must be a DNS label (letters, digits,
	// dashes) to be answered under nodes.{zone} and ns-{name}.{zone}.
	Name string
	// Region is the node's region, also a DNS label.
	Region string
	// Roles the node holds: "edge", "regional", "dns", "control" (the
	// strings of configs.RoleEdge and friends). Others are ignored.
	Roles []string
	// Public are the addresses clients reach the node at (A and AAAA).
	Public []netip.Addr
	// Private are the node's internal addresses, answered for private
	// names to internal clients only.
	Private []netip.Addr
	// Healthy nodes are answered; unhealthy ones only when every
	// candidate of a name is unhealthy (fail open).
	Healthy bool
	// ConfigIndex is the config index the node serves (see
	// APIInfo.ReadyIndex).
	ConfigIndex uint64
	// Load is the node's load, 0 (idle) to 1 (saturated); it breaks ties
	// between candidates of equal latency.
	Load float64
}

// Node roles read from Node.Roles (the values of configs.RoleEdge,
// configs.RoleRegional and configs.RoleDNS; repeated here so that dns
// does not import configs).
const (
	roleEdge     = "edge"
	roleRegional = "regional"
	roleDNS      = "dns"
)

// APIInfo is what DNS needs of an API definition.
type APIInfo struct {
	// HomeRegion is the region whose regional nodes serve the API.
	HomeRegion string
	// Edge, Regional and Private are the endpoint types it is published
	// under: {id}.edge.{zone}, {id}.{home}.{zone} and
	// {id}.private.{home}.{zone} exist only for the types it has.
	Edge, Regional, Private bool
	// ReadyIndex: a node serves the API's current deployments once its
	// ConfigIndex reaches it. Among healthy nodes, those are preferred;
	// 0 means any.
	ReadyIndex uint64
}

// Domain is a custom domain as DNS sees it.
type Domain struct {
	// Regions the domain is mapped in, in the operator's order of
	// preference (the fallback order when no latency is known).
	Regions []string
	// Edge domains are served by every edge node and answered like an
	// API's edge name: the nearest healthy edges. Regions is ignored.
	Edge bool
}

// LatencyRule is one entry of the operator's latency map: clients in
// Client reach Node (or, when Node is empty, every node of Region) in
// RTT.
type LatencyRule struct {
	Client netip.Prefix
	Region string
	Node   string
	RTT    time.Duration
}

func (n *Node) hasRole(role string) bool { return slices.Contains(n.Roles, role) }
