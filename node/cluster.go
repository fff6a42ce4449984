package node

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// maxVoters is the largest Raft group the leader builds from gossip; more
// control nodes stay out of Raft (3 or 5 voters is the design).
const maxVoters = 5

// clusterTLS loads the node-to-node certificate, or generates a CA and a
// node certificate under data_dir/tls when none is configured (one node;
// a cluster shares one CA, see `portico ca`).
func (n *Node) clusterTLS() (*pki.MTLS, error) {
	cfg := n.cfg
	if cfg.TLS.CAFile != "" {
		return pki.MutualTLS(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	}
	dir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		return nil, fmt.Errorf("local cluster CA: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	if _, err := pki.EnsureCert(ca, certFile, keyFile, pki.IssueOptions{CommonName: cfg.Name, IPs: listenIPs(cfg)}); err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return pki.MutualTLS(ca.CertFile, certFile, keyFile)
}

// listenIPs are the IPs of the node's listeners, for its certificate.
func listenIPs(cfg configs.Node) []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, a := range []string{cfg.Internal.Listen, cfg.Internal.Advertise, cfg.Raft.Listen, cfg.Raft.Advertise} {
		if ip := net.ParseIP(hostOf(a)); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return ips
}

// gossipKeys reads the initial gossip key from gossip.key_file.
func gossipKeys(file string) ([][]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read gossip key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("gossip key %s is not base64: %w", file, err)
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("gossip key %s must be 16, 24 or 32 bytes, not %d", file, len(key))
	}
	return [][]byte{key}, nil
}

// meta is what this node announces.
func (n *Node) meta(health string, configIndex uint64, raftState bool) cluster.NodeMeta {
	a := n.Addrs()
	addrs := map[string]string{"admin": a.Admin, "internal": a.Internal}
	if a.Regional != "" {
		addrs["regional"] = a.Regional
	}
	if a.Edge != "" {
		addrs["edge"] = a.Edge
	}
	if a.DNS != "" {
		addrs["dns"] = a.DNS
	}
	if a.Raft != "" {
		addrs["raft"] = a.Raft
	}
	for network, addr := range a.Private {
		addrs[privateAddrKey+network] = addr
	}
	return cluster.NodeMeta{
		Region: n.cfg.Region, Roles: n.cfg.Roles, Addrs: addrs, Public: n.cfg.PublicAddresses, ConfigIndex: configIndex,
		Health: health, Version: Version, RaftState: raftState,
	}
}

// announce keeps the node's gossip meta current: the config index it
// serves and its health. It returns when ctx is done.
func (n *Node) announce(ctx context.Context, g *cluster.Gossip, served *cluster.Served, store *cluster.Store, health func() string) {
	var last cluster.NodeMeta
	for {
		changed := served.Changed()
		index := served.State().Index
		// The index announced is the one requests are answered from: an
		// endpoint still rebuilding its table holds it back, so a
		// rollout is never reported done before the calls see it.
		rebuilding := false
		for _, gw := range n.gateways() {
			if i := gw.ServingIndex(); i < index {
				index, rebuilding = i, true
			}
		}
		wait := time.Second
		if rebuilding {
			wait = 10 * time.Millisecond
		}
		m := n.meta(health(), index, store != nil && store.HasState())
		if m.ConfigIndex != last.ConfigIndex || m.Health != last.Health || m.RaftState != last.RaftState {
			if err := g.SetMeta(m); err != nil {
				// Not recorded as sent: the next round (at most a second
				// away) tries again.
				n.log.Warn("cannot update gossip meta; retrying", "err", err)
			} else {
				last = m
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(wait): // rebuilds finish, health and raft state change without a config change
		}
	}
}

// joinLoop joins the configured gossip addresses, retrying with backoff
// until one answers or ctx is done.
func (n *Node) joinLoop(ctx context.Context, g *cluster.Gossip, addrs []string) {
	backoff := cluster.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}
	for ctx.Err() == nil {
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		joined, err := g.Join(jctx, addrs)
		cancel()
		if joined > 0 {
			n.log.Info("joined the cluster", "contacted", joined)
			return
		}
		n.log.Warn("cannot join the cluster yet; retrying", "join", addrs, "err", err, "retry_in", backoff.Next())
		if !backoff.Wait(ctx) {
			return
		}
	}
}

// controlMembers are the alive control nodes with a Raft address.
func controlMembers(g *cluster.Gossip) []cluster.Member {
	var out []cluster.Member
	for _, m := range g.Members() {
		if m.Status == cluster.MemberAlive && m.MetaErr == nil && slices.Contains(m.Meta.Roles, configs.RoleControl) && m.Meta.Addrs["raft"] != "" {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// bootstrapLoop bootstraps a new Raft cluster once bootstrap_expect
// control nodes have met through gossip and none of them has Raft state.
// Every one of them derives the same voter list (the expect names,
// sorted), so they bootstrap identically. Any sign of an existing cluster
// (a member of any status announcing Raft state) or more control nodes
// than expected stops it: the node then waits to be added by a leader,
// because two different voter lists would make two clusters.
func (n *Node) bootstrapLoop(ctx context.Context, g *cluster.Gossip, store *cluster.Store, expect int) {
	for !store.HasState() {
		changed := g.Changed()
		var all []cluster.Member
		for _, m := range g.Members() {
			if m.MetaErr == nil && slices.Contains(m.Meta.Roles, configs.RoleControl) {
				all = append(all, m)
			}
		}
		if slices.ContainsFunc(all, func(m cluster.Member) bool { return m.Meta.RaftState && m.Name != n.cfg.Name }) {
			n.log.Info("a control node already has Raft state; waiting to be added by the leader")
			return
		}
		alive := controlMembers(g)
		switch {
		case len(all) > expect:
			n.log.Warn("more control nodes than bootstrap_expect and none has Raft state; not bootstrapping automatically (bootstrap with matching bootstrap_expect everywhere)",
				"control_nodes", len(all), "bootstrap_expect", expect)
			return
		case len(alive) == expect:
			var servers []cluster.Server
			for _, m := range alive {
				servers = append(servers, cluster.Server{ID: m.Name, Address: m.Meta.Addrs["raft"]})
			}
			if err := store.Bootstrap(servers); err != nil {
				n.log.Error("bootstrap failed", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// reconcileLoop runs on every control node; while it leads, it adds alive
// control members that are not in the Raft configuration (up to
// maxVoters), once they prove a certificate from the cluster CA.
func (n *Node) reconcileLoop(ctx context.Context, g *cluster.Gossip, store *cluster.Store) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		changed := g.Changed()
		if store.IsLeader() {
			if err := n.reconcile(ctx, g, store); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Warn("raft membership reconcile", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

func (n *Node) reconcile(ctx context.Context, g *cluster.Gossip, store *cluster.Store) error {
	servers, err := store.Servers()
	if err != nil {
		return err
	}
	inRaft := map[string]cluster.Server{}
	voters := 0
	for _, s := range servers {
		inRaft[s.ID] = s
		if s.Voter {
			voters++
		}
	}
	// Voters that leave are not removed automatically: a node stopped for
	// maintenance comes back, and removing it would shrink the group (two
	// stopped voters would leave one copy of every write). Removal is an
	// operator's decision: `portico cluster remove NODE`.
	for _, m := range controlMembers(g) {
		addr := m.Meta.Addrs["raft"]
		if s, ok := inRaft[m.Name]; ok && s.Address == addr {
			continue
		}
		if _, ok := inRaft[m.Name]; !ok && voters >= maxVoters {
			n.log.Warn("not adding a control node: the Raft group is full", "node", m.Name, "voters", voters)
			continue
		}
		if err := n.verifyPeer(ctx, m); err != nil {
			n.log.Warn("not adding a control node to Raft: it does not prove a certificate from the cluster CA for its name", "node", m.Name, "err", err)
			continue
		}
		n.log.Info("adding a control node to Raft", "node", m.Name, "raft", addr)
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := store.AddVoter(actx, m.Name, addr)
		cancel()
		if err != nil {
			return err
		}
		voters++
	}
	return nil
}

// verifyPeer checks, on the member's internal listener, that it holds a
// certificate from the cluster CA issued for its gossip name. Gossip alone
// proves only the gossip key; Raft membership needs the certificate.
func (n *Node) verifyPeer(ctx context.Context, m cluster.Member) error {
	addr := m.Meta.Addrs["internal"]
	if addr == "" {
		return errors.New("it announces no internal address")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: n.mtls.Client(m.Name)}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(vctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// newestIndex is the highest config index any member announces.
func newestIndex(g *cluster.Gossip) func() uint64 {
	return func() uint64 {
		var max uint64
		for _, m := range g.Members() {
			if m.Status == cluster.MemberAlive && m.Meta.ConfigIndex > max {
				max = m.Meta.ConfigIndex
			}
		}
		return max
	}
}

// controlPeers returns the internal URLs of alive control nodes, those in
// this node's region first, for the config follower.
func (n *Node) controlPeers(g *cluster.Gossip) func() []string {
	return func() []string {
		var near, far []string
		for _, m := range controlMembers(g) {
			addr := m.Meta.Addrs["internal"]
			if addr == "" || m.Name == n.cfg.Name {
				continue
			}
			if m.Meta.Region == n.cfg.Region {
				near = append(near, "https://"+addr)
			} else {
				far = append(far, "https://"+addr)
			}
		}
		return append(near, far...)
	}
}
