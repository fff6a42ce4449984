package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDomainValidate(t *testing.T) {
	t.Parallel()
	m := func(base, api, stage string) BasePathMapping {
		return BasePathMapping{BasePath: base, APIID: api, Stage: stage}
	}
	const api = "a1b2c3d4e5"
	many := make([]BasePathMapping, MaxDomainMappings+1)
	for i := range many {
		many[i] = m(fmt.Sprintf("p%d", i), api, "prod")
	}
	long := strings.Repeat("a", 63)
	tests := []struct {
		name string
		d    Domain
		want []string // "field: fragment"; none means valid
	}{
		{"minimal", Domain{Name: "api.example.com"}, nil},
		{"uppercase and final dot are canonicalized", Domain{Name: "API.Example.COM."}, nil},
		{"edge", Domain{Name: "api.example.com", EndpointType: EndpointEdge}, nil},
		{"regional with regions", Domain{Name: "api.example.com", Regions: []string{"us-east-1", "eu-west-1"}}, nil},
		{"root and base paths", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("(none)", api, "prod"), m("v1", api, "prod"), m("v2.beta_x-y", api, "beta")}}, nil},
		{"253 characters", Domain{Name: strings.Join([]string{long, long, long, strings.Repeat("b", 61)}, ".")}, nil},
		{"empty name", Domain{}, []string{"name: is required"}},
		{"one label", Domain{Name: "localhost"}, []string{"name: must be a fully qualified name"}},
		{"254 characters", Domain{Name: strings.Join([]string{long, long, long, strings.Repeat("b", 62)}, ".")}, []string{"name: must be at most 253 characters"}},
		{"64-character label", Domain{Name: long + "a.example.com"}, []string{"name: label"}},
		{"empty label", Domain{Name: "api..example.com"}, []string{"name: label 2 is empty"}},
		{"wildcard", Domain{Name: "*.example.com"}, []string{"name: wildcard names are not supported"}},
		{"underscore", Domain{Name: "my_api.example.com"}, []string{`name: label "my_api"`}},
		{"leading dash", Domain{Name: "-api.example.com"}, []string{`name: label "-api"`}},
		{"ip address", Domain{Name: "10.0.0.1"}, []string{"name: the last label must not be all digits"}},
		{"port", Domain{Name: "api.example.com:443"}, []string{`name: label "com:443"`}},
		{"unknown endpoint type", Domain{Name: "api.example.com", EndpointType: "PRIVATE"}, []string{`endpoint_type: must be REGIONAL or EDGE, not "PRIVATE"`}},
		{"edge with regions", Domain{Name: "api.example.com", EndpointType: EndpointEdge, Regions: []string{"us-east-1"}}, []string{"regions: an EDGE domain"}},
		{"bad and duplicate regions", Domain{Name: "api.example.com", Regions: []string{"us-east-1", "US_EAST", "us-east-1"}}, []string{"regions[1]: must be a region name", "regions[2]: us-east-1 duplicates regions[0]"}},
		{"duplicate base path", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("v1", api, "prod"), m("v1", api, "beta")}}, []string{"mappings[1].base_path: v1 duplicates mappings[0]"}},
		{"duplicate root", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("", api, "prod"), m("(none)", api, "beta")}}, []string{"mappings[1].base_path: (none) duplicates mappings[0]"}},
		{"two segments", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("v1", api, "prod"), m("v1/pets", api, "prod")}}, []string{"mappings[1].base_path: must be (none) or one path segment"}},
		{"dot segment", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("..", api, "prod")}}, []string{`mappings[0].base_path: ".." is not a usable path segment`}},
		{"space in base path", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("v 1", api, "prod")}}, []string{"mappings[0].base_path"}},
		{"missing api and stage", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("v1", "", "")}}, []string{"mappings[0].api_id: is required", "mappings[0].stage: is required"}},
		{"bad api id and stage", Domain{Name: "api.example.com", Mappings: []BasePathMapping{m("v1", "pets", "a/b")}}, []string{"mappings[0].api_id: must be an API id", "mappings[0].stage: must be 1-128"}},
		{"too many mappings", Domain{Name: "api.example.com", Mappings: many}, []string{"mappings: at most 200 base path mappings"}},
		{"every problem at once", Domain{Name: "x", EndpointType: "GLOBAL", Mappings: []BasePathMapping{m("a/b", api, "prod")}}, []string{"name:", "endpoint_type:", "mappings[0].base_path:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.d
			d.Mappings = append([]BasePathMapping(nil), tt.d.Mappings...)
			d.ApplyDefaults()
			err := d.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			if len(ve.Errors) != len(tt.want) {
				t.Errorf("got %d problems, want %d: %v", len(ve.Errors), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDomainDefaults(t *testing.T) {
	t.Parallel()
	d := Domain{Name: "Shop.Example.com.", Mappings: []BasePathMapping{{BasePath: "(none)"}, {BasePath: "/v1/"}}}
	d.ApplyDefaults()
	if d.Name != "shop.example.com" || d.EndpointType != EndpointRegional {
		t.Errorf("defaults: name %q, type %q", d.Name, d.EndpointType)
	}
	if d.Mappings[0].BasePath != "" || d.Mappings[1].BasePath != "v1" {
		t.Errorf("base paths %q, %q, want \"\" and v1", d.Mappings[0].BasePath, d.Mappings[1].BasePath)
	}
}

func TestDomainMatch(t *testing.T) {
	t.Parallel()
	root := BasePathMapping{BasePath: "", APIID: "rootrootro", Stage: "prod"}
	v1 := BasePathMapping{BasePath: "v1", APIID: "v1v1v1v1v1", Stage: "prod"}
	withRoot := (&Domain{Name: "api.example.com"}).WithMapping(v1).WithMapping(root)
	noRoot := (&Domain{Name: "api.example.com"}).WithMapping(v1)
	tests := []struct {
		d          *Domain
		path       string
		wantAPI    string // "" means no match
		wantRemain string
	}{
		{withRoot, "/v1/pets/7", v1.APIID, "/pets/7"},
		{withRoot, "/v1/", v1.APIID, "/"},
		{withRoot, "/v1", v1.APIID, "/"},
		{withRoot, "/v10/pets", root.APIID, "/v10/pets"},
		{withRoot, "/V1/pets", root.APIID, "/V1/pets"}, // base paths are case-sensitive
		{withRoot, "/", root.APIID, "/"},
		{withRoot, "", root.APIID, "/"},
		{noRoot, "/v1/pets", v1.APIID, "/pets"},
		{noRoot, "/pets", "", ""},
		{noRoot, "/", "", ""},
	}
	for _, tt := range tests {
		m, rest := tt.d.Match(tt.path)
		got := ""
		if m != nil {
			got = m.APIID
		}
		if got != tt.wantAPI || rest != tt.wantRemain {
			t.Errorf("Match(%q) on %d mappings = %q %q, want %q %q", tt.path, len(tt.d.Mappings), got, rest, tt.wantAPI, tt.wantRemain)
		}
	}
	if withRoot.Mappings[0].BasePath != "" || withRoot.Mappings[1].BasePath != "v1" {
		t.Errorf("mappings not sorted root first: %+v", withRoot.Mappings)
	}
}

func TestDomainWritersCopy(t *testing.T) {
	t.Parallel()
	d := &Domain{Name: "api.example.com", Regions: []string{"us-east-1"}, Mappings: []BasePathMapping{{BasePath: "b", APIID: "a1b2c3d4e5", Stage: "prod"}}}
	before, _ := json.Marshal(d)
	n := d.WithMapping(BasePathMapping{BasePath: "b", APIID: "a1b2c3d4e5", Stage: "beta"})
	n = n.WithMapping(BasePathMapping{BasePath: "a", APIID: "a1b2c3d4e5", Stage: "prod"})
	n.Regions[0] = "eu-west-1"
	if len(n.Mappings) != 2 || n.Mappings[0].BasePath != "a" || n.Mapping("b").Stage != "beta" {
		t.Errorf("WithMapping = %+v", n.Mappings)
	}
	gone, changed := n.WithoutMappings(func(m BasePathMapping) bool { return m.Stage == "beta" })
	if !changed || len(gone.Mappings) != 1 || len(n.Mappings) != 2 {
		t.Errorf("WithoutMappings = %+v (changed %v), original %+v", gone.Mappings, changed, n.Mappings)
	}
	if _, changed := n.WithoutMappings(func(BasePathMapping) bool { return false }); changed {
		t.Error("WithoutMappings reported a change when nothing matched")
	}
	if after, _ := json.Marshal(d); string(after) != string(before) {
		t.Fatalf("writers changed the original\nbefore %s\n after %s", before, after)
	}
}

// domainState is baseState with two domains: shop maps both stages of
// pets (a1b2c3d4e5), edge maps prod at the root.
func domainState() *State {
	s := baseState()
	s = s.WithAPI(6, &API{ID: "a1b2c3d4e5", Name: "pets", HomeRegion: "us-east-1"})
	s = s.WithAPI(7, &API{ID: "b1b2c3d4e5", Name: "orders", HomeRegion: "eu-west-1"})
	s = s.WithStage(8, &Stage{APIID: "b1b2c3d4e5", Name: "prod"})
	shop := &Domain{Name: "shop.example.com", EndpointType: EndpointRegional, CreatedAt: t0}
	shop = shop.WithMapping(BasePathMapping{BasePath: "pets", APIID: "a1b2c3d4e5", Stage: "prod"})
	shop = shop.WithMapping(BasePathMapping{BasePath: "beta", APIID: "a1b2c3d4e5", Stage: "beta"})
	shop = shop.WithMapping(BasePathMapping{BasePath: "orders", APIID: "b1b2c3d4e5", Stage: "prod"})
	edge := (&Domain{Name: "edge.example.com", EndpointType: EndpointEdge, CreatedAt: t0}).
		WithMapping(BasePathMapping{APIID: "a1b2c3d4e5", Stage: "prod"})
	return s.WithDomain(9, shop).WithDomain(10, edge)
}

func TestStateDomainTransitions(t *testing.T) {
	t.Parallel()
	const pets, orders = "a1b2c3d4e5", "b1b2c3d4e5"
	bases := func(d *Domain) []string {
		var out []string
		for _, m := range d.Mappings {
			out = append(out, DisplayBasePath(m.BasePath))
		}
		return out
	}
	testStateWrites(t, domainState, 20, []stateWrite{
		{"WithDomain new", func(s *State) *State {
			return s.WithDomain(20, &Domain{Name: "new.example.com", EndpointType: EndpointRegional})
		}, func(t *testing.T, n *State) {
			if n.Domain("new.example.com") == nil || len(n.DomainList()) != 3 {
				t.Error("domain not added")
			}
		}},
		{"WithDomain replace", func(s *State) *State {
			d, _ := s.Domain("shop.example.com").WithoutMappings(func(m BasePathMapping) bool { return m.BasePath == "beta" })
			return s.WithDomain(20, d)
		}, func(t *testing.T, n *State) {
			if got := bases(n.Domain("shop.example.com")); !reflect.DeepEqual(got, []string{"orders", "pets"}) {
				t.Errorf("mappings %v", got)
			}
		}},
		{"WithoutDomain", func(s *State) *State { return s.WithoutDomain(20, "shop.example.com") }, func(t *testing.T, n *State) {
			if n.Domain("shop.example.com") != nil || len(n.MappingsTo(pets, "")) != 1 {
				t.Error("domain or its mappings left behind")
			}
		}},
		{"WithoutAPI drops its mappings", func(s *State) *State { return s.WithoutAPI(20, pets) }, func(t *testing.T, n *State) {
			if got := bases(n.Domain("shop.example.com")); !reflect.DeepEqual(got, []string{"orders"}) {
				t.Errorf("shop mappings %v, want [orders]", got)
			}
			if e := n.Domain("edge.example.com"); e == nil || len(e.Mappings) != 0 {
				t.Errorf("edge domain = %+v, want it kept without mappings", e)
			}
		}},
		{"WithoutStage drops its mappings", func(s *State) *State { return s.WithoutStage(20, pets, "beta") }, func(t *testing.T, n *State) {
			if got := bases(n.Domain("shop.example.com")); !reflect.DeepEqual(got, []string{"orders", "pets"}) {
				t.Errorf("shop mappings %v, want [orders pets]", got)
			}
			if len(n.Domain("edge.example.com").Mappings) != 1 {
				t.Error("a mapping of another stage was dropped")
			}
		}},
		{"WithoutAPI of an unmapped API", func(s *State) *State { return s.WithAPI(19, &API{ID: "c1b2c3d4e5"}).WithoutAPI(20, "c1b2c3d4e5") }, func(t *testing.T, n *State) {
			if len(n.MappingsTo(pets, "")) != 3 || len(n.MappingsTo(orders, "")) != 1 {
				t.Error("mappings of other APIs changed")
			}
		}},
	})
}

func TestStateDomainReads(t *testing.T) {
	t.Parallel()
	s := domainState()
	var names []string
	for _, d := range s.DomainList() {
		names = append(names, d.Name)
	}
	if want := []string{"edge.example.com", "shop.example.com"}; !reflect.DeepEqual(names, want) {
		t.Errorf("DomainList = %v, want %v", names, want)
	}
	var refs []string
	for _, m := range s.MappingsTo("a1b2c3d4e5", "") {
		refs = append(refs, m.Domain+"/"+DisplayBasePath(m.BasePath)+"→"+m.Stage)
	}
	if want := []string{"edge.example.com/(none)→prod", "shop.example.com/beta→beta", "shop.example.com/pets→prod"}; !reflect.DeepEqual(refs, want) {
		t.Errorf("MappingsTo(pets) = %v, want %v", refs, want)
	}
	if got := s.MappingsTo("a1b2c3d4e5", "beta"); len(got) != 1 || got[0].BasePath != "beta" {
		t.Errorf("MappingsTo(pets, beta) = %+v", got)
	}
	tests := []struct {
		d    *Domain
		want []string
	}{
		{s.Domain("shop.example.com"), []string{"eu-west-1", "us-east-1"}}, // from the mapped APIs
		{s.Domain("edge.example.com"), nil},
		{&Domain{Name: "x.example.com", EndpointType: EndpointRegional, Regions: []string{"ap-south-1"}}, []string{"ap-south-1"}},
		{&Domain{Name: "x.example.com", EndpointType: EndpointRegional}, nil},
	}
	for _, tt := range tests {
		if got := s.DomainRegions(tt.d); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DomainRegions(%s) = %v, want %v", tt.d.Name, got, tt.want)
		}
	}
}

func TestStateSnapshotCarriesDomains(t *testing.T) {
	t.Parallel()
	b := snapshotRoundTrip(t, domainState())
	if !strings.Contains(string(b), `"domains":{"edge.example.com":{"name":"edge.example.com","endpoint_type":"EDGE"`) ||
		!strings.Contains(string(b), `{"base_path":"beta","api_id":"a1b2c3d4e5","stage":"beta"}`) {
		t.Errorf("snapshot JSON lacks snake_case domains:\n%s", b)
	}
	// A snapshot written before custom domains has no "domains" key.
	var old State
	if err := json.Unmarshal([]byte(`{"index":3,"apis":{},"deployments":{},"stages":{}}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Normalize().Domains == nil || old.WithDomain(4, &Domain{Name: "a.example.com"}).Domain("a.example.com") == nil {
		t.Fatal("an old snapshot cannot take a domain")
	}
}
