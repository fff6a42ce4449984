package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/portico-gw/portico/configs"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{
		NodeID: "n1", DataDir: dir, Listen: "127.0.0.1:0", BootstrapExpect: 1,
		Logger:           slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		s.Close()
		t.Fatalf("wait ready: %v", err)
	}
	return s
}

func testAPI(id string) *configs.API {
	a := &configs.API{ID: id, Name: "pets", Resources: []configs.Resource{{
		Path: "/pets/{id}",
		Methods: map[string]configs.Method{"GET": {Integration: configs.Integration{
			Type: configs.IntegrationMock, StatusCode: 200, Body: `{"pet":1}`,
		}}},
	}}}
	a.ApplyDefaults("us-east-1")
	return a
}

func deployAPI(t *testing.T, s *Store, a *configs.API, depID, stage string) {
	t.Helper()
	ctx := context.Background()
	d := &configs.Deployment{ID: depID, APIID: a.ID, CreatedAt: time.Unix(1700000000, 0).UTC(), API: *a.Clone()}
	st := &configs.Stage{APIID: a.ID, Name: stage, DeploymentID: depID, Variables: map[string]string{"k": "v"}}
	if err := s.Deploy(ctx, d, st); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

// testSurvivesReopen writes to a fresh store, closes it and reopens it,
// twice: once replaying the log, once from a snapshot taken after the
// writes. check gets the state before closing and the reopened one.
func testSurvivesReopen(t *testing.T, write func(t *testing.T, s *Store), check func(t *testing.T, before, after *configs.State)) {
	t.Helper()
	for _, snap := range []bool{false, true} {
		t.Run(map[bool]string{false: "log-replay", true: "snapshot"}[snap], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openStore(t, dir)
			write(t, s)
			if snap {
				if err := s.Snapshot(); err != nil {
					t.Fatalf("snapshot: %v", err)
				}
			}
			before := s.State()
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			s2 := openStore(t, dir)
			defer s2.Close()
			check(t, before, s2.State())
		})
	}
}

func TestStoreSurvivesReopen(t *testing.T) {
	testSurvivesReopen(t, func(t *testing.T, s *Store) {
		a := testAPI("abcdefghij")
		if err := s.PutAPI(context.Background(), a); err != nil {
			t.Fatalf("put api: %v", err)
		}
		deployAPI(t, s, a, "dep001", "prod")
	}, func(t *testing.T, before, st *configs.State) {
		if st.Index < before.Index {
			t.Fatalf("state index after reopen = %d, want >= %d", st.Index, before.Index)
		}
		if got := st.API("abcdefghij"); got == nil || got.Name != "pets" {
			t.Fatalf("api after reopen = %+v", got)
		}
		stage := st.Stage("abcdefghij", "prod")
		if stage == nil || stage.DeploymentID != "dep001" || stage.Variables["k"] != "v" {
			t.Fatalf("stage after reopen = %+v", stage)
		}
		if d := st.Deployment("abcdefghij", "dep001"); d == nil || d.API.Resources[0].Path != "/pets/{id}" {
			t.Fatalf("deployment after reopen = %+v", d)
		}
	})
}

func TestStoreConflicts(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	if len(s.State().ClusterID) != 16 {
		t.Fatalf("cluster id = %q: the first leader must name the cluster before taking writes", s.State().ClusterID)
	}
	ctx := context.Background()
	a := testAPI("kkkkkkkkkk")
	if err := s.PutAPI(ctx, a); err != nil {
		t.Fatal(err)
	}
	deployAPI(t, s, a, "dep001", "prod")

	// A deployment used by a stage cannot be deleted.
	if err := s.DeleteDeployment(ctx, a.ID, "dep001"); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete used deployment: err = %v, want ErrConflict", err)
	}
	// A stage cannot point at a deployment that does not exist.
	if err := s.PutStage(ctx, &configs.Stage{APIID: a.ID, Name: "x", DeploymentID: "nope00"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stage to missing deployment: err = %v, want ErrConflict", err)
	}
	// Deleting the API removes its stages and deployments.
	if err := s.DeleteAPI(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if st.API(a.ID) != nil || len(st.StageList(a.ID)) != 0 || len(st.DeploymentList(a.ID)) != 0 {
		t.Fatalf("api remains after delete: %+v", st)
	}
	// Deploying a deleted API is refused deterministically.
	d := &configs.Deployment{ID: "dep002", APIID: a.ID, API: *a}
	if err := s.Deploy(ctx, d, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("deploy deleted api: err = %v, want ErrConflict", err)
	}
}

// TestStoreFlushCache: a flush is recorded on its stage with the entry's
// log index as its sequence number, which FlushCache returns; a flush of
// a stage that is gone is refused by the log.
func TestStoreFlushCache(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	a := testAPI("ffffffffff")
	if err := s.PutAPI(ctx, a); err != nil {
		t.Fatal(err)
	}
	deployAPI(t, s, a, "dep001", "prod")
	at := time.Unix(1700000100, 0).UTC()
	for _, prefix := range []string{"/pets", ""} {
		seq, err := s.FlushCache(ctx, a.ID, "prod", prefix, at)
		if err != nil {
			t.Fatalf("flush %q: %v", prefix, err)
		}
		st := s.State()
		flushes := st.Stage(a.ID, "prod").CacheFlushes
		if seq != st.Index || len(flushes) == 0 || flushes[len(flushes)-1] != (configs.CacheFlush{Seq: seq, Prefix: prefix, At: at}) {
			t.Fatalf("flush %q: seq %d at state index %d, stage flushes %+v", prefix, seq, st.Index, flushes)
		}
	}
	if _, err := s.FlushCache(ctx, a.ID, "nope", "", at); !errors.Is(err, ErrConflict) {
		t.Fatalf("flush of a missing stage: err = %v, want ErrConflict", err)
	}
}

func TestChangedFiresOnApply(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	ch := s.Changed()
	before := s.State()
	if err := s.PutAPI(context.Background(), testAPI("cccccccccc")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed was not closed after an apply")
	}
	if before.API("cccccccccc") != nil {
		t.Fatal("a published state was mutated")
	}
}

func TestFSMPanicsOnUndecodableEntry(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{{}, {byte(entryPutAPI), '{'}, {99, '{', '}'}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("entry %q applied without panic; replicas would diverge", data)
				}
			}()
			newFSM().Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		}()
	}
}

// logEntry is one entry of a test's Raft log.
type logEntry struct {
	t    entryType
	body any
}

// twoReplicas applies log, from index 1, on two fresh FSMs as two
// replicas would, and fails the test if their states differ. It returns
// each replica's state and the result of each entry.
func twoReplicas(t *testing.T, log []logEntry) (s1, s2 *configs.State, r1, r2 []any) {
	t.Helper()
	var entries [][]byte
	for _, e := range log {
		b, err := encode(e.t, e.body)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, b)
	}
	run := func() (*configs.State, []any) {
		f := newFSM()
		var results []any
		for i, e := range entries {
			results = append(results, f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e}))
		}
		return f.State(), results
	}
	s1, r1 = run()
	s2, r2 = run()
	j1, _ := json.Marshal(s1)
	j2, _ := json.Marshal(s2)
	if string(j1) != string(j2) {
		t.Fatalf("two replicas applying the same log diverged:\n%s\n%s", j1, j2)
	}
	return s1, s2, r1, r2
}

func TestFSMDeterministic(t *testing.T) {
	t.Parallel()
	a := testAPI("dddddddddd")
	s1, s2, r1, r2 := twoReplicas(t, []logEntry{
		{entryPutAPI, putAPI{API: a}},
		{entryDeploy, deploy{Deployment: &configs.Deployment{ID: "d1", APIID: a.ID, API: *a}, Stage: &configs.Stage{APIID: a.ID, Name: "s", DeploymentID: "d1"}}},
		{entryDeleteDeployment, deleteDeployment{APIID: a.ID, ID: "d1"}},
		{entryDeleteStage, deleteStage{APIID: a.ID, Name: "s"}},
		{entryDeleteDeployment, deleteDeployment{APIID: a.ID, ID: "d1"}},
	})
	if len(s1.DeploymentList(a.ID)) != 0 || len(s2.DeploymentList(a.ID)) != 0 {
		t.Fatal("deployment should be deleted after its stage is gone")
	}
	if r1[2] == nil || r2[2] == nil {
		t.Fatal("deleting a deployment in use must fail on every replica")
	}
	if s1.Index != 5 || s2.Index != 5 {
		t.Fatalf("index = %d/%d, want 5", s1.Index, s2.Index)
	}
}

func TestSecondOpenOfDataDirFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	_, err := Open(Config{NodeID: "n2", DataDir: dir, Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "in use by another portico process") {
		t.Fatalf("second open: err = %v, want in-use error", err)
	}
}

// After a snapshot compacts the log, entries below the first index are
// gone for raft, even while raft-wal still holds them in its tail segment.
func TestCompactedEntriesAreNotServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Config{NodeID: "n1", DataDir: dir, Listen: "127.0.0.1:0", BootstrapExpect: 1, TrailingLogs: 4,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := s.PutAPI(context.Background(), testAPI(fmt.Sprintf("cmpct%05d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	logs := walStore{s.wal}
	first, _ := logs.FirstIndex()
	if first <= 2 {
		t.Fatalf("first index %d: the snapshot did not compact the log", first)
	}
	var l raft.Log
	if err := logs.GetLog(first-1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog below the first index: err = %v, want ErrLogNotFound", err)
	}
	if err := logs.GetLog(first, &l); err != nil {
		t.Fatalf("GetLog at the first index: %v", err)
	}
}

// startVoters opens n stores bootstrapped as one cluster of n voters;
// they are closed when the test ends.
func startVoters(t *testing.T, n int) []*Store {
	t.Helper()
	var stores []*Store
	var servers []Server
	for i := 0; i < n; i++ {
		s, err := Open(Config{NodeID: fmt.Sprintf("v%d", i), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
			Logger:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
		servers = append(servers, Server{ID: fmt.Sprintf("v%d", i), Address: s.RaftAddr()})
	}
	for _, s := range stores {
		if err := s.Bootstrap(servers); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}

// writableLeader is the first of candidates found leading and caught up
// (IsLeader). It polls tightly (every 500µs, for up to 20s): the window
// between raft's leader state and the catch-up is milliseconds long.
func writableLeader(t *testing.T, candidates []*Store) *Store {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range candidates {
			if s.IsLeader() {
				return s
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	t.Fatal("no writable leader within 20s")
	return nil
}

// TestLeadershipSpellChangesWhenRegained: a node's leadership spell stays
// the same while it leads, and leadership that moves away and back is a
// new spell, so the limit coordinator (node/limits.go) starts afresh.
func TestLeadershipSpellChangesWhenRegained(t *testing.T) {
	t.Parallel()
	stores := startVoters(t, 3)
	first := writableLeader(t, stores)
	spell1, ok := first.Leadership()
	if !ok {
		t.Fatal("the writable leader does not report leading")
	}
	if again, ok := first.Leadership(); ok && again != spell1 {
		t.Fatalf("spell %d then %d while leading", spell1, again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Hand leadership on until it is back at first (raft picks the
	// transfer's target, each time one of two: 40 moves leave a chance
	// of about 2^-20 that it never came back).
	moved := false
	for i := 0; ; i++ {
		leader := writableLeader(t, stores)
		if leader == first && moved {
			break
		}
		if i == 40 {
			t.Fatalf("leadership did not come back to %s in %d transfers", first.cfg.NodeID, i)
		}
		if err := leader.TransferLeadership(ctx); err != nil {
			t.Fatalf("transfer leadership from %s: %v", leader.cfg.NodeID, err)
		}
		if leader == first {
			if _, ok := first.Leadership(); ok {
				t.Fatal("still leading after transferring leadership away")
			}
			moved = true
		}
	}
	waitFor(t, 20*time.Second, func() error {
		if _, ok := first.Leadership(); !ok {
			return errors.New("first has not regained leadership")
		}
		return nil
	})
	spell2, _ := first.Leadership()
	if spell2 == spell1 {
		t.Fatalf("regained leadership has the first spell's value %d", spell1)
	}
}

// TestNewLeaderAcceptsWritesOnlyOnceCaughtUp: a new leader must not accept
// read-modify-write requests before it has applied every entry committed
// in earlier terms (raft applies them only after its first own entry).
func TestNewLeaderAcceptsWritesOnlyOnceCaughtUp(t *testing.T) {
	t.Parallel()
	stores := startVoters(t, 3)
	leader := writableLeader(t, stores)
	var last string
	for i := 0; i < 50; i++ {
		last = fmt.Sprintf("barrier%03d", i)
		// A loaded machine can miss a 200ms heartbeat and cost the
		// leader its term mid-write; the write is idempotent, so it is
		// retried on whoever leads next (a bounded number of times).
		err := leader.PutAPI(context.Background(), testAPI(last))
		var notLeader *ErrNotLeader
		for retry := 0; err != nil && (errors.Is(err, ErrOutcomeUnknown) || errors.As(err, &notLeader)) && retry < 5; retry++ {
			leader = writableLeader(t, stores)
			err = leader.PutAPI(context.Background(), testAPI(last))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	leader.Close()
	var rest []*Store
	for _, s := range stores {
		if s != leader {
			rest = append(rest, s)
		}
	}
	next := writableLeader(t, rest)
	if next.State().API(last) == nil {
		t.Fatalf("the new leader accepts writes at index %d without the last acknowledged write", next.State().Index)
	}
}

// TestStoreWriteAfterDeadline: a write whose context has already ended is
// refused before anything is appended (raft would take a zero timeout as
// none and wait without bound).
func TestStoreWriteAfterDeadline(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	before := s.State().Index
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	err := s.PutAPI(ctx, testAPI("dddddddddd"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutAPI after the deadline: %v, want context.DeadlineExceeded", err)
	}
	if s.State().Index != before || s.State().API("dddddddddd") != nil {
		t.Fatalf("a refused write changed the state: index %d → %d", before, s.State().Index)
	}
	if d := s.timeout(ctx); d <= 0 {
		t.Fatalf("timeout of an ended context = %v, want a small positive bound", d)
	}
}
