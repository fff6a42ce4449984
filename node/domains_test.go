package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/configs"
)

// domainFixture is a node with the pets API deployed on prod and beta.
func domainFixture(t *testing.T) (*testNode, string) {
	t.Helper()
	tn := startNode(t, t.TempDir())
	var res applyResult
	tn.mustDo("POST", "/v1/apply", []byte(petsDef("127.0.0.1:1", "hi")), &res)
	for _, stage := range []string{"prod", "beta"} {
		tn.mustDo("POST", "/v1/apis/"+res.API.ID+"/deployments", deployRequest{Stage: stage}, nil)
	}
	return tn, res.API.ID
}

func TestDomainAdminRoundTrip(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)

	// Create: the name is stored canonical, the type defaults to REGIONAL.
	var d domainView
	tn.mustDo("POST", "/v1/domains", map[string]any{"name": "Shop.Example.com."}, &d)
	if d.Name != "shop.example.com" || d.EndpointType != configs.EndpointRegional || d.CreatedAt.IsZero() || len(d.Mappings) != 0 {
		t.Fatalf("created domain = %+v", d.Domain)
	}
	tn.mustDo("POST", "/v1/domains", createDomainRequest{Name: "edge.example.com", EndpointType: configs.EndpointEdge}, nil)

	// Map the root and a base path; mapping the same again changes nothing.
	put := func(base string, body mappingRequest, wantWrite bool) domainView {
		t.Helper()
		var v domainView
		before := tn.appliedIndex()
		tn.mustDo("PUT", "/v1/domains/shop.example.com/mappings/"+base, body, &v)
		if wrote := tn.appliedIndex() != before; wrote != wantWrite {
			t.Errorf("PUT %s: wrote %v, want %v", base, wrote, wantWrite)
		}
		return v
	}
	put("(none)", mappingRequest{APIID: id, Stage: "prod"}, true)
	put("v1", mappingRequest{APIID: id, Stage: "beta"}, true)
	put("v1", mappingRequest{APIID: id, Stage: "beta"}, false) // unchanged
	d = put("v1-again", mappingRequest{APIID: id, Stage: "prod"}, true)
	// PUT answers 201 for a new base path, 200 for a replaced one.
	for _, tc := range []struct {
		base, stage string
		want        int
	}{{"v2", "prod", http.StatusCreated}, {"v2", "beta", http.StatusOK}} {
		b, _ := json.Marshal(mappingRequest{APIID: id, Stage: tc.stage})
		req, _ := http.NewRequest("PUT", tn.client.Base+"/v1/domains/shop.example.com/mappings/"+tc.base, bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("PUT %s → %s: status %d, want %d", tc.base, tc.stage, resp.StatusCode, tc.want)
		}
	}
	tn.mustDo("GET", "/v1/domains/shop.example.com", nil, &d)
	var got []string
	for _, m := range d.Mappings {
		got = append(got, configs.DisplayBasePath(m.BasePath)+"→"+m.Stage)
	}
	if want := []string{"(none)→prod", "v1→beta", "v1-again→prod", "v2→beta"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("mappings = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(d.ServedRegions, []string{"us-east-1"}) {
		t.Errorf("served regions = %v, want the API's home region", d.ServedRegions)
	}

	// Read back: one domain, one mapping, the list (sorted), any case.
	var one domainView
	tn.mustDo("GET", "/v1/domains/SHOP.example.com", nil, &one)
	if !reflect.DeepEqual(one.Domain, d.Domain) {
		t.Fatalf("GET = %+v, want %+v", one.Domain, d.Domain)
	}
	var m configs.BasePathMapping
	tn.mustDo("GET", "/v1/domains/shop.example.com/mappings/v1", nil, &m)
	if m.APIID != id || m.Stage != "beta" {
		t.Fatalf("GET mapping = %+v", m)
	}
	var list struct {
		Domains []domainView `json:"domains"`
		Index   uint64       `json:"index"`
	}
	tn.mustDo("GET", "/v1/domains", nil, &list)
	if len(list.Domains) != 2 || list.Domains[0].Name != "edge.example.com" || list.Domains[1].Name != "shop.example.com" || list.Index == 0 {
		t.Fatalf("list = %+v", list)
	}

	// A mapped stage or API cannot be deleted: the error names the mapping.
	for _, path := range []string{"/v1/apis/" + id + "/stages/beta", "/v1/apis/" + id} {
		err := tn.do("DELETE", path, nil, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "shop.example.com (base path v1)") {
			t.Errorf("DELETE %s: %v, want 409 naming the mapping", path, err)
		}
	}

	// Unmap, then the stage goes; deleting the domain drops the rest, and
	// the API goes too.
	tn.mustDo("DELETE", "/v1/domains/shop.example.com/mappings/v2", nil, nil)
	tn.mustDo("DELETE", "/v1/domains/shop.example.com/mappings/v1", nil, &d)
	if d.Mapping("v1") != nil || len(d.Mappings) != 2 {
		t.Fatalf("after unmap: %+v", d.Mappings)
	}
	tn.mustDo("DELETE", "/v1/apis/"+id+"/stages/beta", nil, nil)
	tn.mustDo("DELETE", "/v1/domains/shop.example.com", nil, nil)
	tn.mustDo("DELETE", "/v1/apis/"+id, nil, nil)
	var ae *APIError
	if err := tn.do("GET", "/v1/domains/shop.example.com", nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("GET deleted domain: %v, want 404", err)
	}
}

func TestDomainBadInputsAreRejectedAndStoreNothing(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	var private applyResult
	tn.mustDo("POST", "/v1/apply", []byte("name: secret\nendpoint_types: [PRIVATE]\nresources:\n  - path: /a\n    methods: {GET: {integration: {type: MOCK}}}\n"), &private)
	tn.mustDo("POST", "/v1/apis/"+private.API.ID+"/deployments", deployRequest{Stage: "prod"}, nil)
	tn.mustDo("POST", "/v1/domains", createDomainRequest{Name: "shop.example.com"}, nil)
	tn.mustDo("PUT", "/v1/domains/shop.example.com/mappings/v1", mappingRequest{APIID: id, Stage: "prod"}, nil)

	const maps = "/v1/domains/shop.example.com/mappings/"
	good := mappingRequest{APIID: id, Stage: "prod"}
	checkRejected(t, tn, []badInput{
		{"one label", "POST", "/v1/domains", createDomainRequest{Name: "localhost"}, 400, "name: must be a fully qualified name"},
		{"wildcard", "POST", "/v1/domains", createDomainRequest{Name: "*.example.com"}, 400, "name: wildcard"},
		{"name too long", "POST", "/v1/domains", createDomainRequest{Name: strings.Repeat("a", 250) + ".com"}, 400, "name: must be at most 253"},
		{"bad label", "POST", "/v1/domains", createDomainRequest{Name: "my_api.example.com"}, 400, "name: label \"my_api\""},
		{"private endpoint type", "POST", "/v1/domains", createDomainRequest{Name: "a.example.com", EndpointType: configs.EndpointPrivate}, 400, "endpoint_type: must be REGIONAL or EDGE"},
		{"edge with regions", "POST", "/v1/domains", createDomainRequest{Name: "a.example.com", EndpointType: configs.EndpointEdge, Regions: []string{"us-east-1"}}, 400, "regions: an EDGE domain"},
		{"bad region", "POST", "/v1/domains", createDomainRequest{Name: "a.example.com", Regions: []string{"us-east-1", "Mars"}}, 400, "regions[1]"},
		{"mappings on create", "POST", "/v1/domains", map[string]any{"name": "a.example.com", "mappings": []any{}}, 400, "mappings: unknown field"},
		{"domain exists", "POST", "/v1/domains", createDomainRequest{Name: "SHOP.example.com"}, 409, "already exists"},
		{"map unknown domain", "PUT", "/v1/domains/nope.example.com/mappings/v1", good, 404, "domain \"nope.example.com\" not found"},
		{"map unknown api", "PUT", maps + "v2", mappingRequest{APIID: "zzzzzzzzzz", Stage: "prod"}, 404, "api_id: no API has this id"},
		{"map unknown stage", "PUT", maps + "v2", mappingRequest{APIID: id, Stage: "nope"}, 404, "stage: no such stage"},
		{"map private api", "PUT", maps + "v2", mappingRequest{APIID: private.API.ID, Stage: "prod"}, 400, "api_id: a PRIVATE API"},
		{"base path with a space", "PUT", maps + "v%202", good, 400, "base_path: must be (none) or one path segment"},
		{"two segments", "PUT", maps + "v1%2Fpets", good, 400, "base_path: must be (none) or one path segment"},
		{"missing stage", "PUT", maps + "v2", mappingRequest{APIID: id}, 400, "stage: is required"},
		{"api name instead of id", "PUT", maps + "v2", mappingRequest{APIID: "pets", Stage: "prod"}, 400, "api_id: must be an API id"},
		{"unknown mapping field", "PUT", maps + "v2", map[string]string{"api_id": id, "stage": "prod", "base_path": "v2"}, 400, "base_path: unknown field"},
		{"unmap unknown base path", "DELETE", maps + "v2", nil, 404, "no mapping for base path v2"},
		{"unmap root that is not mapped", "DELETE", maps + "(none)", nil, 404, "no mapping for base path (none)"},
		{"delete unknown domain", "DELETE", "/v1/domains/nope.example.com", nil, 404, "not found"},
		{"delete mapped api", "DELETE", "/v1/apis/" + id, nil, 409, "shop.example.com (base path v1)"},
		{"delete mapped stage", "DELETE", "/v1/apis/" + id + "/stages/prod", nil, 409, "stage prod of api " + id + " is mapped"},
		{"method not allowed", "PATCH", "/v1/domains/shop.example.com", nil, 405, "not allowed"},
	})
}

func TestDomainsCommandLine(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := tn.run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	if out := run("domains", "create", "shop.example.com", "--regions", "us-east-1,eu-west-1"); !strings.Contains(out, "domain shop.example.com created (REGIONAL, us-east-1,eu-west-1)") {
		t.Errorf("create: %q", out)
	}
	var edge domainView
	if err := json.Unmarshal([]byte(run("domains", "create", "edge.example.com", "--endpoint-type", "edge", "-o", "json")), &edge); err != nil || edge.EndpointType != configs.EndpointEdge {
		t.Errorf("create -o json: %+v, %v", edge, err)
	}

	// map by API name, with and without a base path.
	if out := run("domains", "map", "shop.example.com", "--api", "pets", "--stage", "prod", "--base-path", "v1"); !strings.Contains(out, "https://shop.example.com/v1/ now serves stage prod of api "+id) {
		t.Errorf("map v1: %q", out)
	}
	if out := run("domains", "map", "shop.example.com", "--api", id, "--stage", "beta"); !strings.Contains(out, "https://shop.example.com/ now serves stage beta") {
		t.Errorf("map root: %q", out)
	}
	out := run("domains", "list")
	for _, want := range []string{"DOMAIN", "edge.example.com", "EDGE", "every edge", "shop.example.com", "us-east-1,eu-west-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out = run("domains", "get", "shop.example.com")
	for _, want := range []string{"domain:      shop.example.com", "(none)", "beta", "https://shop.example.com/v1/", id} {
		if !strings.Contains(out, want) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	var shop domainView
	if err := json.Unmarshal([]byte(run("domains", "get", "shop.example.com", "-o", "json")), &shop); err != nil || len(shop.Mappings) != 2 || shop.Mappings[1].BasePath != "v1" {
		t.Fatalf("get -o json: %+v, %v", shop.Domain, err)
	}

	// A mapped API cannot be deleted; errors exit 1 with a message.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apis", "delete", "pets"}, "shop.example.com"},
		{[]string{"domains", "map", "shop.example.com", "--api", "nope", "--stage", "prod"}, "no API has the id or name"},
		{[]string{"domains", "map", "shop.example.com", "--api", "pets"}, "--stage is required"},
		{[]string{"domains", "create", "localhost"}, "name: must be a fully qualified name"},
		{[]string{"domains", "get", "nope.example.com"}, "not found"},
		{[]string{"domains", "unmap", "shop.example.com", "--base-path", "v2"}, "no mapping for base path v2"},
	} {
		if code, _, errOut := tn.run(tc.args...); code != 1 || !strings.HasPrefix(errOut, "error") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 1 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}

	// unmap both, delete the domains; then the API can go.
	if out := run("domains", "unmap", "shop.example.com", "--base-path", "v1"); !strings.Contains(out, "https://shop.example.com/v1/ unmapped") {
		t.Errorf("unmap: %q", out)
	}
	run("domains", "unmap", "shop.example.com", "--base-path", "(none)")
	for _, name := range []string{"shop.example.com", "edge.example.com"} {
		if out := run("domains", "delete", name); !strings.Contains(out, "domain "+name+" deleted") {
			t.Errorf("delete: %q", out)
		}
	}
	if out := run("domains", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list -o json after delete = %q, want []", out)
	}
	run("apis", "delete", "pets")
}
