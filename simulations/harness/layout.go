package harness

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// Ports every node uses on its own loopback address, as `portico dev`
// does; the addresses differ, so the ports never collide.
const (
	AdminPort    = 9180
	RaftPort     = 9181
	GossipPort   = 9182
	InternalPort = 9183
	RegionalPort = 8443
	EdgePort     = 8444
)

// Layout describes a loopback cluster in `portico dev` order: one
// control+regional node per region, then, with Edges, one edge node per
// region.
type Layout struct {
	Regions     []string
	Edges       bool
	Zone        string        // DNS zone of invoke hosts
	RaftTimeout time.Duration // heartbeat and election timeout of every control node
}

// Nodes is how many nodes the layout has.
func (l Layout) Nodes() int {
	if l.Edges {
		return 2 * len(l.Regions)
	}
	return len(l.Regions)
}

// Write writes the cluster's CA, gossip key, certificates and node configs
// under dir and returns the configs with their files: control nodes first
// (node i listens on prefix.i+1), then edges. Every node joins through
// the gossip addresses of the control nodes other than itself, so a
// restarted node finds the cluster whichever one it is.
func (l Layout) Write(dir, prefix string) ([]configs.Node, []string, error) {
	ca, err := pki.CreateCA(caDir(dir))
	if err != nil {
		return nil, nil, err
	}
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(cluster.GenerateKey())+"\n"), 0o600); err != nil {
		return nil, nil, fmt.Errorf("write gossip key: %w", err)
	}
	ip := func(i int) string { return fmt.Sprintf("%s.%d", prefix, i+1) }
	addr := func(i, port int) string { return net.JoinHostPort(ip(i), strconv.Itoa(port)) }
	var nodes []configs.Node
	for _, r := range l.Regions {
		nodes = append(nodes, configs.Node{Name: r + "-a", Region: r,
			Roles: []string{configs.RoleControl, configs.RoleRegional}, BootstrapExpect: len(l.Regions)})
	}
	if l.Edges {
		for _, r := range l.Regions {
			nodes = append(nodes, configs.Node{Name: r + "-edge-1", Region: r, Roles: []string{configs.RoleEdge}})
		}
	}
	var files []string
	for i := range nodes {
		nd := &nodes[i]
		nd.Zone = l.Zone
		nd.DataDir = filepath.Join(dir, "nodes", nd.Name)
		nd.Admin.Listen = addr(i, AdminPort)
		nd.Raft.Listen = addr(i, RaftPort)
		nd.Raft.HeartbeatTimeout, nd.Raft.ElectionTimeout = configs.Duration(l.RaftTimeout), configs.Duration(l.RaftTimeout)
		nd.Gossip.Listen = addr(i, GossipPort)
		nd.Gossip.KeyFile = keyFile
		nd.Internal.Listen = addr(i, InternalPort)
		nd.Regional.Listen = addr(i, RegionalPort)
		nd.Edge.Listen = addr(i, EdgePort)
		benchDefaults(nd)
		nd.ShutdownGrace = configs.Duration(2 * time.Second)
		for c := range l.Regions {
			if c != i {
				nd.Join = append(nd.Join, addr(c, GossipPort))
			}
		}
		tlsDir := filepath.Join(nd.DataDir, "tls")
		hostIP := net.ParseIP(ip(i))
		cert, key, err := ca.IssueFiles(tlsDir, "node", pki.IssueOptions{CommonName: nd.Name, IPs: []net.IP{hostIP}})
		if err != nil {
			return nil, nil, fmt.Errorf("node certificate for %s: %w", nd.Name, err)
		}
		nd.TLS = configs.ClusterTLS{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}
		if configs.ServesRequests(nd.Roles) {
			names := []string{"*." + nd.Region + "." + l.Zone, nd.Region + "." + l.Zone, "*.edge." + l.Zone}
			cert, key, err := ca.IssueFiles(tlsDir, "server", pki.IssueOptions{CommonName: nd.Name, DNSNames: names, IPs: []net.IP{hostIP}})
			if err != nil {
				return nil, nil, fmt.Errorf("server certificate for %s: %w", nd.Name, err)
			}
			nd.Regional.CertFile, nd.Regional.KeyFile = cert, key
			nd.Edge.CertFile, nd.Edge.KeyFile = cert, key
		}
		file := filepath.Join(dir, nd.Name+".json")
		if err := writeNodeConfig(file, nd); err != nil {
			return nil, nil, err
		}
		files = append(files, file)
	}
	return nodes, files, nil
}

// benchDefaults sets what every benchmarked node shares, in a Layout and
// as a SingleNode: no access log, and the node group's default throttle
// raised to the maximum, since the default (10,000 rps) would cap the
// measurements.
func benchDefaults(nd *configs.Node) {
	nd.AccessLog = "off"
	nd.DefaultThrottle = &configs.Throttle{RateLimit: configs.MaxRateLimit, BurstLimit: configs.MaxBurstLimit}
}

// writeNodeConfig writes nd as the JSON config file `portico run
// --config` reads.
func writeNodeConfig(file string, nd *configs.Node) error {
	b, err := json.MarshalIndent(nd, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// CA loads the certificate authority Write created under dir, to issue
// more certificates from it (for a server the drivers compare with).
func (l Layout) CA(dir string) (*pki.CA, error) { return pki.LoadCA(caDir(dir)) }

func caDir(dir string) string { return filepath.Join(dir, "ca") }

// PickPrefix returns a random 127.x.y loopback /24, x in [first,
// first+50), on which every listener of n nodes can bind. Callers draw x
// from disjoint ranges so that concurrent runs cannot collide.
func PickPrefix(first, n int) (string, error) {
	var lastErr error
	for range 20 {
		prefix := fmt.Sprintf("127.%d.%d", first+rand.IntN(50), rand.IntN(250))
		if lastErr = CanBind(prefix, n); lastErr == nil {
			return prefix, nil
		}
	}
	return "", fmt.Errorf("no free loopback /24 (needs 127.0.0.0/8 routed to lo, as on Linux): %w", lastErr)
}

// CanBind checks that every address of n nodes on prefix is free.
func CanBind(prefix string, n int) error {
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for i := range n {
		ip := fmt.Sprintf("%s.%d", prefix, i+1)
		for _, port := range []int{AdminPort, RaftPort, GossipPort, InternalPort, RegionalPort, EdgePort} {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			closers = append(closers, ln)
		}
		// Gossip, and HTTP/3 on the internal and edge listeners.
		for _, port := range []int{GossipPort, InternalPort, EdgePort} {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			closers = append(closers, pc)
		}
	}
	return nil
}
