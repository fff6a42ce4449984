package configs

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// baseState holds two APIs; "a1b2c3d4e5" has three deployments (two
// created at the same instant) and two stages.
func baseState() *State {
	a := &API{ID: "a1b2c3d4e5", Name: "pets"}
	b := &API{ID: "b1b2c3d4e5", Name: "orders"}
	s := NewState().WithAPI(1, a).WithAPI(2, b)
	s = s.WithDeployment(3, &Deployment{ID: "d00001", APIID: a.ID, CreatedAt: t0}, &Stage{APIID: a.ID, Name: "prod", DeploymentID: "d00001"})
	s = s.WithDeployment(4, &Deployment{ID: "d00002", APIID: a.ID, CreatedAt: t0.Add(time.Minute)}, &Stage{APIID: a.ID, Name: "beta", DeploymentID: "d00002"})
	s = s.WithDeployment(5, &Deployment{ID: "d00003", APIID: a.ID, CreatedAt: t0.Add(time.Minute)}, nil)
	return s
}

// stateWrite is one writer of a State and what the state it returns
// must hold.
type stateWrite struct {
	name  string
	write func(s *State) *State
	check func(t *testing.T, n *State)
}

// testStateWrites runs each write on a fresh base(): it must return a new
// state at index that passes check, and leave the original as it was.
func testStateWrites(t *testing.T, base func() *State, index uint64, tests []stateWrite) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := base()
			before, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			n := tt.write(s)
			if n == s {
				t.Fatal("writer returned the same *State")
			}
			if n.Index != index {
				t.Errorf("new index %d, want %d", n.Index, index)
			}
			tt.check(t, n)
			after, _ := json.Marshal(s)
			if string(before) != string(after) {
				t.Fatalf("original state changed\nbefore %s\n after %s", before, after)
			}
		})
	}
}

func TestStateWritersDoNotMutate(t *testing.T) {
	t.Parallel()
	const api = "a1b2c3d4e5"
	testStateWrites(t, baseState, 9, []stateWrite{
		{"WithIndex", func(s *State) *State { return s.WithIndex(9) }, func(t *testing.T, n *State) {
			if len(n.APIs) != 2 {
				t.Errorf("apis %d", len(n.APIs))
			}
		}},
		{"WithAPI new", func(s *State) *State { return s.WithAPI(9, &API{ID: "c1b2c3d4e5", Name: "new"}) }, func(t *testing.T, n *State) {
			if n.API("c1b2c3d4e5") == nil {
				t.Error("api not added")
			}
		}},
		{"WithAPI replace", func(s *State) *State { return s.WithAPI(9, &API{ID: api, Name: "renamed"}) }, func(t *testing.T, n *State) {
			if n.API(api).Name != "renamed" {
				t.Error("api not replaced")
			}
		}},
		{"WithoutAPI", func(s *State) *State { return s.WithoutAPI(9, api) }, func(t *testing.T, n *State) {
			if n.API(api) != nil || len(n.DeploymentList(api)) != 0 || len(n.StageList(api)) != 0 {
				t.Error("api, deployments or stages left behind")
			}
		}},
		{"WithDeployment", func(s *State) *State {
			return s.WithDeployment(9, &Deployment{ID: "d00009", APIID: api, CreatedAt: t0.Add(time.Hour)}, &Stage{APIID: api, Name: "prod", DeploymentID: "d00009"})
		}, func(t *testing.T, n *State) {
			if n.Deployment(api, "d00009") == nil || n.Stage(api, "prod").DeploymentID != "d00009" {
				t.Error("deployment or stage not stored")
			}
		}},
		{"WithoutDeployment", func(s *State) *State { return s.WithoutDeployment(9, api, "d00003") }, func(t *testing.T, n *State) {
			if n.Deployment(api, "d00003") != nil || len(n.DeploymentList(api)) != 2 {
				t.Error("deployment not removed")
			}
		}},
		{"WithStage", func(s *State) *State { return s.WithStage(9, &Stage{APIID: api, Name: "dev", DeploymentID: "d00003"}) }, func(t *testing.T, n *State) {
			if n.Stage(api, "dev") == nil || len(n.StageList(api)) != 3 {
				t.Error("stage not added")
			}
		}},
		{"WithStage on a new api", func(s *State) *State { return s.WithStage(9, &Stage{APIID: "b1b2c3d4e5", Name: "dev"}) }, func(t *testing.T, n *State) {
			if n.Stage("b1b2c3d4e5", "dev") == nil {
				t.Error("stage not added")
			}
		}},
		{"WithoutStage", func(s *State) *State { return s.WithoutStage(9, api, "beta") }, func(t *testing.T, n *State) {
			if n.Stage(api, "beta") != nil || n.Stage(api, "prod") == nil {
				t.Error("wrong stage removed")
			}
		}},
	})
}

func TestDeploymentListNewestFirst(t *testing.T) {
	t.Parallel()
	s := baseState()
	var got []string
	for _, d := range s.DeploymentList("a1b2c3d4e5") {
		got = append(got, d.ID)
	}
	// d00002 and d00003 share a creation time: the larger id comes first.
	if want := []string{"d00003", "d00002", "d00001"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("DeploymentList = %v, want %v", got, want)
	}
	if got := s.DeploymentList("nope"); len(got) != 0 {
		t.Errorf("unknown api: %v", got)
	}
}

func TestPreviousDeployment(t *testing.T) {
	t.Parallel()
	s := baseState()
	tests := []struct {
		id   string
		want string // empty: nil
	}{
		{"d00003", "d00002"}, // same time, smaller id
		{"d00002", "d00001"},
		{"d00001", ""},
		{"missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			got := s.PreviousDeployment("a1b2c3d4e5", tt.id)
			switch {
			case tt.want == "" && got != nil:
				t.Fatalf("PreviousDeployment(%s) = %s, want nil", tt.id, got.ID)
			case tt.want != "" && (got == nil || got.ID != tt.want):
				t.Fatalf("PreviousDeployment(%s) = %v, want %s", tt.id, got, tt.want)
			}
		})
	}
}

func TestStagesUsing(t *testing.T) {
	t.Parallel()
	s := baseState().WithStage(6, &Stage{APIID: "a1b2c3d4e5", Name: "canary", DeploymentID: "d00001"})
	tests := []struct {
		deployment string
		want       []string
	}{
		{"d00001", []string{"canary", "prod"}},
		{"d00002", []string{"beta"}},
		{"d00003", nil},
	}
	for _, tt := range tests {
		if got := s.StagesUsing("a1b2c3d4e5", tt.deployment); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StagesUsing(%s) = %v, want %v", tt.deployment, got, tt.want)
		}
	}
}

func TestAPIListAndNamed(t *testing.T) {
	t.Parallel()
	s := baseState().WithAPI(6, &API{ID: "c1b2c3d4e5", Name: "orders"})
	var got []string
	for _, a := range s.APIList() {
		got = append(got, a.Name+"/"+a.ID)
	}
	if want := []string{"orders/b1b2c3d4e5", "orders/c1b2c3d4e5", "pets/a1b2c3d4e5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("APIList = %v, want %v", got, want)
	}
	if n := len(s.APIsNamed("orders")); n != 2 {
		t.Errorf("APIsNamed(orders) = %d APIs, want 2", n)
	}
}

// snapshotRoundTrip writes s as a snapshot and reads it back, which must
// give s again; it returns the snapshot's JSON.
func snapshotRoundTrip(t *testing.T, s *State) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Normalize(), s) {
		t.Fatalf("snapshot round trip differs:\n%s", b)
	}
	return b
}

func TestStateSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	snapshotRoundTrip(t, baseState())
	empty := (&State{}).Normalize()
	if empty.APIs == nil || empty.Deployments == nil || empty.Stages == nil {
		t.Fatal("Normalize left a nil map")
	}
	if empty.WithAPI(1, &API{ID: "a1b2c3d4e5"}).API("a1b2c3d4e5") == nil {
		t.Fatal("write to a normalized empty state failed")
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, restYAML)
	c := a.Clone()
	if !reflect.DeepEqual(a, c) {
		t.Fatalf("clone differs:\n%s\n%s", mustJSON(t, a), mustJSON(t, c))
	}
	c.Resources[0].Methods["GET"].Integration.Headers["Content-Type"] = "text/html"
	c.CORS.AllowOrigins[0] = "https://evil.example.com"
	if a.Resources[0].Methods["GET"].Integration.Headers["Content-Type"] != "application/json" || a.CORS.AllowOrigins[0] != "https://app.example.com" {
		t.Fatal("changing the clone changed the original")
	}
}
