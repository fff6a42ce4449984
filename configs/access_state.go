package configs

import (
	"maps"
	"slices"
)

// dropPlanStages removes matching stages from every usage plan of s,
// which must be a fresh shallow copy; the plans map is copied and plans
// that change are replaced, never modified. A deleted stage is no longer
// covered, so a stage made again under the same name is not covered by
// accident.
func (s *State) dropPlanStages(drop func(PlanStage) bool) {
	copied := false
	for id, p := range s.Plans {
		if slices.ContainsFunc(p.Stages, drop) {
			if !copied {
				s.Plans, copied = copyMap(s.Plans), true
			}
			c := *p
			c.Stages = slices.DeleteFunc(slices.Clone(p.Stages), drop)
			s.Plans[id] = &c
		}
	}
}

// WithPlan returns a new state with the usage plan stored.
func (s *State) WithPlan(index uint64, p *UsagePlan) *State {
	n := s.shallow(index)
	n.Plans = copyMap(n.Plans)
	n.Plans[p.ID] = p
	return n
}

// WithoutPlan returns a new state without the plan. Keys of the plan stay
// but lose it: a key without a plan is refused where a key is required.
func (s *State) WithoutPlan(index uint64, id string) *State {
	n := s.shallow(index)
	n.Plans = copyMap(n.Plans)
	delete(n.Plans, id)
	n.Keys = copyMap(n.Keys)
	for kid, k := range n.Keys {
		if k.PlanID == id {
			c := *k
			c.PlanID = ""
			n.Keys[kid] = &c
		}
	}
	return n
}

// WithKey returns a new state with the API key stored.
func (s *State) WithKey(index uint64, k *APIKey) *State {
	n := s.shallow(index)
	n.Keys = copyMap(n.Keys)
	n.Keys[k.ID] = k
	return n
}

// WithoutKey returns a new state without the API key.
func (s *State) WithoutKey(index uint64, id string) *State {
	n := s.shallow(index)
	n.Keys = copyMap(n.Keys)
	delete(n.Keys, id)
	return n
}

// WithCredential returns a new state with the SigV4 credential stored.
func (s *State) WithCredential(index uint64, c *Credential) *State {
	n := s.shallow(index)
	n.Credentials = copyMap(n.Credentials)
	n.Credentials[c.ID] = c
	return n
}

// WithoutCredential returns a new state without the credential.
func (s *State) WithoutCredential(index uint64, id string) *State {
	n := s.shallow(index)
	n.Credentials = copyMap(n.Credentials)
	delete(n.Credentials, id)
	return n
}

// PlanList returns every usage plan sorted by name, then id.
func (s *State) PlanList() []*UsagePlan {
	return sortByName(slices.AppendSeq(make([]*UsagePlan, 0, len(s.Plans)), maps.Values(s.Plans)),
		func(p *UsagePlan) (string, string) { return p.Name, p.ID })
}

// KeyList returns the API keys of a plan (every key when plan is empty),
// sorted by name, then id.
func (s *State) KeyList(plan string) []*APIKey {
	out := make([]*APIKey, 0, len(s.Keys))
	for _, k := range s.Keys {
		if plan == "" || k.PlanID == plan {
			out = append(out, k)
		}
	}
	return sortByName(out, func(k *APIKey) (string, string) { return k.Name, k.ID })
}

// CredentialList returns every SigV4 credential, secrets left out,
// sorted by name, then id.
func (s *State) CredentialList() []*Credential {
	out := make([]*Credential, 0, len(s.Credentials))
	for _, c := range s.Credentials {
		out = append(out, c.Redacted())
	}
	return sortByName(out, func(c *Credential) (string, string) { return c.Name, c.ID })
}
