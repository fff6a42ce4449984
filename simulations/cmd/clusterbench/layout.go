package main

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

// regions of the cluster, in `portico dev` order: one control+regional
// node and one edge node each.
var regions = []string{"us-east-1", "eu-west-1", "ap-southeast-1"}

// Ports every node uses on its own loopback address, as `portico dev`
// does; the addresses differ, so the ports never collide.
const (
	adminPort    = 9180
	raftPort     = 9181
	gossipPort   = 9182
	internalPort = 9183
	regionalPort = 8443
)

// raftTimeout is the heartbeat and election timeout of every control node,
// the tighter loopback timing `portico dev` uses.
const raftTimeout = 500 * time.Millisecond

// zone is the DNS zone of invoke hosts.
const zone = "portico.localhost"

// layout writes the cluster's CA, gossip key, certificates and node
// configs under dir and returns the configs with their files: control
// nodes first (node i listens on prefix.i+1), then edges. Every node
// joins through the gossip addresses of the control nodes other than
// itself, so a restarted node finds the cluster whichever one it is.
func layout(dir, prefix string) ([]configs.Node, []string, error) {
	ca, err := pki.CreateCA(filepath.Join(dir, "ca"))
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
	for _, r := range regions {
		nodes = append(nodes, configs.Node{Name: r + "-a", Region: r,
			Roles: []string{configs.RoleControl, configs.RoleRegional}, BootstrapExpect: len(regions)})
	}
	for _, r := range regions {
		nodes = append(nodes, configs.Node{Name: r + "-edge-1", Region: r, Roles: []string{configs.RoleEdge}})
	}
	var files []string
	for i := range nodes {
		nd := &nodes[i]
		nd.Zone = zone
		nd.DataDir = filepath.Join(dir, "nodes", nd.Name)
		nd.Admin.Listen = addr(i, adminPort)
		nd.Raft.Listen = addr(i, raftPort)
		nd.Raft.HeartbeatTimeout, nd.Raft.ElectionTimeout = configs.Duration(raftTimeout), configs.Duration(raftTimeout)
		nd.Gossip.Listen = addr(i, gossipPort)
		nd.Gossip.KeyFile = keyFile
		nd.Internal.Listen = addr(i, internalPort)
		nd.Regional.Listen = addr(i, regionalPort)
		nd.AccessLog = "off"
		nd.ShutdownGrace = configs.Duration(2 * time.Second)
		for c := range regions {
			if c != i {
				nd.Join = append(nd.Join, addr(c, gossipPort))
			}
		}
		tlsDir := filepath.Join(nd.DataDir, "tls")
		hostIP := net.ParseIP(ip(i))
		cert, key, err := ca.IssueFiles(tlsDir, "node", pki.IssueOptions{CommonName: nd.Name, IPs: []net.IP{hostIP}})
		if err != nil {
			return nil, nil, fmt.Errorf("node certificate for %s: %w", nd.Name, err)
		}
		nd.TLS = configs.ClusterTLS{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}
		if nd.HasRole(configs.RoleRegional) {
			names := []string{"*." + nd.Region + "." + zone, nd.Region + "." + zone}
			cert, key, err := ca.IssueFiles(tlsDir, "server", pki.IssueOptions{CommonName: nd.Name, DNSNames: names, IPs: []net.IP{hostIP}})
			if err != nil {
				return nil, nil, fmt.Errorf("server certificate for %s: %w", nd.Name, err)
			}
			nd.Regional.CertFile, nd.Regional.KeyFile = cert, key
		}
		b, err := json.MarshalIndent(nd, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		file := filepath.Join(dir, nd.Name+".json")
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			return nil, nil, err
		}
		files = append(files, file)
	}
	return nodes, files, nil
}

// pickPrefix returns a random 127.x.y loopback /24 on which every listener
// of n nodes can bind (127.50-99.*, apart from the ranges the node tests
// draw from).
func pickPrefix(n int) (string, error) {
	var lastErr error
	for range 20 {
		prefix := fmt.Sprintf("127.%d.%d", 50+rand.IntN(50), rand.IntN(250))
		if lastErr = canBind(prefix, n); lastErr == nil {
			return prefix, nil
		}
	}
	return "", fmt.Errorf("no free loopback /24 (needs 127.0.0.0/8 routed to lo, as on Linux): %w", lastErr)
}

// canBind checks that every address of n nodes on prefix is free.
func canBind(prefix string, n int) error {
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for i := range n {
		ip := fmt.Sprintf("%s.%d", prefix, i+1)
		for _, port := range []int{adminPort, raftPort, gossipPort, internalPort, regionalPort} {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			closers = append(closers, ln)
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(gossipPort)))
		if err != nil {
			return err
		}
		closers = append(closers, pc)
	}
	return nil
}
