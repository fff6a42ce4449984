package configs

import "testing"

// TestAccessStateIsCopiedOnWrite: every write returns a new state and
// leaves the one it started from as it was, for plans, keys and
// credentials (shared between states until a write changes them) and for
// a stage's deletion, which drops it from the plans covering it.
func TestAccessStateIsCopiedOnWrite(t *testing.T) {
	t.Parallel()
	plan := &UsagePlan{ID: "p1", Name: "gold", Stages: []PlanStage{{APIID: "api1", Stage: "prod"}}}
	s0 := (&State{}).WithPlan(1, plan).
		WithKey(2, &APIKey{ID: "k1", Name: "a", Hash: "h1", PlanID: "p1", Enabled: true}).
		WithCredential(3, &Credential{ID: "c1", Name: "c"}).
		WithStage(4, &Stage{APIID: "api1", Name: "prod"})
	check := func(what string) {
		t.Helper()
		if len(s0.Plans) != 1 || len(s0.Keys) != 1 || len(s0.Credentials) != 1 {
			t.Fatalf("after %s: the first state has %d plans, %d keys, %d credentials, want 1 each",
				what, len(s0.Plans), len(s0.Keys), len(s0.Credentials))
		}
		if s0.Keys["k1"].PlanID != "p1" || len(s0.Plans["p1"].Stages) != 1 {
			t.Fatalf("after %s: the first state's key or plan changed: %+v %+v", what, s0.Keys["k1"], s0.Plans["p1"])
		}
	}
	s1 := s0.WithKey(5, &APIKey{ID: "k2", Hash: "h2"}).WithCredential(6, &Credential{ID: "c2"}).WithPlan(7, &UsagePlan{ID: "p2"})
	check("adding a key, a credential and a plan")
	if len(s1.Keys) != 2 || len(s1.Credentials) != 2 || len(s1.Plans) != 2 {
		t.Fatalf("new state: %d keys, %d credentials, %d plans, want 2 each", len(s1.Keys), len(s1.Credentials), len(s1.Plans))
	}
	s2 := s0.WithoutPlan(8, "p1").WithoutKey(9, "k1").WithoutCredential(10, "c1")
	check("deleting them")
	if len(s2.Plans)+len(s2.Keys)+len(s2.Credentials) != 0 {
		t.Fatalf("new state still has %v %v %v", s2.Plans, s2.Keys, s2.Credentials)
	}
	s3 := s0.WithoutPlan(11, "p1")
	check("deleting the key's plan")
	if s3.Keys["k1"].PlanID != "" {
		t.Fatalf("a key of a deleted plan keeps plan %q", s3.Keys["k1"].PlanID)
	}
	s4 := s0.WithoutStage(12, "api1", "prod")
	check("deleting a covered stage")
	if len(s4.Plans["p1"].Stages) != 0 {
		t.Fatalf("the plan still covers the deleted stage: %v", s4.Plans["p1"].Stages)
	}
	s5 := s0.WithIndex(13)
	check("an unrelated write")
	if len(s5.Keys) != 1 || s5.Keys["k1"] != s0.Keys["k1"] {
		t.Fatal("an unrelated write lost the keys")
	}
}
