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

	"github.com/hashicorp/raft"

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
	for _, snap := range []bool{false, true} {
		t.Run(map[bool]string{false: "log-replay", true: "snapshot"}[snap], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openStore(t, dir)
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
			if snap {
				if err := s.Snapshot(); err != nil {
					t.Fatalf("snapshot: %v", err)
				}
			}
			want := s.State()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s2 := openStore(t, dir)
			defer s2.Close()
			st := s2.State()
			if got := st.Domain("shop.example.com"); !reflect.DeepEqual(got, want.Domain("shop.example.com")) {
				t.Fatalf("domain after reopen = %+v, want %+v", got, shop)
			}
			if st.Domain("gone.example.com") != nil || len(st.DomainList()) != 1 {
				t.Fatalf("deleted domain came back: %v", st.DomainList())
			}
			if m, rest := st.Domain("shop.example.com").Match("/pets/pets/1"); m == nil || m.Stage != "prod" || rest != "/pets/1" {
				t.Fatalf("match after reopen = %+v %q", m, rest)
			}
		})
	}
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
	var entries [][]byte
	for _, e := range []struct {
		t    entryType
		body any
	}{
		{entryPutAPI, putAPI{API: a}},
		{entryPutDomain, putDomain{Domain: testDomain("early.example.com", m)}}, // 2: no stage yet
		{entryDeploy, deploy{Deployment: &configs.Deployment{ID: "d1", APIID: a.ID, API: *a}, Stage: &configs.Stage{APIID: a.ID, Name: "s", DeploymentID: "d1"}}},
		{entryPutDomain, putDomain{Domain: testDomain("api.example.com", m)}},
		{entryDeleteStage, deleteStage{APIID: a.ID, Name: "s"}}, // 5: mapped
		{entryDeleteAPI, deleteAPI{ID: a.ID}},                   // 6: mapped
		{entryPutDomain, putDomain{Domain: testDomain("other.example.com")}},
		{entryDeleteDomain, deleteDomain{Name: "other.example.com"}},
	} {
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
	s1, r1 := run()
	s2, _ := run()
	j1, _ := json.Marshal(s1)
	j2, _ := json.Marshal(s2)
	if string(j1) != string(j2) {
		t.Fatalf("two replicas applying the same log diverged:\n%s\n%s", j1, j2)
	}
	for i, want := range []bool{false, true, false, false, true, true, false, false} {
		if failed := r1[i] != nil; failed != want {
			t.Errorf("entry %d (%s): result %v, want failure %v", i+1, entryType(entries[i][0]), r1[i], want)
		}
	}
	if s1.Domain("early.example.com") != nil || s1.Domain("other.example.com") != nil || s1.Stage(a.ID, "s") == nil || s1.API(a.ID) == nil {
		t.Fatalf("state after the log: %s", j1)
	}
	if s1.Index != uint64(len(entries)) {
		t.Fatalf("index = %d, want %d", s1.Index, len(entries))
	}

	// A snapshot of the state restores the domains on a fresh replica.
	snap, _ := newFSMWith(s1).Snapshot()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	if err := f.Restore(io.NopCloser(&sink.buf)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.State(), s1) {
		t.Fatalf("restored state differs:\n%s", sink.buf.String())
	}
}

func newFSMWith(s *configs.State) *fsm {
	f := newFSM()
	f.state.Store(s)
	return f
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ buf bytes.Buffer }

func (m *memSink) Write(p []byte) (int, error) { return m.buf.Write(p) }
func (m *memSink) Close() error                { return nil }
func (m *memSink) ID() string                  { return "mem" }
func (m *memSink) Cancel() error               { return nil }
