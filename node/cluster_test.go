package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// testCluster issues certificates from one CA and shares one gossip key,
// like an operator following `portico ca`.
type testCluster struct {
	t       *testing.T
	dir     string
	ca      *pki.CA
	keyFile string
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.CreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(cluster.GenerateKey())), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCluster{t: t, dir: dir, ca: ca, keyFile: keyFile}
}

// config returns a node config with certificates from ca (the cluster's
// unless another is given).
func (c *testCluster) config(name, region string, roles []string, expect int, join []string, ca *pki.CA) configs.Node {
	c.t.Helper()
	if ca == nil {
		ca = c.ca
	}
	dataDir := filepath.Join(c.dir, name)
	tlsDir := filepath.Join(dataDir, "tls")
	ip := []net.IP{net.IPv4(127, 0, 0, 1)}
	certFile, keyFile, err := ca.IssueFiles(tlsDir, "node", pki.IssueOptions{CommonName: name, IPs: ip})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := configs.Node{
		Name: name, Region: region, Roles: roles, DataDir: dataDir, Zone: "portico.test",
		BootstrapExpect: expect, Join: join,
		TLS:    configs.ClusterTLS{CAFile: c.ca.CertFile, CertFile: certFile, KeyFile: keyFile},
		Gossip: configs.GossipConfig{KeyFile: c.keyFile},
		Raft: configs.RaftConfig{
			HeartbeatTimeout: configs.Duration(300 * time.Millisecond), ElectionTimeout: configs.Duration(300 * time.Millisecond),
			SnapshotThreshold: 16, TrailingLogs: 4,
		},
	}
	if ca != c.ca {
		cfg.TLS.CAFile = ca.CertFile
	}
	if configs.ServesRequests(roles) {
		names := []string{"*." + region + ".portico.test", "*.edge.portico.test"}
		cert, key, err := ca.IssueFiles(tlsDir, "server", pki.IssueOptions{CommonName: name, DNSNames: names, IPs: ip})
		if err != nil {
			c.t.Fatal(err)
		}
		cfg.Regional.CertFile, cfg.Regional.KeyFile = cert, key
		cfg.Edge.CertFile, cfg.Edge.KeyFile = cert, key
	}
	return cfg
}

// leaderOf returns the control node that leads, waiting for one.
func leaderOf(t *testing.T, nodes ...*testNode) *testNode {
	t.Helper()
	var leader *testNode
	eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if s := n.node.Store(); s != nil && s.IsLeader() {
				leader = n
				return nil
			}
		}
		return errors.New("no leader yet")
	})
	return leader
}

func (tn *testNode) servedIndex() uint64 { return tn.node.Served().State().Index }

// waitServing waits until the node answers a stage path with want.
func (tn *testNode) waitServing(apiID, path, want string) {
	tn.t.Helper()
	eventually(tn.t, 20*time.Second, func() error {
		status, body, _ := tn.call("GET", apiID, path, nil)
		if status != 200 || body != want {
			return fmt.Errorf("%s: GET %s = %d %q, want %q", tn.node.Name(), path, status, body, want)
		}
		return nil
	})
}

const mockAPI = `{"name": "hello", "resources": [{"path": "/hi", "methods": {"GET": {"integration": {"type": "MOCK", "status_code": 200, "body": %q}}}}]}`

// TestClusterServesEverywhereSurvivesLeaderLossAndControlPlaneLoss runs 3
// control nodes in 3 regions, a regional-only node and an edge, all in
// process with real gossip, Raft over mutual TLS and followers.
func TestClusterServesEverywhereSurvivesLeaderLossAndControlPlaneLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a five-node cluster")
	}
	t.Parallel()
	tc := newTestCluster(t)
	control := []string{configs.RoleControl, configs.RoleRegional}
	c0 := startNodeCfg(t, tc.config("c0", "us-east-1", control, 3, nil, nil))
	join := []string{c0.node.Addrs().Gossip}
	c1 := startNodeCfg(t, tc.config("c1", "eu-west-1", control, 3, join, nil))
	c2 := startNodeCfg(t, tc.config("c2", "ap-southeast-1", control, 3, join, nil))
	r3cfg := tc.config("r3", "us-east-1", []string{configs.RoleRegional}, 0, join, nil)
	r3 := startNodeCfg(t, r3cfg)
	e4 := startNodeCfg(t, tc.config("e4", "us-east-1", []string{configs.RoleEdge}, 0, join, nil))
	leaderOf(t, c0, c1, c2)

	// A write at the edge travels edge -> control -> leader; the API's home
	// region is the edge's.
	var res applyResult
	e4.mustDo("POST", "/v1/apply", []byte(fmt.Sprintf(mockAPI, "v1")), &res)
	if res.API.HomeRegion != "us-east-1" {
		t.Fatalf("home region = %q, want the accepting node's region us-east-1", res.API.HomeRegion)
	}
	id := res.API.ID
	var dep struct {
		Index uint64 `json:"index"`
	}
	r3.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod"}, &dep)

	// Served by every regional node of the home region; every node has it.
	c0.waitServing(id, "/prod/hi", "v1")
	r3.waitServing(id, "/prod/hi", "v1")
	all := []*testNode{c0, c1, c2, r3, e4}
	eventually(t, 20*time.Second, func() error {
		for _, n := range all {
			if n.servedIndex() < dep.Index {
				return fmt.Errorf("%s serves index %d, want >= %d", n.node.Name(), n.servedIndex(), dep.Index)
			}
		}
		return nil
	})
	// Rollout view agrees.
	// Rollout, as gossip reports it to any node, agrees.
	eventually(t, 20*time.Second, func() error {
		var rv rolloutView
		e4.mustDo("GET", fmt.Sprintf("/v1/cluster/rollout?api=%s&index=%d", id, dep.Index), nil, &rv)
		if !rv.Done || len(rv.Serving) != 2 {
			return fmt.Errorf("rollout = %+v, want done on c0 and r3", rv)
		}
		return nil
	})

	// Cluster status from any node: every member, one leader, three voters.
	eventually(t, 20*time.Second, func() error {
		var st clusterStatus
		if err := e4.do("GET", "/v1/cluster/status", nil, &st); err != nil {
			return err
		}
		// e4 is not a voter: it knows members from gossip, not Raft roles.
		if len(st.Members) != 5 {
			return fmt.Errorf("status lists %d members, want 5: %+v", len(st.Members), st.Members)
		}
		var cst clusterStatus
		if err := c0.do("GET", "/v1/cluster/status", nil, &cst); err != nil {
			return err
		}
		leaders, voters := 0, 0
		for _, m := range cst.Members {
			if m.Leader {
				leaders++
			}
			if m.Voter {
				voters++
			}
			if m.Health != "ok" || m.Status != "alive" {
				return fmt.Errorf("%s: %s/%s", m.Name, m.Status, m.Health)
			}
		}
		if leaders != 1 || voters != 3 {
			return fmt.Errorf("control node sees %d leaders and %d voters, want 1 and 3", leaders, voters)
		}
		return nil
	})
	// join and remove answer with reasons.
	var joined map[string]int
	e4.mustDo("POST", "/v1/cluster/join", map[string]any{"addresses": []string{c1.node.Addrs().Gossip}}, &joined)
	if joined["contacted"] != 1 {
		t.Fatalf("join contacted %v", joined)
	}
	for _, tc := range []struct {
		node   *testNode
		path   string
		body   any
		status int
		want   string
	}{
		{e4, "/v1/cluster/join", map[string]any{"addresses": []string{}}, 400, "addresses"},
		{c1, "/v1/cluster/remove", map[string]string{"node": "nope"}, 404, "nope"},
	} {
		var ae *APIError
		if err := tc.node.do("POST", tc.path, tc.body, nil); !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Error(), tc.want) {
			t.Errorf("POST %s %v: %v, want %d mentioning %q", tc.path, tc.body, err, tc.status, tc.want)
		}
	}

	// A node whose certificate comes from another CA joins gossip (it has
	// the key) but never Raft, never the config, and cannot forward writes.
	otherCA, err := pki.CreateCA(filepath.Join(tc.dir, "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	x := startNodeCfg(t, tc.config("x5", "us-east-1", control, 0, join, otherCA))
	xr := startNodeCfg(t, tc.config("x6", "us-east-1", []string{configs.RoleRegional}, 0, join, otherCA))
	eventually(t, 20*time.Second, func() error {
		for _, n := range []*testNode{c0, e4} {
			seen := 0
			for _, m := range n.node.Gossip().Members() {
				if m.Name == "x5" || m.Name == "x6" {
					seen++
				}
			}
			if seen != 2 {
				return fmt.Errorf("%s sees %d of the other-CA nodes in gossip", n.node.Name(), seen)
			}
		}
		return nil
	})
	leader := leaderOf(t, c0, c1, c2)
	if err := leader.node.reconcile(context.Background(), leader.node.Gossip(), leader.node.Store()); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	servers, err := leader.node.Store().Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.ID == "x5" {
			t.Fatalf("a node with a certificate from another CA became a Raft member: %+v", servers)
		}
	}
	// A new deploy reaches the legitimate follower r3; the other-CA
	// follower, polling the same control nodes, gets nothing.
	r3.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod"}, &dep)
	eventually(t, 20*time.Second, func() error {
		if r3.servedIndex() < dep.Index {
			return fmt.Errorf("r3 serves %d, want %d", r3.servedIndex(), dep.Index)
		}
		return nil
	})
	if x.servedIndex() != 0 || xr.servedIndex() != 0 {
		t.Fatalf("other-CA nodes got config: index %d and %d", x.servedIndex(), xr.servedIndex())
	}
	var ae *APIError
	if err := xr.do("POST", "/v1/apply", []byte(fmt.Sprintf(mockAPI, "evil")), nil); !errors.As(err, &ae) || ae.Status < 500 {
		t.Fatalf("a write forwarded by an other-CA node: %v, want a 5xx", err)
	}
	x.stop()
	xr.stop()

	// Leader loss: stop the leader; a new one accepts writes.
	leader.stop()
	var survivors []*testNode
	for _, n := range []*testNode{c0, c1, c2} {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	newLeader := leaderOf(t, survivors...)
	if newLeader == leader {
		t.Fatal("the stopped node still leads")
	}
	// A graceful stop announces the departure: the others see it left,
	// not failed.
	eventually(t, 20*time.Second, func() error {
		for _, m := range e4.node.Gossip().Members() {
			if m.Name == leader.node.Name() && m.Status != cluster.MemberLeft {
				return fmt.Errorf("the stopped leader is %q in gossip, want left", m.Status)
			}
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		return e4.do("POST", "/v1/apply", []byte(fmt.Sprintf(mockAPI, "v2")), nil)
	})
	r3.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod"}, &dep)
	r3.waitServing(id, "/prod/hi", "v2")

	// The whole control plane down: a restarted regional node serves its
	// persisted config.
	for _, n := range survivors {
		n.stop()
	}
	r3.stop()
	r3again := startNodeCfg(t, r3cfg)
	status, body, _ := r3again.call("GET", id, "/prod/hi", nil)
	if status != 200 || body != "v2" {
		t.Fatalf("restarted regional node with no control node = %d %q, want 200 v2", status, body)
	}
}

// TestRestartedFollowerCatchesUpFromSnapshot stops a voter, writes enough
// that the leader compacts its log past the voter's position, and checks
// the restarted voter catches up through a snapshot install.
func TestRestartedFollowerCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	tc := newTestCluster(t)
	control := []string{configs.RoleControl, configs.RoleRegional}
	c0 := startNodeCfg(t, tc.config("s0", "us-east-1", control, 3, nil, nil))
	join := []string{c0.node.Addrs().Gossip}
	c1 := startNodeCfg(t, tc.config("s1", "us-east-1", control, 3, join, nil))
	c2cfg := tc.config("s2", "us-east-1", control, 3, join, nil)
	c2 := startNodeCfg(t, c2cfg)
	leader := leaderOf(t, c0, c1, c2)
	if leader == c2 {
		// Keep the node we restart a follower.
		tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c2.node.Store().TransferLeadership(tctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		leader = leaderOf(t, c0, c1)
	}
	c2.stop()

	var last applyResult
	for i := 0; i < 40; i++ {
		body := fmt.Sprintf(`{"name": "api-%d", "resources": [{"path": "/x", "methods": {"GET": {"integration": {"type": "MOCK"}}}}]}`, i)
		eventually(t, 10*time.Second, func() error { return leader.do("POST", "/v1/apis", []byte(body), &last) })
	}
	leader = leaderOf(t, c0, c1)
	if err := leader.node.Store().Snapshot(); err != nil {
		t.Fatalf("leader snapshot: %v", err)
	}
	want := leader.node.Store().State().Index

	c2 = startNodeCfg(t, c2cfg)
	eventually(t, 30*time.Second, func() error {
		st := c2.node.Store().State()
		if st.Index < want || st.API(last.API.ID) == nil {
			return fmt.Errorf("restarted voter at index %d, want >= %d", st.Index, want)
		}
		return nil
	})
	snaps, err := filepath.Glob(filepath.Join(c2cfg.DataDir, "raft", "snapshots", "*", "meta.json"))
	if err != nil || len(snaps) == 0 {
		out, _ := exec.Command("find", filepath.Join(c2cfg.DataDir, "raft")).CombinedOutput()
		t.Fatalf("the restarted voter holds no snapshot (%v): it did not catch up through one (want %d, status %+v)\n%s", err, want, c2.node.Store().Status(), out)
	}
}

// A consistent read at a node that is not the leader sees a write the
// leader acknowledged a moment ago; the gossip key rotates through the
// admin API with no node lost.
func TestConsistentReadAndKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	tc := newTestCluster(t)
	control := []string{configs.RoleControl, configs.RoleRegional}
	c0 := startNodeCfg(t, tc.config("k0", "us-east-1", control, 3, nil, nil))
	join := []string{c0.node.Addrs().Gossip}
	c1 := startNodeCfg(t, tc.config("k1", "us-east-1", control, 3, join, nil))
	c2 := startNodeCfg(t, tc.config("k2", "us-east-1", control, 3, join, nil))
	leader := leaderOf(t, c0, c1, c2)
	var follower *testNode
	for _, n := range []*testNode{c0, c1, c2} {
		if n != leader {
			follower = n
		}
	}
	for i := 0; i < 20; i++ {
		var res applyResult
		leader.mustDo("POST", "/v1/apis", []byte(fmt.Sprintf(`{"name": "c%d", "resources": [{"path": "/x", "methods": {"GET": {"integration": {"type": "MOCK"}}}}]}`, i)), &res)
		var got configs.API
		follower.mustDo("GET", "/v1/apis/"+res.API.ID+"?consistent", nil, &got)
		if got.ID != res.API.ID {
			t.Fatalf("consistent read at a follower missed the write just acknowledged: %+v", got)
		}
	}

	// Gossip key rotation through the admin API, no node lost.
	oldKey, err := os.ReadFile(tc.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	newKey := base64.StdEncoding.EncodeToString(cluster.GenerateKey())
	for _, step := range []struct{ op, key string }{{"install", newKey}, {"use", newKey}, {"remove", strings.TrimSpace(string(oldKey))}} {
		var res cluster.KeyResult
		follower.mustDo("POST", "/v1/cluster/keys/"+step.op, map[string]string{"key": step.key}, &res)
		if res.Nodes != 3 || len(res.Errors) != 0 {
			t.Fatalf("keys %s: %+v, want all 3 nodes without errors", step.op, res)
		}
		for _, n := range []*testNode{c0, c1, c2} {
			alive := 0
			for _, m := range n.node.Gossip().Members() {
				if m.Status == cluster.MemberAlive {
					alive++
				}
			}
			if alive != 3 {
				t.Fatalf("after keys %s, %s sees %d alive members, want 3", step.op, n.node.Name(), alive)
			}
		}
	}
	var ks cluster.KeyStatus
	leader.mustDo("GET", "/v1/cluster/keys", nil, &ks)
	if len(ks.Keys) != 1 || ks.Keys[newKey] != 3 || ks.Primary[newKey] != 3 {
		t.Fatalf("keyring after rotation = %+v, want only the new key, on and primary on all 3", ks)
	}
	var ae *APIError
	if err := leader.do("POST", "/v1/cluster/keys/install", map[string]string{"key": "short"}, nil); !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Error(), "key") {
		t.Fatalf("bad key: %v, want 400 naming key", err)
	}
}
