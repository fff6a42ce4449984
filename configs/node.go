package configs

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Node roles. A node may hold several.
const (
	RoleControl  = "control"  // Raft voter holding the consistent state
	RoleRegional = "regional" // regional and private endpoints, integrations
	RoleEdge     = "edge"     // edge-optimized endpoints and the edge cache
	RoleDNS      = "dns"      // authoritative DNS for the zone
)

// Node is one process's configuration. Durations are strings ("5s").
type Node struct {
	// Name identifies the node in the cluster; default "node-1".
	Name string `json:"name"`
	// Region the node runs in; default "us-east-1".
	Region string `json:"region"`
	// Roles the node holds; default every role.
	Roles []string `json:"roles,omitempty"`
	// DataDir holds the Raft log, snapshots and generated certificates.
	DataDir string `json:"data_dir"`
	// Zone is the DNS zone of invoke hosts: a regional API answers at
	// {apiId}.{region}.{zone}. Default "portico.localhost".
	Zone string `json:"zone"`

	Admin    AdminConfig    `json:"admin"`
	Regional ListenerConfig `json:"regional"`
	// Edge is the edge-optimized listener (role edge): HTTP/1.1 and
	// HTTP/2 on TCP and HTTP/3 on UDP, same port; default 127.0.0.1:8444.
	// Its generated certificate also names *.edge.{zone}.
	Edge ListenerConfig `json:"edge"`
	Raft RaftConfig     `json:"raft"`
	// Internal is the node-to-node HTTPS listener (mutual TLS under the
	// cluster CA): forwarded writes, config following, admin fan-out.
	Internal InternalConfig `json:"internal"`
	Gossip   GossipConfig   `json:"gossip"`
	// TLS holds the node-to-node certificate. When all three files are
	// empty a cluster CA and a node certificate are generated under
	// data_dir/tls (fine for one node; a cluster shares one CA: see
	// `portico ca`).
	TLS ClusterTLS `json:"tls"`
	// Join lists gossip addresses (host:port) of nodes to join at start.
	Join []string `json:"join,omitempty"`
	// BootstrapExpect is how many control nodes must meet through gossip
	// before they bootstrap a new Raft cluster together. Default 1 when
	// join is empty (a standalone node), else 0: join an existing cluster.
	BootstrapExpect int `json:"bootstrap_expect,omitempty"`

	// DNS is the authoritative DNS server (role dns).
	DNS DNSConfig `json:"dns"`
	// InternalNetworks are the networks treated as internal ("VPCs"),
	// with this node's address on each.
	InternalNetworks []InternalNetwork `json:"internal_networks,omitempty"`
	// Private is shared by the private listeners (see InternalNetwork).
	Private PrivateConfig `json:"private,omitzero"`
	// DomainCertificates are served on the regional and edge listeners
	// beside the node's own certificate, chosen by the name the client
	// asks for (SNI): the certificates of custom domain names.
	DomainCertificates []CertificateFiles `json:"domain_certificates,omitempty"`
	// PublicAddresses are the addresses public clients reach this node
	// at, answered by DNS for its public names; default the hosts of its
	// regional, edge and dns listeners (which must then not be
	// wildcards to be answered).
	PublicAddresses []string `json:"public_addresses,omitempty"`

	// AccessLog is "stdout", "stderr", a file path, or "off"; default stdout.
	AccessLog string `json:"access_log,omitempty"`
	// ShutdownGrace bounds how long in-flight requests may drain; default 10s.
	ShutdownGrace Duration `json:"shutdown_grace,omitempty"`
	// DefaultThrottle is the node group's limit, API Gateway's account
	// level: every stage's requests together, across the cluster (so
	// every node should say the same). Default 10,000 rps, burst 5,000;
	// rate_limit 0 turns the level off.
	DefaultThrottle *Throttle `json:"default_throttle,omitempty"`
}

// CertificateFiles is a PEM certificate chain and its key.
type CertificateFiles struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// AdminConfig is the admin API listener (plain HTTP, loopback by default).
type AdminConfig struct {
	// Listen address; default 127.0.0.1:9180.
	Listen string `json:"listen"`
}

// ListenerConfig is a public HTTPS listener.
type ListenerConfig struct {
	// Listen address; default 127.0.0.1:8443.
	Listen string `json:"listen"`
	// Advertise is the host:port put in invoke URLs; default Listen.
	Advertise string `json:"advertise,omitempty"`
	// TLS files; when both are empty a certificate for the node's names is
	// generated under data_dir/tls and signed by a local CA written there.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// RaftConfig is the Raft transport listener and timing.
type RaftConfig struct {
	// Listen address; default 127.0.0.1:9181.
	Listen string `json:"listen"`
	// Advertise is the address other voters dial; default Listen.
	Advertise string `json:"advertise,omitempty"`
	// HeartbeatTimeout and ElectionTimeout; default 1s each (raft's
	// defaults; leader failover measured at 2-2.9s on a LAN).
	HeartbeatTimeout Duration `json:"heartbeat_timeout,omitempty"`
	ElectionTimeout  Duration `json:"election_timeout,omitempty"`
	// SnapshotThreshold is how many log entries trigger a snapshot, and
	// TrailingLogs how many entries a snapshot leaves in the log for
	// followers that are slightly behind (others get the snapshot).
	// Defaults 8192 and 10240 (raft's).
	SnapshotThreshold uint64 `json:"snapshot_threshold,omitempty"`
	TrailingLogs      uint64 `json:"trailing_logs,omitempty"`
}

// InternalConfig is the node-to-node listener.
type InternalConfig struct {
	// Listen address; default 127.0.0.1:9183.
	Listen string `json:"listen"`
	// Advertise is the address other nodes dial; default Listen.
	Advertise string `json:"advertise,omitempty"`
}

// GossipConfig is the gossip (serf/memberlist) listener and keyring.
type GossipConfig struct {
	// Listen address (TCP and UDP); default 127.0.0.1:9182.
	Listen string `json:"listen"`
	// Advertise is the address other nodes reach; default Listen.
	Advertise string `json:"advertise,omitempty"`
	// KeyFile is a file holding the base64 gossip encryption key (16, 24
	// or 32 bytes) used when the node has no keyring yet; rotations are
	// kept in data_dir/gossip/keyring. Empty: gossip is not encrypted.
	KeyFile string `json:"key_file,omitempty"`
}

// ClusterTLS is the node's certificate for node-to-node mutual TLS.
type ClusterTLS struct {
	CAFile   string `json:"ca_file,omitempty"`
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// DefaultNode returns a node config with every default filled in.
func DefaultNode() Node {
	var n Node
	n.ApplyDefaults()
	return n
}

// ApplyDefaults fills unset fields with their documented defaults.
func (n *Node) ApplyDefaults() {
	if n.Name == "" {
		n.Name = "node-1"
	}
	if n.Region == "" {
		n.Region = "us-east-1"
	}
	if len(n.Roles) == 0 {
		n.Roles = []string{RoleControl, RoleRegional, RoleEdge, RoleDNS}
	}
	if n.DataDir == "" {
		n.DataDir = "data"
	}
	if n.Zone == "" {
		n.Zone = "portico.localhost"
	}
	if n.Admin.Listen == "" {
		n.Admin.Listen = "127.0.0.1:9180"
	}
	if n.Regional.Listen == "" {
		n.Regional.Listen = "127.0.0.1:8443"
	}
	if n.Edge.Listen == "" {
		n.Edge.Listen = "127.0.0.1:8444"
	}
	if n.DNS.Listen == "" {
		n.DNS.Listen = "127.0.0.1:8053"
	}
	if n.Raft.Listen == "" {
		n.Raft.Listen = "127.0.0.1:9181"
	}
	if n.Internal.Listen == "" {
		n.Internal.Listen = "127.0.0.1:9183"
	}
	if n.Gossip.Listen == "" {
		n.Gossip.Listen = "127.0.0.1:9182"
	}
	if n.BootstrapExpect == 0 && len(n.Join) == 0 && n.HasRole(RoleControl) {
		n.BootstrapExpect = 1
	}
	if n.Raft.HeartbeatTimeout == 0 {
		n.Raft.HeartbeatTimeout = Duration(time.Second)
	}
	if n.Raft.ElectionTimeout == 0 {
		n.Raft.ElectionTimeout = Duration(time.Second)
	}
	if n.AccessLog == "" {
		n.AccessLog = "stdout"
	}
	if n.DefaultThrottle == nil {
		n.DefaultThrottle = &Throttle{RateLimit: DefaultRateLimit, BurstLimit: DefaultBurstLimit}
	}
	if n.ShutdownGrace == 0 {
		n.ShutdownGrace = Duration(10 * time.Second)
	}
	n.applyPrivateDefaults()
}

// HasRole reports whether the node holds the role.
func (n *Node) HasRole(r string) bool { return slices.Contains(n.Roles, r) }

// ServesRequests reports whether a node holding roles serves API requests
// (a gateway node): it has the regional or the edge role.
func ServesRequests(roles []string) bool {
	return slices.Contains(roles, RoleRegional) || slices.Contains(roles, RoleEdge)
}

// Validate reports every problem in the node config.
func (n *Node) Validate() error {
	var p problems
	if !regionRE.MatchString(n.Name) {
		p.add("name", "must be lowercase letters, digits and dashes")
	}
	if !regionRE.MatchString(n.Region) {
		p.add("region", "must be lowercase letters, digits and dashes")
	}
	for i, r := range n.Roles {
		if !slices.Contains([]string{RoleControl, RoleRegional, RoleEdge, RoleDNS}, r) {
			p.add(fmt.Sprintf("roles[%d]", i), "must be control, regional, edge or dns, not %q", r)
		}
	}
	if n.DataDir == "" {
		p.add("data_dir", "is required")
	}
	checkAddr(&p, "admin.listen", n.Admin.Listen)
	checkAddr(&p, "regional.listen", n.Regional.Listen)
	checkAddr(&p, "raft.listen", n.Raft.Listen)
	if n.Regional.Advertise != "" {
		checkHostPort(&p, "regional.advertise", n.Regional.Advertise)
	}
	checkAddr(&p, "edge.listen", n.Edge.Listen)
	if n.Edge.Advertise != "" {
		checkHostPort(&p, "edge.advertise", n.Edge.Advertise)
	}
	if (n.Edge.CertFile == "") != (n.Edge.KeyFile == "") {
		p.add("edge.cert_file", "cert_file and key_file must be set together")
	}
	if n.Raft.Advertise != "" {
		checkAddr(&p, "raft.advertise", n.Raft.Advertise)
	}
	checkAddr(&p, "internal.listen", n.Internal.Listen)
	if n.Internal.Advertise != "" {
		checkAddr(&p, "internal.advertise", n.Internal.Advertise)
	}
	checkAddr(&p, "gossip.listen", n.Gossip.Listen)
	n.validateDNS(&p)
	n.validatePrivate(&p)
	if n.Gossip.Advertise != "" {
		checkAddr(&p, "gossip.advertise", n.Gossip.Advertise)
	}
	for i, j := range n.Join {
		checkAddr(&p, fmt.Sprintf("join[%d]", i), j)
	}
	switch set := btoi(n.TLS.CAFile != "") + btoi(n.TLS.CertFile != "") + btoi(n.TLS.KeyFile != ""); set {
	case 0, 3:
	default:
		p.add("tls", "ca_file, cert_file and key_file must be set together")
	}
	if n.BootstrapExpect < 0 || n.BootstrapExpect > 7 {
		p.add("bootstrap_expect", "must be between 0 and 7")
	}
	if n.BootstrapExpect > 0 && !n.HasRole(RoleControl) {
		p.add("bootstrap_expect", "only control nodes bootstrap Raft")
	}
	if n.Raft.HeartbeatTimeout.D() < 50*time.Millisecond || n.Raft.ElectionTimeout.D() < 50*time.Millisecond {
		p.add("raft", "heartbeat_timeout and election_timeout must be at least 50ms")
	}
	if (n.Regional.CertFile == "") != (n.Regional.KeyFile == "") {
		p.add("regional.cert_file", "cert_file and key_file must be set together")
	}
	// rate_limit 0 turns the level off, but the burst must still be in
	// range (validate asks for none then).
	n.DefaultThrottle.validate(&p, "default_throttle")
	if n.ShutdownGrace < 0 {
		p.add("shutdown_grace", "must not be negative")
	}
	for i, c := range n.DomainCertificates {
		if c.CertFile == "" || c.KeyFile == "" {
			p.add(fmt.Sprintf("domain_certificates[%d]", i), "cert_file and key_file are both required")
		}
	}
	return p.err()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkAddr(p *problems, field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(field, "must be host:port, not %q", addr)
		return
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host != "localhost" {
		p.add(field, "host must be an IP address, not %q", host)
	}
	// A number, not a service name: net.LookupPort would read
	// /etc/services, and this package does no I/O.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(field, "port must be a number from 0 to 65535, not %q", port)
	}
}

var hostnameRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkHostPort accepts a DNS name as well as an IP: it is what clients
// see in invoke URLs, not something this node binds.
func checkHostPort(p *problems, field, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err == nil && hostnameRE.MatchString(strings.ToLower(host)) {
		if _, ipErr := netip.ParseAddr(host); ipErr != nil {
			checkAddr(p, field, net.JoinHostPort("", mustPort(addr)))
			return
		}
	}
	checkAddr(p, field, addr)
}

func mustPort(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// LoadNode reads a node config file (YAML or JSON, strict), fills
// defaults and validates it.
func LoadNode(data []byte) (*Node, error) {
	var n Node
	if err := DecodeStrict(data, &n); err != nil {
		return nil, err
	}
	n.ApplyDefaults()
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}
