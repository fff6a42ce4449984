package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/portico-gw/portico/configs"
)

// ErrNotLeader is returned by writes on a node that does not lead. Leader
// is the leader's Raft address when one is known.
type ErrNotLeader struct{ Leader string }

func (e *ErrNotLeader) Error() string {
	if e.Leader == "" {
		return "not the raft leader and no leader is known"
	}
	return "not the raft leader; the leader is " + e.Leader
}

// ErrConflict is returned when a committed entry found its precondition
// gone (for example the API was deleted by a concurrent write).
var ErrConflict = errors.New("conflict")

// Config opens a Store.
type Config struct {
	NodeID    string // unique node name
	DataDir   string // node data directory; raft files go under raft/
	Listen    string // raft transport bind address
	Advertise string // address other voters dial; default Listen
	Logger    *slog.Logger
	// Timeouts for tests; zero means raft's defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
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
	s.transport = raft.NewNetworkTransportWithLogger(&tcpLayer{ln: ln, adv: adv}, 3, 10*time.Second, hlog.Named("transport"))

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	existing, err := raft.HasExistingState(w, w, snaps)
	if err != nil {
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, s.fsm, w, w, snaps, s.transport)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	if !existing {
		boot := raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: s.transport.LocalAddr(), Suffrage: raft.Voter,
		}}}
		if err := r.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
		s.log.Info("bootstrapped a new single-voter cluster", "node", cfg.NodeID, "raft", s.transport.LocalAddr())
	}
	ok = true
	return s, nil
}

// WaitReady blocks until the node knows a leader and has applied every
// entry that was on its disk when it opened, so the data plane starts with
// the state it served before a restart.
func (s *Store) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		addr, _ := s.raft.LeaderWithID()
		if addr != "" && s.raft.AppliedIndex() >= s.startIndex {
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

// DeleteAPI removes an API with its deployments and stages.
func (s *Store) DeleteAPI(ctx context.Context, id string) error {
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

// DeleteStage removes a stage.
func (s *Store) DeleteStage(ctx context.Context, apiID, name string) error {
	return s.apply(ctx, entryDeleteStage, deleteStage{APIID: apiID, Name: name})
}

// DeleteDeployment removes a deployment no stage points at.
func (s *Store) DeleteDeployment(ctx context.Context, apiID, id string) error {
	return s.apply(ctx, entryDeleteDeployment, deleteDeployment{APIID: apiID, ID: id})
}

// apply appends one entry and waits until it is applied here. It may
// block up to the context's deadline (at most 10 s).
func (s *Store) apply(ctx context.Context, t entryType, body any) error {
	if s.raft.State() != raft.Leader {
		addr, _ := s.raft.LeaderWithID()
		return &ErrNotLeader{Leader: string(addr)}
	}
	data, err := encode(t, body)
	if err != nil {
		return err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := s.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			addr, _ := s.raft.LeaderWithID()
			return &ErrNotLeader{Leader: string(addr)}
		}
		return fmt.Errorf("raft apply %s: %w", t, err)
	}
	if resp, ok := f.Response().(error); ok && resp != nil {
		return fmt.Errorf("%w: %v", ErrConflict, resp)
	}
	return nil
}

// Snapshot asks Raft for a snapshot now (used by tests and operators).
func (s *Store) Snapshot() error { return s.raft.Snapshot().Error() }

// Close hands over nothing (single voter) and shuts Raft down, then
// closes the files.
func (s *Store) Close() error {
	var errs []error
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown raft: %w", err))
		}
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
