package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/node"
	"github.com/portico-gw/portico/simulations/harness"
)

// benchNode is one `portico run` process of the cluster. Its output is
// appended to dir/logs/<name>.log across restarts.
type benchNode struct {
	cfg     configs.Node
	cfgFile string
	logFile string
	client  *node.Client
	proc    *harness.Proc // the current process; nil before the first start
}

func (n *benchNode) name() string     { return n.cfg.Name }
func (n *benchNode) control() bool    { return n.cfg.HasRole(configs.RoleControl) }
func (n *benchNode) running() bool    { return n.proc != nil && !n.proc.Exited() }
func (n *benchNode) raftAddr() string { return n.cfg.Raft.Listen }

// status reads the node's GET /v1/status (Raft view on control nodes, the
// served config index on every node).
func (n *benchNode) status(ctx context.Context) (cluster.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var st cluster.Status
	err := n.client.Do(ctx, "GET", "/v1/status", nil, &st)
	return st, err
}

// benchCluster is the running cluster.
type benchCluster struct {
	bin   string
	procs *harness.Group
	log   *slog.Logger
	nodes []*benchNode
}

// newCluster lays the cluster out under dir; start runs it.
func newCluster(bin, dir, prefix string, procs *harness.Group, log *slog.Logger) (*benchCluster, error) {
	cfgs, files, err := benchLayout.Write(dir, prefix)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	// Polling at 2 ms keeps one connection per node busy; a few spare ones
	// serve the writes and status reads beside it.
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	c := &benchCluster{bin: bin, procs: procs, log: log}
	for i, cfg := range cfgs {
		cl := node.NewClient(cfg.Admin.Listen)
		cl.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		c.nodes = append(c.nodes, &benchNode{cfg: cfg, cfgFile: files[i], client: cl,
			logFile: filepath.Join(dir, "logs", cfg.Name+".log")})
	}
	return c, nil
}

// start (re)starts one node and waits until its admin API answers.
func (c *benchCluster) start(ctx context.Context, n *benchNode) error {
	logf, err := os.OpenFile(n.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "--- clusterbench: starting %s at %s\n", n.name(), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, "run", "--config", n.cfgFile)
	cmd.Dir = filepath.Dir(n.cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := c.procs.Start(n.name(), cmd)
	if err != nil {
		return err
	}
	n.proc = p
	err = harness.Retry(ctx, 60*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("%s exited (%v); see %s", n.name(), p.Err(), n.logFile))
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return n.client.Do(hctx, "GET", "/healthz", nil, nil)
	})
	if err != nil {
		return fmt.Errorf("wait for %s: %w", n.name(), err)
	}
	return nil
}

// startAll starts every node at once and waits until each answers.
func (c *benchCluster) startAll(ctx context.Context) error {
	errc := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errc <- c.start(ctx, n) }()
	}
	var errs []error
	for range c.nodes {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// controlNodes returns the running control nodes.
func (c *benchCluster) controlNodes() []*benchNode {
	var out []*benchNode
	for _, n := range c.nodes {
		if n.control() && n.running() {
			out = append(out, n)
		}
	}
	return out
}

// leader returns the running control node that leads, when every running
// control node answers, exactly one says it leads and all name it.
func (c *benchCluster) leader(ctx context.Context) (*benchNode, cluster.Status, error) {
	var leader *benchNode
	var leaderSt cluster.Status
	var all []cluster.Status
	nodes := c.controlNodes()
	for _, n := range nodes {
		st, err := n.status(ctx)
		if err != nil {
			return nil, leaderSt, fmt.Errorf("%s: %w", n.name(), err)
		}
		all = append(all, st)
		if st.State == "Leader" {
			if leader != nil {
				return nil, leaderSt, fmt.Errorf("both %s and %s say they lead", leader.name(), n.name())
			}
			leader, leaderSt = n, st
		}
	}
	if leader == nil {
		return nil, leaderSt, errors.New("no control node leads")
	}
	for i, st := range all {
		if st.Leader != leader.raftAddr() {
			return nil, leaderSt, fmt.Errorf("%s names leader %q, not %s", nodes[i].name(), st.Leader, leader.name())
		}
	}
	return leader, leaderSt, nil
}

// memberView is the part of GET /v1/cluster/status the driver reads.
type memberView struct {
	Name        string `json:"name"`
	Status      string `json:"status"`
	Health      string `json:"health"`
	ConfigIndex uint64 `json:"config_index"`
	Voter       bool   `json:"voter"`
	Leader      bool   `json:"leader"`
}

// settled waits until the cluster is whole and idle: one leader named by
// every control node, every control node has applied what the leader
// committed, every node serves the leader's config index (its own
// /v1/status), and the leader's gossip view lists every node alive and
// healthy with three Raft voters. With gossipIndex, the config index each
// node announces through gossip (what `portico cluster status`, rollout
// and `deploy --wait` read) must be the leader's too.
func (c *benchCluster) settled(ctx context.Context, within time.Duration, gossipIndex bool) error {
	nextNote := time.Now().Add(2 * time.Second)
	return harness.Retry(ctx, within, 100*time.Millisecond, func() error {
		err := c.unsettled(ctx, gossipIndex)
		if err != nil && time.Now().After(nextNote) {
			c.log.Info("waiting for the cluster to settle", "reason", err)
			nextNote = time.Now().Add(2 * time.Second)
		}
		return err
	})
}

// unsettled says why the cluster has not settled, or returns nil.
func (c *benchCluster) unsettled(ctx context.Context, gossipIndex bool) error {
	leader, lst, err := c.leader(ctx)
	if err != nil {
		return err
	}
	for _, n := range c.nodes {
		if !n.running() {
			return harness.Permanent(fmt.Errorf("%s is not running; see %s", n.name(), n.logFile))
		}
		st, err := n.status(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name(), err)
		}
		if n.control() && st.AppliedIndex < lst.CommitIndex {
			return fmt.Errorf("%s applied %d of %d", n.name(), st.AppliedIndex, lst.CommitIndex)
		}
		if st.StateIndex != lst.StateIndex {
			return fmt.Errorf("%s serves index %d, the leader %d", n.name(), st.StateIndex, lst.StateIndex)
		}
	}
	var cs struct {
		Members []memberView `json:"members"`
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := leader.client.Do(sctx, "GET", "/v1/cluster/status", nil, &cs); err != nil {
		return fmt.Errorf("%s cluster status: %w", leader.name(), err)
	}
	if len(cs.Members) != len(c.nodes) {
		return fmt.Errorf("%s sees %d members, want %d", leader.name(), len(cs.Members), len(c.nodes))
	}
	voters := 0
	for _, m := range cs.Members {
		if m.Status != string(cluster.MemberAlive) || m.Health != cluster.HealthOK {
			return fmt.Errorf("%s sees %s %s, health %q", leader.name(), m.Name, m.Status, m.Health)
		}
		if gossipIndex && m.ConfigIndex != lst.StateIndex {
			return fmt.Errorf("%s sees %s announce index %d through gossip; it serves %d", leader.name(), m.Name, m.ConfigIndex, lst.StateIndex)
		}
		if m.Voter {
			voters++
		}
	}
	if voters != len(regions) {
		return fmt.Errorf("%s has %d Raft voters, want %d", leader.name(), voters, len(regions))
	}
	return nil
}
