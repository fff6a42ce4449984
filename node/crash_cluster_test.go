package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/simulations/harness"
)

// crashRegions are the regions of the crash test's three control nodes.
var crashRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-1"}

// crashNode is one `portico run` process of the crash test's cluster.
type crashNode struct {
	cfg    configs.Node
	client *Client
	p      *proc
}

func (n *crashNode) name() string { return n.cfg.Name }

// status reads the node's Raft view, bounded by a short timeout.
func (n *crashNode) status() (cluster.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var st cluster.Status
	err := n.client.Do(ctx, "GET", "/v1/status", nil, &st)
	return st, err
}

// names returns how often each API name occurs in the node's state, and
// the state's index.
func (n *crashNode) names() (map[string]int, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list struct {
		APIs  []*configs.API `json:"apis"`
		Index uint64         `json:"index"`
	}
	if err := n.client.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
		return nil, 0, err
	}
	counts := map[string]int{}
	for _, a := range list.APIs {
		counts[a.Name]++
	}
	return counts, list.Index, nil
}

// crashPrefix picks a random 127.x.y loopback /24 on which every listener
// of n nodes can bind, so the fixed ports cannot collide with other tests
// (TestMakeRunServesTheDemo draws from 127.100-199.*, clusterbench from
// 127.50-99.*).
func crashPrefix(t *testing.T, n int) string {
	t.Helper()
	prefix, err := harness.PickPrefix(200, n)
	if err != nil {
		t.Fatalf("no loopback /24 for the cluster: %v", err)
	}
	return prefix
}

// startCrashCluster starts three control+regional nodes, one per region,
// as separate `portico run` processes sharing a CA and a gossip key, and
// waits until each answers /healthz.
func startCrashCluster(t *testing.T) []*crashNode {
	t.Helper()
	bin := portico(t)
	dir := t.TempDir()
	prefix := crashPrefix(t, len(crashRegions))
	layout := harness.Layout{Regions: crashRegions, Zone: "portico.test", RaftTimeout: 500 * time.Millisecond}
	cfgs, files, err := layout.Write(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*crashNode
	for i, cfg := range cfgs {
		nodes = append(nodes, &crashNode{cfg: cfg, p: startProc(t, dir, bin, "run", "--config", files[i])})
	}
	for _, n := range nodes {
		n.client = waitAdmin(t, n.cfg.Admin.Listen)
	}
	return nodes
}

// crashLeader returns the node that leads, when every given node answers,
// exactly one says it leads, all the others name it, and its cluster view
// marks it (and only it) as leader.
func crashLeader(nodes []*crashNode) (*crashNode, error) {
	var leader *crashNode
	var statuses []cluster.Status
	for _, n := range nodes {
		st, err := n.status()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.name(), err)
		}
		statuses = append(statuses, st)
		if st.State == "Leader" {
			if leader != nil {
				return nil, fmt.Errorf("both %s and %s say they lead", leader.name(), n.name())
			}
			leader = n
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("no node leads yet: %+v", statuses)
	}
	for i, st := range statuses {
		if st.Leader != leader.cfg.Raft.Listen {
			return nil, fmt.Errorf("%s names leader %q, not %s (%s)", nodes[i].name(), st.Leader, leader.name(), leader.cfg.Raft.Listen)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var cs clusterStatus
	if err := leader.client.Do(ctx, "GET", "/v1/cluster/status", nil, &cs); err != nil {
		return nil, fmt.Errorf("%s cluster status: %w", leader.name(), err)
	}
	var marked []string
	for _, m := range cs.Members {
		if m.Leader {
			marked = append(marked, m.Name)
		}
	}
	if len(marked) != 1 || marked[0] != leader.name() {
		return nil, fmt.Errorf("/v1/cluster/status on %s marks %v as leader", leader.name(), marked)
	}
	return leader, nil
}

// crashRoutes says which node each writer writes to. Before the kill
// writers 0 and 1 use one follower each, writer 2 both in turn and writer
// 3 the leader; once the leader is killed everyone alternates between the
// survivors. Writers read it through an atomic pointer; the test swaps it.
type crashRoutes struct {
	leader *crashNode
	others []*crashNode
	killed bool
}

func newCrashRoutes(nodes []*crashNode, leader *crashNode, killed bool) *crashRoutes {
	r := &crashRoutes{leader: leader, killed: killed}
	for _, n := range nodes {
		if n != leader {
			r.others = append(r.others, n)
		}
	}
	return r
}

func (r *crashRoutes) route(w, seq int) *crashNode {
	switch {
	case r.killed:
		return r.others[(w+seq)%2]
	case w < 2:
		return r.others[w]
	case w == 2:
		return r.others[seq%2]
	default:
		return r.leader
	}
}

// crashAPIDef is a minimal MOCK API named name, in JSON.
func crashAPIDef(name string) []byte {
	return fmt.Appendf(nil, `{"name": %q, "description": "crash test write", "resources": [{"path": "/ping", `+
		`"methods": {"GET": {"integration": {"type": "MOCK", "status_code": 200, "body": %q}}}}]}`, name, name)
}

// writeRecord is one create attempt. A write is acknowledged when the
// admin API answered 2xx; anything else (an error status, a transport
// error, a timeout) leaves its outcome unknown.
type writeRecord struct {
	writer     int
	name       string
	target     string
	start, end time.Time
	acked      bool
	err        error
}

// writeLog collects the writers' records.
type writeLog struct {
	mu   sync.Mutex
	recs []writeRecord
}

func (l *writeLog) add(r writeRecord) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

func (l *writeLog) all() []writeRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// ackedSince counts each writer's acknowledged writes that started at or
// after since.
func (l *writeLog) ackedSince(writers int, since time.Time) []int {
	counts := make([]int, writers)
	for _, r := range l.all() {
		if r.acked && !r.start.Before(since) {
			counts[r.writer]++
		}
	}
	return counts
}

// TestCrashClusterLosesNoAcknowledgedWrite: four clients create APIs
// concurrently through followers and the leader of a three-region
// cluster; the leader is SIGKILLed mid-way; once a new leader is elected,
// every acknowledged write is present exactly once and no write, answered
// or not, appears twice.
func TestCrashClusterLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of the real binary")
	}
	t.Parallel()
	nodes := startCrashCluster(t)

	var leader *crashNode
	eventually(t, 90*time.Second, func() error {
		var err error
		leader, err = crashLeader(nodes)
		return err
	})

	// Four writers, routed by crashRoutes. No write is retried.
	const writers = 4
	var plan atomic.Pointer[crashRoutes]
	plan.Store(newCrashRoutes(nodes, leader, false))
	t.Logf("leader %s", leader.name())
	var wlog writeLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Back to back while writes succeed, so the kill lands among
			// writes in flight; 20 ms apart while they fail, which bounds
			// the failed attempts during the election (a pause, not
			// synchronisation).
			pause := time.NewTimer(0)
			defer pause.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-pause.C:
				}
				n := plan.Load().route(w, seq)
				rec := writeRecord{writer: w, name: fmt.Sprintf("w%d-%d", w, seq), target: n.name(), start: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				rec.err = n.client.Do(ctx, "POST", "/v1/apis", crashAPIDef(rec.name), nil)
				cancel()
				rec.end, rec.acked = time.Now(), rec.err == nil
				wlog.add(rec)
				if rec.acked {
					pause.Reset(0)
				} else {
					pause.Reset(20 * time.Millisecond)
				}
			}
		}()
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriters()

	// Let writes happen: every writer has some acknowledged before the kill.
	eventually(t, 60*time.Second, func() error {
		if c := wlog.ackedSince(writers, time.Time{}); slices.Min(c) < 15 {
			return fmt.Errorf("acknowledged writes per writer before the kill: %v", c)
		}
		return nil
	})
	// Leadership may have moved since the start (a loaded machine can
	// delay heartbeats past the leader lease): kill whoever leads now.
	var current *crashNode
	eventually(t, 60*time.Second, func() error {
		var err error
		current, err = crashLeader(nodes)
		return err
	})
	if current != leader {
		t.Logf("leadership moved from %s to %s before the kill", leader.name(), current.name())
		leader = current
		plan.Store(newCrashRoutes(nodes, leader, false))
	}
	killAt := time.Now()
	if err := leader.p.signal(t, syscall.SIGKILL); err == nil {
		t.Fatalf("SIGKILL did not kill %s", leader.name())
	}
	deadAt := time.Now()
	plan.Store(newCrashRoutes(nodes, leader, true))
	survivors := plan.Load().others
	t.Logf("killed leader %s (pid %d); exited after %v", leader.name(), leader.p.cmd.Process.Pid, deadAt.Sub(killAt).Round(time.Millisecond))

	// Keep writing until every writer has had writes acknowledged by the
	// survivors, which needs a new leader.
	eventually(t, 90*time.Second, func() error {
		if c := wlog.ackedSince(writers, deadAt); slices.Min(c) < 10 {
			return fmt.Errorf("acknowledged writes per writer after the kill: %v", c)
		}
		return nil
	})
	stopWriters()

	// A barrier write through the new leader, read back from it: a state
	// that holds the barrier holds every entry committed before it, so
	// every acknowledged write. (A fresh leader applies entries of earlier
	// terms only once it has committed one of its own; and if leadership
	// moved again, the barrier is missing from the read and this retries.)
	var newLeader *crashNode
	var counts map[string]int
	var index uint64
	barrier := 0
	eventually(t, 60*time.Second, func() error {
		var err error
		if newLeader, err = crashLeader(survivors); err != nil {
			return err
		}
		barrier++
		name := fmt.Sprintf("barrier-%d", barrier)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := newLeader.client.Do(ctx, "POST", "/v1/apis", crashAPIDef(name), nil); err != nil {
			return fmt.Errorf("barrier write on %s: %w", newLeader.name(), err)
		}
		if counts, index, err = newLeader.names(); err != nil {
			return err
		}
		if counts[name] != 1 {
			return fmt.Errorf("%s acknowledged %s but its state holds it %d times", newLeader.name(), name, counts[name])
		}
		return nil
	})

	recs := wlog.all()
	attempted := map[string]bool{}
	var acked, unknown, unknownPresent int
	failures := map[string]int{} // by status, or "no answer"
	firstAck := time.Duration(-1)
	for _, r := range recs {
		attempted[r.name] = true
		switch got := counts[r.name]; {
		case r.acked && got == 0:
			t.Errorf("acknowledged write %s (writer %d via %s, answered %s) is lost", r.name, r.writer, r.target, sinceKill(r.end, killAt))
		case got > 1:
			t.Errorf("write %s (acknowledged: %v, via %s) appears %d times", r.name, r.acked, r.target, got)
		}
		if r.acked {
			acked++
			if !r.start.Before(deadAt) && (firstAck < 0 || r.end.Sub(killAt) < firstAck) {
				firstAck = r.end.Sub(killAt)
			}
		} else {
			unknown++
			var ae *APIError
			if errors.As(r.err, &ae) {
				failures[strconv.Itoa(ae.Status)]++
			} else {
				failures["no answer"]++
			}
			if counts[r.name] > 0 {
				unknownPresent++
			}
		}
	}
	for name, c := range counts {
		switch {
		case strings.HasPrefix(name, "barrier-"):
			if c > 1 {
				t.Errorf("barrier write %s appears %d times", name, c)
			}
		case !attempted[name]:
			t.Errorf("API %q appears %d times but was never written", name, c)
		}
	}
	t.Logf("%d writes: %d acknowledged, %d unanswered or failed %v (%d of those applied anyway); state index %d on %s",
		len(recs), acked, unknown, failures, unknownPresent, index, newLeader.name())
	t.Logf("new leader %s; kill to first acknowledged write after it: %v", newLeader.name(), firstAck.Round(time.Millisecond))
	if t.Failed() {
		for _, r := range recs {
			if !r.acked {
				t.Logf("unacknowledged %s via %s, sent %s: %v", r.name, r.target, sinceKill(r.start, killAt), r.err)
			}
		}
		return
	}

	// The other survivor converges on the same state.
	var other *crashNode
	for _, n := range survivors {
		if n != newLeader {
			other = n
		}
	}
	eventually(t, 30*time.Second, func() error {
		got, idx, err := other.names()
		if err != nil {
			return err
		}
		if idx < index {
			return fmt.Errorf("%s is at index %d, the leader was at %d", other.name(), idx, index)
		}
		for name, c := range counts {
			if got[name] != c {
				return fmt.Errorf("%s has %s %d times, the leader %d", other.name(), name, got[name], c)
			}
		}
		return nil
	})
}

// sinceKill says when t was relative to the kill.
func sinceKill(t, killAt time.Time) string {
	d := t.Sub(killAt).Round(time.Millisecond)
	if d < 0 {
		return fmt.Sprintf("%v before the kill", -d)
	}
	return fmt.Sprintf("%v after the kill", d)
}
