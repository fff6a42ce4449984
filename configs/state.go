package configs

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strings"
)

// State is the committed configuration at one Raft index: every API, its
// deployments and its stages, and the custom domains. A State is immutable once published; writers
// build a new one (see With*) and swap it in, so readers on the request
// path never lock.
type State struct {
	// Index is the Raft log index this state reflects.
	Index uint64 `json:"index"`
	// ClusterID names the Raft cluster that produced the state; indexes
	// only compare within one cluster (a rebuilt control plane starts
	// again from low indexes).
	ClusterID   string                            `json:"cluster_id,omitempty"`
	APIs        map[string]*API                   `json:"apis"`
	Deployments map[string]map[string]*Deployment `json:"deployments"` // api id → deployment id →
	Stages      map[string]map[string]*Stage      `json:"stages"`      // api id → stage name →
	// Domains are the custom domain names by name. Every mapping points at
	// an API and a stage of this state: the log refuses to delete what a
	// domain maps, and WithoutAPI and WithoutStage drop such mappings.
	Domains map[string]*Domain `json:"domains"`
	// Access control: usage plans, API keys (hashed) and SigV4
	// credentials, by id. See access_state.go.
	Plans       map[string]*UsagePlan  `json:"plans,omitempty"`
	Keys        map[string]*APIKey     `json:"keys,omitempty"`
	Credentials map[string]*Credential `json:"credentials,omitempty"`
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		APIs:        map[string]*API{},
		Deployments: map[string]map[string]*Deployment{},
		Stages:      map[string]map[string]*Stage{},
		Domains:     map[string]*Domain{},
		Plans:       map[string]*UsagePlan{},
		Keys:        map[string]*APIKey{},
		Credentials: map[string]*Credential{},
	}
}

// Normalize makes the maps non-nil after decoding a snapshot.
func (s *State) Normalize() *State {
	if s.APIs == nil {
		s.APIs = map[string]*API{}
	}
	if s.Deployments == nil {
		s.Deployments = map[string]map[string]*Deployment{}
	}
	if s.Stages == nil {
		s.Stages = map[string]map[string]*Stage{}
	}
	if s.Domains == nil {
		s.Domains = map[string]*Domain{} // snapshots from before custom domains
	}
	if s.Plans == nil {
		s.Plans = map[string]*UsagePlan{}
	}
	if s.Keys == nil {
		s.Keys = map[string]*APIKey{}
	}
	if s.Credentials == nil {
		s.Credentials = map[string]*Credential{}
	}
	return s
}

// shallow copies the top-level maps; the values themselves are immutable.
func (s *State) shallow(index uint64) *State {
	n := &State{
		Index:       index,
		ClusterID:   s.ClusterID,
		APIs:        make(map[string]*API, len(s.APIs)),
		Deployments: make(map[string]map[string]*Deployment, len(s.Deployments)),
		Stages:      make(map[string]map[string]*Stage, len(s.Stages)),
		Domains:     make(map[string]*Domain, len(s.Domains)),
		// Shared: the functions that change one of these copy it first,
		// so a write that does not touch them (most writes) does not
		// pay for every API key.
		Plans:       s.Plans,
		Keys:        s.Keys,
		Credentials: s.Credentials,
	}
	for k, v := range s.APIs {
		n.APIs[k] = v
	}
	for k, v := range s.Deployments {
		n.Deployments[k] = v
	}
	for k, v := range s.Stages {
		n.Stages[k] = v
	}
	for k, v := range s.Domains {
		n.Domains[k] = v
	}
	return n
}

func copyMap[V any](m map[string]V) map[string]V {
	n := make(map[string]V, len(m)+1)
	for k, v := range m {
		n[k] = v
	}
	return n
}

// WithClusterID returns the state named by a cluster id.
func (s *State) WithClusterID(index uint64, id string) *State {
	n := s.shallow(index)
	n.ClusterID = id
	return n
}

// Newer reports whether s should replace cur in a node's served config:
// a higher index of the same cluster, or any state of another cluster
// (the control plane was rebuilt and its indexes start again).
func (s *State) Newer(cur *State) bool {
	if s.ClusterID != "" && cur.ClusterID != "" && s.ClusterID != cur.ClusterID {
		return true
	}
	return s.Index > cur.Index
}

// WithIndex returns the same state at a new index.
func (s *State) WithIndex(index uint64) *State { return s.shallow(index) }

// WithAPI returns a new state with the API stored (created or replaced).
func (s *State) WithAPI(index uint64, a *API) *State {
	n := s.shallow(index)
	n.APIs[a.ID] = a
	return n
}

// WithoutAPI returns a new state without the API, its deployments, its
// stages and the domain mappings that point at it.
func (s *State) WithoutAPI(index uint64, id string) *State {
	n := s.shallow(index)
	delete(n.APIs, id)
	delete(n.Deployments, id)
	delete(n.Stages, id)
	n.dropMappings(func(m BasePathMapping) bool { return m.APIID == id })
	n.dropPlanStages(func(ps PlanStage) bool { return ps.APIID == id })
	return n
}

// WithDeployment returns a new state with the deployment stored and, when
// stage is not nil, the stage pointed at it.
func (s *State) WithDeployment(index uint64, d *Deployment, stage *Stage) *State {
	n := s.shallow(index)
	deps := copyMap(n.Deployments[d.APIID])
	deps[d.ID] = d
	n.Deployments[d.APIID] = deps
	if stage != nil {
		st := copyMap(n.Stages[stage.APIID])
		st[stage.Name] = stage
		n.Stages[stage.APIID] = st
	}
	return n
}

// WithoutDeployment returns a new state without the deployment.
func (s *State) WithoutDeployment(index uint64, apiID, id string) *State {
	n := s.shallow(index)
	deps := copyMap(n.Deployments[apiID])
	delete(deps, id)
	n.Deployments[apiID] = deps
	return n
}

// WithStage returns a new state with the stage stored.
func (s *State) WithStage(index uint64, stage *Stage) *State {
	n := s.shallow(index)
	st := copyMap(n.Stages[stage.APIID])
	st[stage.Name] = stage
	n.Stages[stage.APIID] = st
	return n
}

// WithoutStage returns a new state without the stage and the domain
// mappings that point at it.
func (s *State) WithoutStage(index uint64, apiID, name string) *State {
	n := s.shallow(index)
	st := copyMap(n.Stages[apiID])
	delete(st, name)
	n.Stages[apiID] = st
	n.dropMappings(func(m BasePathMapping) bool { return m.APIID == apiID && m.Stage == name })
	n.dropPlanStages(func(ps PlanStage) bool { return ps.APIID == apiID && ps.Stage == name })
	return n
}

// WithDomain returns a new state with the domain stored (created or
// replaced, mappings included).
func (s *State) WithDomain(index uint64, d *Domain) *State {
	n := s.shallow(index)
	n.Domains[d.Name] = d
	return n
}

// WithoutDomain returns a new state without the domain and its mappings.
func (s *State) WithoutDomain(index uint64, name string) *State {
	n := s.shallow(index)
	delete(n.Domains, name)
	return n
}

// dropMappings removes matching mappings from every domain of s, which
// must be a fresh shallow copy; domains that change are replaced, never
// modified.
func (s *State) dropMappings(drop func(BasePathMapping) bool) {
	for name, d := range s.Domains {
		if nd, changed := d.WithoutMappings(drop); changed {
			s.Domains[name] = nd
		}
	}
}

// API returns the API with the id, or nil.
func (s *State) API(id string) *API { return s.APIs[id] }

// Deployment returns one deployment, or nil.
func (s *State) Deployment(apiID, id string) *Deployment { return s.Deployments[apiID][id] }

// Stage returns one stage, or nil.
func (s *State) Stage(apiID, name string) *Stage { return s.Stages[apiID][name] }

// Domain returns the custom domain with the name, or nil. The name must
// be canonical (see CanonicalDomainName): lowercase, without the final
// dot or a port.
func (s *State) Domain(name string) *Domain { return s.Domains[name] }

// DomainList returns every custom domain sorted by name.
func (s *State) DomainList() []*Domain {
	out := make([]*Domain, 0, len(s.Domains))
	for _, d := range s.Domains {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DomainMapping is one base path mapping with the domain that holds it.
type DomainMapping struct {
	Domain string `json:"domain"`
	BasePathMapping
}

// MappingsTo lists the mappings, over every domain, that point at the
// API, or at one of its stages when stage is not empty; sorted by domain,
// then base path.
func (s *State) MappingsTo(apiID, stage string) []DomainMapping {
	var out []DomainMapping
	for _, d := range s.DomainList() {
		for _, m := range d.Mappings {
			if m.APIID == apiID && (stage == "" || m.Stage == stage) {
				out = append(out, DomainMapping{Domain: d.Name, BasePathMapping: m})
			}
		}
	}
	return out
}

// DomainRegions returns the regions that serve a REGIONAL domain: its
// own list, else the sorted home regions of the APIs it maps. It is nil
// for an EDGE domain (every edge node serves it) and for a domain that
// names no region and maps nothing. The result must not be modified.
func (s *State) DomainRegions(d *Domain) []string {
	if d.EndpointType == EndpointEdge {
		return nil
	}
	if len(d.Regions) > 0 {
		return d.Regions
	}
	var out []string
	for _, m := range d.Mappings {
		if a := s.API(m.APIID); a != nil && a.HomeRegion != "" && !slices.Contains(out, a.HomeRegion) {
			out = append(out, a.HomeRegion)
		}
	}
	slices.Sort(out)
	return out
}

// APIList returns every API sorted by name, then id.
func (s *State) APIList() []*API {
	return sortByName(slices.AppendSeq(make([]*API, 0, len(s.APIs)), maps.Values(s.APIs)),
		func(a *API) (string, string) { return a.Name, a.ID })
}

// sortByName sorts xs by name, then id, as key reads them, and returns
// it. The lists of the admin API use it; their ids are unique, so the
// order is total.
func sortByName[T any](xs []T, key func(T) (name, id string)) []T {
	slices.SortFunc(xs, func(a, b T) int {
		an, aid := key(a)
		bn, bid := key(b)
		return cmp.Or(strings.Compare(an, bn), strings.Compare(aid, bid))
	})
	return xs
}

// APIsNamed returns the APIs with the given name.
func (s *State) APIsNamed(name string) []*API {
	var out []*API
	for _, a := range s.APIList() {
		if a.Name == name {
			out = append(out, a)
		}
	}
	return out
}

// DeploymentList returns an API's deployments, newest first.
func (s *State) DeploymentList(apiID string) []*Deployment {
	out := make([]*Deployment, 0, len(s.Deployments[apiID]))
	for _, d := range s.Deployments[apiID] {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// StageList returns an API's stages sorted by name.
func (s *State) StageList(apiID string) []*Stage {
	out := make([]*Stage, 0, len(s.Stages[apiID]))
	for _, st := range s.Stages[apiID] {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StagesUsing lists the stage names that point at a deployment.
func (s *State) StagesUsing(apiID, deploymentID string) []string {
	var names []string
	for _, st := range s.StageList(apiID) {
		if st.DeploymentID == deploymentID {
			names = append(names, st.Name)
		}
	}
	return names
}

// PreviousDeployment returns the newest deployment of the API created
// before the given one, or nil.
func (s *State) PreviousDeployment(apiID, deploymentID string) *Deployment {
	cur := s.Deployment(apiID, deploymentID)
	if cur == nil {
		return nil
	}
	for _, d := range s.DeploymentList(apiID) {
		if d.CreatedAt.Before(cur.CreatedAt) || (d.CreatedAt.Equal(cur.CreatedAt) && d.ID < cur.ID) {
			return d
		}
	}
	return nil
}

// Source is how the data plane reads committed state. Implementations
// publish immutable States.
type Source interface {
	// State returns the current committed state. It never blocks.
	State() *State
	// Changed returns a channel that is closed at the next state change.
	// It never blocks.
	Changed() <-chan struct{}
}

// ReadyIndex is the config index from which a node serves every stage of
// the API as it is now: the newest ChangedIndex of its stages (0 when it
// has none).
func (s *State) ReadyIndex(apiID string) uint64 {
	var idx uint64
	for _, st := range s.Stages[apiID] {
		if st != nil && st.ChangedIndex > idx {
			idx = st.ChangedIndex
		}
	}
	return idx
}
