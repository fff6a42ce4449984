package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/portico-gw/portico/configs"
)

// fsm applies committed entries to an immutable configs.State and
// publishes each new state.
type fsm struct {
	state atomic.Pointer[configs.State]
	usage *Usage // not published: see Usage

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every publish
}

func newFSM() *fsm {
	f := &fsm{changed: make(chan struct{}), usage: newUsage()}
	f.state.Store(configs.NewState())
	return f
}

func (f *fsm) State() *configs.State { return f.state.Load() }

func (f *fsm) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fsm) publish(s *configs.State) {
	f.state.Store(s)
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// applyError is what Apply returns for an entry whose precondition no
// longer holds (the target was deleted by an earlier entry). The outcome
// is the same on every replica, so it is deterministic.
type applyError struct{ msg string }

func (e *applyError) Error() string { return e.msg }

// Apply implements raft.FSM. It only decodes and stores.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("cluster: empty log entry at index %d", l.Index))
	}
	cur := f.state.Load()
	t, body := entryType(l.Data[0]), l.Data[1:]
	if t == entryAddUsage {
		var e addUsage
		mustDecode(l.Index, t, body, &e)
		f.usage.apply(e)
		return nil
	}
	next, result := f.apply(cur, l.Index, t, body)
	f.publish(next)
	return result
}

func (f *fsm) apply(cur *configs.State, idx uint64, t entryType, body []byte) (*configs.State, error) {
	switch t {
	case entryPutAPI:
		var e putAPI
		mustDecode(idx, t, body, &e)
		return cur.WithAPI(idx, e.API), nil
	case entryDeleteAPI:
		var e deleteAPI
		mustDecode(idx, t, body, &e)
		if used := cur.MappingsTo(e.ID, ""); len(used) > 0 {
			return cur.WithIndex(idx), &applyError{"api " + e.ID + " is mapped by custom domain " + used[0].Domain}
		}
		return cur.WithoutAPI(idx, e.ID), nil
	case entryDeploy:
		var e deploy
		mustDecode(idx, t, body, &e)
		if cur.API(e.Deployment.APIID) == nil {
			return cur.WithIndex(idx), &applyError{"api " + e.Deployment.APIID + " was deleted"}
		}
		if e.Stage != nil {
			e.Stage.ChangedIndex = idx // a fresh decode: no one else holds it
		}
		return cur.WithDeployment(idx, e.Deployment, e.Stage), nil
	case entryPutStage:
		var e putStage
		mustDecode(idx, t, body, &e)
		if cur.Deployment(e.Stage.APIID, e.Stage.DeploymentID) == nil {
			return cur.WithIndex(idx), &applyError{"deployment " + e.Stage.DeploymentID + " was deleted"}
		}
		e.Stage.ChangedIndex = idx
		return cur.WithStage(idx, e.Stage), nil
	case entryDeleteStage:
		var e deleteStage
		mustDecode(idx, t, body, &e)
		if used := cur.MappingsTo(e.APIID, e.Name); len(used) > 0 {
			return cur.WithIndex(idx), &applyError{"stage " + e.Name + " is mapped by custom domain " + used[0].Domain}
		}
		return cur.WithoutStage(idx, e.APIID, e.Name), nil
	case entryDeleteDeployment:
		var e deleteDeployment
		mustDecode(idx, t, body, &e)
		if used := cur.StagesUsing(e.APIID, e.ID); len(used) > 0 {
			return cur.WithIndex(idx), &applyError{"deployment " + e.ID + " is used by a stage"}
		}
		return cur.WithoutDeployment(idx, e.APIID, e.ID), nil
	case entryFlushCache:
		var e flushCache
		mustDecode(idx, t, body, &e)
		stage := cur.Stage(e.APIID, e.Stage)
		if stage == nil {
			return cur.WithIndex(idx), &applyError{"stage " + e.Stage + " was deleted"}
		}
		return cur.WithStage(idx, stage.WithFlush(configs.CacheFlush{Seq: idx, Prefix: e.Prefix, At: e.At})), nil
	case entryPutDomain:
		var e putDomain
		mustDecode(idx, t, body, &e)
		// Every mapping must still point at a stage: one may have been
		// deleted after the write was checked.
		for _, m := range e.Domain.Mappings {
			if cur.Stage(m.APIID, m.Stage) == nil {
				return cur.WithIndex(idx), &applyError{"stage " + m.Stage + " of api " + m.APIID + " was deleted"}
			}
		}
		return cur.WithDomain(idx, e.Domain), nil
	case entryDeleteDomain:
		var e deleteDomain
		mustDecode(idx, t, body, &e)
		return cur.WithoutDomain(idx, e.Name), nil
	case entryPutPlan:
		var e putPlan
		mustDecode(idx, t, body, &e)
		for _, ps := range e.Plan.Stages {
			if cur.Stage(ps.APIID, ps.Stage) == nil {
				return cur.WithIndex(idx), &applyError{"stage " + ps.Stage + " of api " + ps.APIID + " was deleted"}
			}
		}
		return cur.WithPlan(idx, e.Plan), nil
	case entryDeletePlan:
		var e deleteByID
		mustDecode(idx, t, body, &e)
		return cur.WithoutPlan(idx, e.ID), nil
	case entryPutKey:
		var e putKey
		mustDecode(idx, t, body, &e)
		if e.Key.PlanID != "" && cur.Plans[e.Key.PlanID] == nil {
			return cur.WithIndex(idx), &applyError{"usage plan " + e.Key.PlanID + " was deleted"}
		}
		// Values are unique: a second key with the same hash (a retried
		// create whose first outcome was unknown) would make the key
		// table fail to build, and every key-protected route refuse.
		for _, k := range cur.Keys {
			if k.ID != e.Key.ID && strings.EqualFold(k.Hash, e.Key.Hash) {
				return cur.WithIndex(idx), &applyError{"another api key has the same value"}
			}
		}
		return cur.WithKey(idx, e.Key), nil
	case entryDeleteKey:
		var e deleteByID
		mustDecode(idx, t, body, &e)
		return cur.WithoutKey(idx, e.ID), nil
	case entryPutCredential:
		var e putCredential
		mustDecode(idx, t, body, &e)
		return cur.WithCredential(idx, e.Credential), nil
	case entryDeleteCredential:
		var e deleteByID
		mustDecode(idx, t, body, &e)
		return cur.WithoutCredential(idx, e.ID), nil
	case entrySetClusterID:
		var e setClusterID
		mustDecode(idx, t, body, &e)
		if cur.ClusterID != "" {
			return cur.WithIndex(idx), &applyError{"the cluster id is already set"}
		}
		return cur.WithClusterID(idx, e.ID), nil
	}
	panic(fmt.Sprintf("cluster: unknown log entry type %d at index %d", byte(t), idx))
}

func mustDecode(idx uint64, t entryType, body []byte, v any) {
	if err := json.Unmarshal(body, v); err != nil {
		panic(fmt.Sprintf("cluster: undecodable %s entry at index %d: %v", t, idx, err))
	}
}

// Snapshot implements raft.FSM. The state is immutable, so holding the
// pointer is a consistent snapshot.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	usage, kept := f.usage.records()
	return &snapshot{state: f.state.Load(), usage: usage, usageKept: kept}, nil
}

// Restore implements raft.FSM: it builds a fresh state and swaps it in.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotDoc
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if s.State == nil {
		s.State = configs.NewState()
	}
	f.usage.restore(s.Usage, s.UsageKept)
	f.publish(s.State.Normalize())
	return nil
}

// snapshotDoc is the snapshot format: the state's own fields, plus the
// usage counts (absent in snapshots from before usage plans) and the
// first day they keep (Usage.kept; absent in older snapshots).
type snapshotDoc struct {
	*configs.State
	Usage     []usageRecord `json:"usage,omitempty"`
	UsageKept string        `json:"usage_kept,omitempty"`
}

type snapshot struct {
	state     *configs.State
	usage     []usageRecord
	usageKept string
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(snapshotDoc{State: s.state, Usage: s.usage, UsageKept: s.usageKept}); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
