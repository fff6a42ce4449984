package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/portico-gw/portico/configs"
)

// ErrNotLeader is returned by writes on a node that does not lead. Leader
// is the leader's Raft address and LeaderID its node name, when known.
type ErrNotLeader struct{ Leader, LeaderID string }

func (e *ErrNotLeader) Error() string {
	if e.LeaderID == "" {
		return "no Raft leader is known yet (an election may be running); retry shortly"
	}
	return "this node does not lead; the leader is " + e.LeaderID + " (" + e.Leader + ")"
}

// ErrConflict is returned when a committed entry found its precondition
// gone (for example the API was deleted by a concurrent write).
var ErrConflict = errors.New("conflict")

// ErrOutcomeUnknown is returned when leadership was lost after the entry
// was sent: it may still commit in the next leader's term. Callers must
// not resend it blindly (a create would happen twice).
var ErrOutcomeUnknown = errors.New("leadership was lost while the write was in flight; it may or may not have been applied")

// Config opens a Store.
type Config struct {
	NodeID    string // unique node name
	DataDir   string // node data directory; raft files go under raft/
	Listen    string // raft transport bind address
	Advertise string // address other voters dial; default Listen
	Logger    *slog.Logger
	// ServerTLS and ClientTLS, when both set, put the Raft transport on
	// mutual TLS; without them it is plain TCP (single-node use only).
	ServerTLS, ClientTLS *tls.Config
	// BootstrapExpect: 1 bootstraps this node as the single voter when it
	// has no Raft state; any other value leaves bootstrapping to
	// Bootstrap (called once enough voters have met) or to a leader adding
	// this node.
	BootstrapExpect int
	// Timeouts; zero means raft's defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold and TrailingLogs; zero means raft's defaults.
	SnapshotThreshold, TrailingLogs uint64
}

// Store is the Raft-backed state of one node.
type Store struct {
	cfg       Config
	log       *slog.Logger
	fsm       *fsm
	raft      *raft.Raft
	wal       *wal.WAL
	meta      *metadb.BoltMetaDB
	lock      *os.File
	transport *raft.NetworkTransport
	mu        sync.Mutex
	hasState  bool
	// leaderReady is true while this node leads and has applied every
	// entry committed before its term (a barrier); only then does it
	// accept writes, so no read-modify-write acts on a stale state.
	leaderReady atomic.Bool
	notify      chan bool
	stop        chan struct{}
	loopDone    chan struct{}
	closeOnce   sync.Once
	closeErr    error
	// startIndex is the last log index on disk when the store opened;
	// the store is ready once it has applied that far.
	startIndex uint64
}

// Status is what a node reports about its Raft state.
type Status struct {
	Node         string `json:"node"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	LastIndex    uint64 `json:"last_index"`
	// StateIndex is the index of the state the data plane serves.
	StateIndex uint64 `json:"state_index"`
}

// Open starts Raft on disk. A node with no Raft state bootstraps itself
// as the single voter. It does not wait for leadership; see WaitReady.
func Open(cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.Listen
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft directory: %w", err)
	}
	s := &Store{cfg: cfg, log: cfg.Logger, fsm: newFSM()}
	ok := false
	var err error
	defer func() {
		if !ok {
			s.closeFiles()
		}
	}()

	// raft-wal's meta store is a bbolt file whose lock waits forever, so
	// take our own non-blocking lock first: a second process on the same
	// data directory fails at once with a clear error.
	if s.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	// WAL.Close does not close the meta store it opened itself, so own it.
	s.meta = &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir, wal.WithMetaStore(s.meta))
	if err != nil {
		return nil, fmt.Errorf("open raft wal %s: %w", walDir, err)
	}
	s.wal = w
	if s.startIndex, err = w.LastIndex(); err != nil {
		return nil, fmt.Errorf("read raft last index: %w", err)
	}
	hlog := hclogBridge("raft", cfg.Logger)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 3, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
	if err != nil {
		return nil, fmt.Errorf("raft advertise address %q: %w", cfg.Advertise, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", cfg.Listen, err)
	}
	if adv.Port == 0 { // listening on :0: advertise what we got
		adv = ln.Addr().(*net.TCPAddr)
	}
	var layer raft.StreamLayer = &tcpLayer{ln: ln, adv: adv}
	if cfg.ServerTLS != nil && cfg.ClientTLS != nil {
		layer = newTLSLayer(ln, adv, cfg.ServerTLS, cfg.ClientTLS)
	}
	s.transport = raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, hlog.Named("transport"))

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		// A lease shorter than the heartbeat timeout made leaders step
		// down on a loaded 2-core machine with no fault injected.
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout
	}
	// Followers learn a new commit index with the next append; raft's 50 ms
	// default (randomised up to 2x) put 70-90 ms between the leader serving
	// a deploy and its followers (and their edges) serving it. 10 ms keeps
	// idle replication traffic small (one empty append per follower per
	// 10-20 ms).
	rc.CommitTimeout = 10 * time.Millisecond
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	s.notify = make(chan bool, 8)
	rc.NotifyCh = s.notify
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	logs := walStore{w}
	existing, err := raft.HasExistingState(logs, w, snaps)
	if err != nil {
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	s.hasState = existing
	r, err := raft.NewRaft(rc, s.fsm, logs, w, snaps, s.transport)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	s.stop, s.loopDone = make(chan struct{}), make(chan struct{})
	go s.leadershipLoop()
	if !existing && cfg.BootstrapExpect == 1 {
		if err := s.Bootstrap([]Server{{ID: cfg.NodeID, Address: string(s.transport.LocalAddr())}}); err != nil {
			r.Shutdown()
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// leadershipLoop owns leaderReady: on gaining leadership it waits for a
// barrier (every earlier entry applied) before accepting writes.
func (s *Store) leadershipLoop() {
	defer close(s.loopDone)
	for {
		select {
		case <-s.stop:
			return
		case leader := <-s.notify:
			s.leaderReady.Store(false)
			if !leader {
				continue
			}
			if err := s.raft.Barrier(30 * time.Second).Error(); err != nil {
				s.log.Warn("leader barrier failed; not accepting writes", "err", err)
				continue
			}
			if s.State().ClusterID == "" {
				// The first caught-up leader names the cluster, once,
				// before it takes writes.
				data, err := encode(entrySetClusterID, setClusterID{ID: newClusterID()})
				if err == nil {
					err = s.raft.Apply(data, 10*time.Second).Error()
				}
				if err != nil {
					s.log.Warn("cannot set the cluster id; not accepting writes", "err", err)
					continue
				}
			}
			if s.raft.State() == raft.Leader {
				s.leaderReady.Store(true)
				s.log.Info("leading and caught up; accepting writes", "index", s.raft.AppliedIndex(), "cluster_id", s.State().ClusterID)
			}
		}
	}
}

func newClusterID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("cluster: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Server is one Raft voter.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
}

// HasState reports whether the node had Raft state when it opened or has
// bootstrapped since. A node with state must never bootstrap again.
func (s *Store) HasState() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A node added by a leader has log entries without having bootstrapped.
	return s.hasState || s.raft.LastIndex() > 0
}

// Bootstrap starts a new cluster with the given voters. Every voter must
// be given the same list (they are derived from gossip, sorted); raft
// refuses if this node already has state.
func (s *Store) Bootstrap(voters []Server) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hasState || s.raft.LastIndex() > 0 {
		return nil
	}
	var conf raft.Configuration
	for _, v := range voters {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(v.ID), Address: raft.ServerAddress(v.Address), Suffrage: raft.Voter})
	}
	if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	s.hasState = true
	s.log.Info("bootstrapped a new cluster", "node", s.cfg.NodeID, "voters", len(voters))
	return nil
}

// Servers returns the Raft configuration. It may block briefly.
func (s *Store) Servers() ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	_, leaderID := s.raft.LeaderWithID()
	var out []Server
	for _, sv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(sv.ID), Address: string(sv.Address), Voter: sv.Suffrage == raft.Voter, Leader: sv.ID == leaderID})
	}
	return out, nil
}

// AddVoter adds (or re-addresses) a voter. Leader only.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	if err := s.leaderOnly(); err != nil {
		return err
	}
	return s.wait(ctx, "add voter "+id, s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.timeout(ctx)))
}

// RemoveServer removes a voter or non-voter. Leader only.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if err := s.leaderOnly(); err != nil {
		return err
	}
	return s.wait(ctx, "remove server "+id, s.raft.RemoveServer(raft.ServerID(id), 0, s.timeout(ctx)))
}

// IsLeader reports whether this node leads and has applied every entry
// committed before its term, so it may accept writes.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader && s.leaderReady.Load() }

// Leadership reports whether this node leads (as IsLeader) and which of
// its own leadership spells it is: the Raft term. Terms only increase and
// a node leads at most once per term, so equal values are the same spell
// and a node that lost and regained leadership between two looks sees a
// new one.
func (s *Store) Leadership() (spell uint64, leading bool) {
	spell = s.raft.CurrentTerm()
	return spell, s.IsLeader() && s.raft.CurrentTerm() == spell
}

// Leader returns the leader's address and id, empty when unknown.
func (s *Store) Leader() (addr, id string) {
	a, i := s.raft.LeaderWithID()
	return string(a), string(i)
}

// LeaderCh reports leadership changes of this node (raft's channel; it
// must be drained by one owner).
func (s *Store) LeaderCh() <-chan bool { return s.raft.LeaderCh() }

// TransferLeadership hands leadership to another voter if this node leads
// and there is one. It blocks until done or ctx ends.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if s.raft.State() != raft.Leader {
		return nil
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	voters := 0
	for _, sv := range servers {
		if sv.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil
	}
	return s.wait(ctx, "transfer leadership", s.raft.LeadershipTransfer())
}

func (s *Store) leaderOnly() error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	return nil
}

// notLeader is ErrNotLeader naming the leader as this node knows it now.
func (s *Store) notLeader() *ErrNotLeader {
	addr, id := s.raft.LeaderWithID()
	return &ErrNotLeader{Leader: string(addr), LeaderID: string(id)}
}

// timeout is how long a raft call may wait: until ctx's deadline, or
// 10 s without one. It is never zero or negative, which raft would take
// as "no timeout".
func (s *Store) timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return 10 * time.Second
}

// wait waits for a raft future, bounded by ctx.
func (s *Store) wait(ctx context.Context, what string, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return s.notLeader()
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// WaitReady blocks until the node knows a leader and has applied every
// entry that was on its disk when it opened, so the data plane starts with
// the state it served before a restart.
func (s *Store) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		addr, id := s.raft.LeaderWithID()
		selfLeads := string(id) == s.cfg.NodeID
		if addr != "" && s.raft.AppliedIndex() >= s.startIndex && (!selfLeads || s.leaderReady.Load()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for raft leader and log replay: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// State returns the committed state. It never blocks.
func (s *Store) State() *configs.State { return s.fsm.State() }

// Changed returns a channel closed at the next state change. It never
// blocks.
func (s *Store) Changed() <-chan struct{} { return s.fsm.Changed() }

// RaftAddr is the transport's address.
func (s *Store) RaftAddr() string { return string(s.transport.LocalAddr()) }

// Status reports the node's Raft view.
func (s *Store) Status() Status {
	leader, _ := s.raft.LeaderWithID()
	last := s.raft.LastIndex()
	return Status{
		Node:         s.cfg.NodeID,
		State:        s.raft.State().String(),
		Leader:       string(leader),
		AppliedIndex: s.raft.AppliedIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		LastIndex:    last,
		StateIndex:   s.State().Index,
	}
}

// PutAPI stores a validated API (create or replace).
func (s *Store) PutAPI(ctx context.Context, a *configs.API) error {
	return s.apply(ctx, entryPutAPI, putAPI{API: a})
}

// DeleteAPI removes an API with its deployments and stages. An API that a
// custom domain maps is refused before the log with ErrConflict naming
// the mappings, as API Gateway refuses it: unmap it first.
func (s *Store) DeleteAPI(ctx context.Context, id string) error {
	if err := s.unmapped(id, ""); err != nil {
		return err
	}
	return s.apply(ctx, entryDeleteAPI, deleteAPI{ID: id})
}

// Deploy stores a deployment and, when stage is not nil, points the stage
// at it, in one entry.
func (s *Store) Deploy(ctx context.Context, d *configs.Deployment, stage *configs.Stage) error {
	return s.apply(ctx, entryDeploy, deploy{Deployment: d, Stage: stage})
}

// PutStage stores a stage (new deployment pointer, variables, ...).
func (s *Store) PutStage(ctx context.Context, st *configs.Stage) error {
	return s.apply(ctx, entryPutStage, putStage{Stage: st})
}

// DeleteStage removes a stage. A stage that a custom domain maps is
// refused before the log with ErrConflict naming the mappings.
func (s *Store) DeleteStage(ctx context.Context, apiID, name string) error {
	if err := s.unmapped(apiID, name); err != nil {
		return err
	}
	return s.apply(ctx, entryDeleteStage, deleteStage{APIID: apiID, Name: name})
}

// PutDomain stores a validated custom domain with its mappings (create or
// replace). Every mapping must point at an existing stage; one deleted
// after the caller checked makes it fail with ErrConflict.
func (s *Store) PutDomain(ctx context.Context, d *configs.Domain) error {
	return s.apply(ctx, entryPutDomain, putDomain{Domain: d})
}

// DeleteDomain removes a custom domain with its mappings.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	return s.apply(ctx, entryDeleteDomain, deleteDomain{Name: name})
}

// unmapped returns ErrConflict when a custom domain maps the API (or its
// stage, when stage is not empty). The leader's state is caught up, and
// callers serialize their read-check-write sequences; the log checks
// again, so a race across a change of leader is refused as well.
func (s *Store) unmapped(apiID, stage string) error {
	if err := s.leaderOnly(); err != nil {
		return err
	}
	used := s.State().MappingsTo(apiID, stage)
	if len(used) == 0 {
		return nil
	}
	what := "api " + apiID
	if stage != "" {
		what = "stage " + stage + " of api " + apiID
	}
	list := make([]string, len(used))
	for i, m := range used {
		list[i] = m.Domain + " (base path " + configs.DisplayBasePath(m.BasePath) + ")"
	}
	return fmt.Errorf("%w: %s is mapped by custom domain %s; remove the mapping first (portico domains unmap DOMAIN --base-path BASE)",
		ErrConflict, what, strings.Join(list, ", "))
}

// DeleteDeployment removes a deployment no stage points at.
func (s *Store) DeleteDeployment(ctx context.Context, apiID, id string) error {
	return s.apply(ctx, entryDeleteDeployment, deleteDeployment{APIID: apiID, ID: id})
}

// FlushCache commits an invalidation of a stage's caches for paths
// starting with prefix ("" for all) and returns its sequence number (the
// entry's Raft index).
func (s *Store) FlushCache(ctx context.Context, apiID, stage, prefix string, at time.Time) (uint64, error) {
	return s.applyAt(ctx, entryFlushCache, flushCache{APIID: apiID, Stage: stage, Prefix: prefix, At: at})
}

// PutPlan stores a validated usage plan. Every stage it covers must
// still exist when the entry applies.
func (s *Store) PutPlan(ctx context.Context, p *configs.UsagePlan) error {
	return s.apply(ctx, entryPutPlan, putPlan{Plan: p})
}

// DeletePlan removes a usage plan; its keys stay, without a plan.
func (s *Store) DeletePlan(ctx context.Context, id string) error {
	return s.apply(ctx, entryDeletePlan, deleteByID{ID: id})
}

// PutKey stores an API key (its hash, never its value).
func (s *Store) PutKey(ctx context.Context, k *configs.APIKey) error {
	return s.apply(ctx, entryPutKey, putKey{Key: k})
}

// DeleteKey removes an API key.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.apply(ctx, entryDeleteKey, deleteByID{ID: id})
}

// PutCredential stores a SigV4 credential.
func (s *Store) PutCredential(ctx context.Context, c *configs.Credential) error {
	return s.apply(ctx, entryPutCredential, putCredential{Credential: c})
}

// DeleteCredential removes a SigV4 credential.
func (s *Store) DeleteCredential(ctx context.Context, id string) error {
	return s.apply(ctx, entryDeleteCredential, deleteByID{ID: id})
}

// AddUsage commits request counts of API keys; days before now minus
// UsageRetention are dropped in the same entry. Only the leader can.
func (s *Store) AddUsage(ctx context.Context, deltas []UsageDelta, now time.Time) error {
	keep := now.UTC().Add(-UsageRetention).Format(UsageDay)
	return s.apply(ctx, entryAddUsage, addUsage{Deltas: deltas, Keep: keep})
}

// Usage returns the committed usage counts as applied on this node.
func (s *Store) Usage() *Usage { return s.fsm.usage }

// apply appends one entry and waits until it is applied here. The
// context's deadline (10 s without one) bounds the wait for Raft to take
// the entry; then it waits until the entry is applied or leadership is
// lost.
func (s *Store) apply(ctx context.Context, t entryType, body any) error {
	_, err := s.applyAt(ctx, t, body)
	return err
}

// applyAt is apply that also returns the entry's log index.
func (s *Store) applyAt(ctx context.Context, t entryType, body any) (uint64, error) {
	if err := s.leaderOnly(); err != nil {
		return 0, err
	}
	data, err := encode(t, body)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("raft apply %s: %w", t, err) // nothing appended
	}
	f := s.raft.Apply(data, s.timeout(ctx))
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			// Refused before it reached the log: safe to resend.
			return 0, s.notLeader()
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return 0, fmt.Errorf("raft apply %s: %w", t, ErrOutcomeUnknown)
		}
		return 0, fmt.Errorf("raft apply %s: %w", t, err)
	}
	if resp, ok := f.Response().(error); ok && resp != nil {
		return 0, fmt.Errorf("%w: %v", ErrConflict, resp)
	}
	return f.Index(), nil
}

// Snapshot asks Raft for a snapshot now (used by tests and operators).
func (s *Store) Snapshot() error { return s.raft.Snapshot().Error() }

// Close hands over nothing (single voter) and shuts Raft down, then
// closes the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	var errs []error
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown raft: %w", err))
		}
		close(s.stop)
		<-s.loopDone
	}
	s.closeFiles()
	return errors.Join(errs...)
}

func (s *Store) closeFiles() {
	if s.transport != nil {
		s.transport.Close()
	}
	if s.wal != nil {
		s.wal.Close()
	}
	if s.meta != nil {
		s.meta.Close()
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
}

// tcpLayer is a raft.StreamLayer over plain TCP. Mutual TLS between
// voters replaces it when the cluster spans nodes.
type tcpLayer struct {
	ln  net.Listener
	adv net.Addr
}

func (t *tcpLayer) Accept() (net.Conn, error) { return t.ln.Accept() }
func (t *tcpLayer) Close() error              { return t.ln.Close() }
func (t *tcpLayer) Addr() net.Addr            { return t.adv }
func (t *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}
