package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

func testDomain(name string, mappings ...configs.BasePathMapping) *configs.Domain {
	d := &configs.Domain{Name: name, CreatedAt: time.Unix(1700000000, 0).UTC()}
	d.ApplyDefaults()
	for _, m := range mappings {
		d = d.WithMapping(m)
	}
	return d
}

func TestStoreDomainsSurviveReopen(t *testing.T) {
	testSurvivesReopen(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := testAPI("dmndmndmnd")
		if err := s.PutAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
		deployAPI(t, s, a, "dep001", "prod")
		shop := testDomain("shop.example.com",
			configs.BasePathMapping{BasePath: "pets", APIID: a.ID, Stage: "prod"},
			configs.BasePathMapping{APIID: a.ID, Stage: "prod"})
		gone := testDomain("gone.example.com")
		for _, d := range []*configs.Domain{shop, gone} {
			if err := s.PutDomain(ctx, d); err != nil {
				t.Fatalf("put domain %s: %v", d.Name, err)
			}
		}
		if err := s.DeleteDomain(ctx, gone.Name); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T, before, st *configs.State) {
		want := before.Domain("shop.example.com")
		if got := st.Domain("shop.example.com"); want == nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("domain after reopen = %+v, want %+v", got, want)
		}
		if st.Domain("gone.example.com") != nil || len(st.DomainList()) != 1 {
			t.Fatalf("deleted domain came back: %v", st.DomainList())
		}
		if m, rest := st.Domain("shop.example.com").Match("/pets/pets/1"); m == nil || m.Stage != "prod" || rest != "/pets/1" {
			t.Fatalf("match after reopen = %+v %q", m, rest)
		}
	})
}

func TestStoreRefusesToOrphanMappings(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	a := testAPI("mmmmmmmmmm")
	if err := s.PutAPI(ctx, a); err != nil {
		t.Fatal(err)
	}
	deployAPI(t, s, a, "dep001", "prod")
	if err := s.PutStage(ctx, &configs.Stage{APIID: a.ID, Name: "beta", DeploymentID: "dep001"}); err != nil {
		t.Fatal(err)
	}
	d := testDomain("api.example.com", configs.BasePathMapping{BasePath: "v1", APIID: a.ID, Stage: "prod"})
	if err := s.PutDomain(ctx, d); err != nil {
		t.Fatal(err)
	}

	// Deleting the mapped API or stage is refused before the log, naming
	// the mapping; an unmapped stage goes.
	before := s.Status().LastIndex
	for name, del := range map[string]func() error{
		"api":   func() error { return s.DeleteAPI(ctx, a.ID) },
		"stage": func() error { return s.DeleteStage(ctx, a.ID, "prod") },
	} {
		err := del()
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "api.example.com (base path v1)") {
			t.Errorf("delete mapped %s: err = %v, want ErrConflict naming the mapping", name, err)
		}
	}
	if after := s.Status().LastIndex; after != before {
		t.Errorf("last index moved from %d to %d: a refused delete reached the log", before, after)
	}
	if err := s.DeleteStage(ctx, a.ID, "beta"); err != nil {
		t.Fatalf("delete unmapped stage: %v", err)
	}

	// A mapping to a stage that is gone is refused by the log itself.
	stale := d.WithMapping(configs.BasePathMapping{BasePath: "beta", APIID: a.ID, Stage: "beta"})
	if err := s.PutDomain(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("map a deleted stage: err = %v, want ErrConflict", err)
	}
	if got := s.State().Domain(d.Name); !reflect.DeepEqual(got, d) {
		t.Fatalf("a refused put changed the domain: %+v", got)
	}

	// Once unmapped, the API can be deleted; the domain stays, empty.
	unmapped, _ := d.WithoutMappings(func(configs.BasePathMapping) bool { return true })
	if err := s.PutDomain(ctx, unmapped); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPI(ctx, a.ID); err != nil {
		t.Fatalf("delete unmapped api: %v", err)
	}
	if got := s.State().Domain(d.Name); got == nil || len(got.Mappings) != 0 {
		t.Fatalf("domain after api delete = %+v", got)
	}
}

// The log refuses on every replica what the store refuses before it:
// entries that slipped past the check (a race across a change of leader)
// leave no mapping pointing at nothing.
func TestFSMDomainEntriesDeterministic(t *testing.T) {
	t.Parallel()
	a := testAPI("eeeeeeeeee")
	m := configs.BasePathMapping{BasePath: "v1", APIID: a.ID, Stage: "s"}
	log := []logEntry{
		{entryPutAPI, putAPI{API: a}},
		{entryPutDomain, putDomain{Domain: testDomain("early.example.com", m)}}, // 2: no stage yet
		{entryDeploy, deploy{Deployment: &configs.Deployment{ID: "d1", APIID: a.ID, API: *a}, Stage: &configs.Stage{APIID: a.ID, Name: "s", DeploymentID: "d1"}}},
		{entryPutDomain, putDomain{Domain: testDomain("api.example.com", m)}},
		{entryDeleteStage, deleteStage{APIID: a.ID, Name: "s"}}, // 5: mapped
		{entryDeleteAPI, deleteAPI{ID: a.ID}},                   // 6: mapped
		{entryPutDomain, putDomain{Domain: testDomain("other.example.com")}},
		{entryDeleteDomain, deleteDomain{Name: "other.example.com"}},
	}
	s1, _, r1, _ := twoReplicas(t, log)
	for i, want := range []bool{false, true, false, false, true, true, false, false} {
		if failed := r1[i] != nil; failed != want {
			t.Errorf("entry %d (%s): result %v, want failure %v", i+1, log[i].t, r1[i], want)
		}
	}
	if s1.Domain("early.example.com") != nil || s1.Domain("other.example.com") != nil || s1.Stage(a.ID, "s") == nil || s1.API(a.ID) == nil {
		j1, _ := json.Marshal(s1)
		t.Fatalf("state after the log: %s", j1)
	}
	if s1.Index != uint64(len(log)) {
		t.Fatalf("index = %d, want %d", s1.Index, len(log))
	}

	// A snapshot of the state restores the domains on a fresh replica
	// (usage counts beside a state: TestUsageReplicasAgreeAcrossSnapshots).
	if f := restoredCopy(t, newFSMWith(s1)); !reflect.DeepEqual(f.State(), s1) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", f.State(), s1)
	}
}

func newFSMWith(s *configs.State) *fsm {
	f := newFSM()
	f.state.Store(s)
	return f
}

// restoredCopy returns a new FSM restored from a snapshot of src.
func restoredCopy(t testing.TB, src *fsm) *fsm {
	t.Helper()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(sink.buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	return f
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ buf bytes.Buffer }

func (m *memSink) Write(p []byte) (int, error) { return m.buf.Write(p) }
func (m *memSink) Close() error                { return nil }
func (m *memSink) ID() string                  { return "mem" }
func (m *memSink) Cancel() error               { return nil }
