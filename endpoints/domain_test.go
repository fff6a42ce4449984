package endpoints

import (
	"io"
	"strings"
	"testing"

	"github.com/portico-gw/portico/configs"
)

func withDomain(st *configs.State, d configs.Domain) *configs.State {
	d.ApplyDefaults()
	return st.WithDomain(st.Index+1, &d)
}

func TestRegionalServesCustomDomains(t *testing.T) {
	t.Parallel()
	st := buildState(t,
		apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)},
		apiDef{id: "rootapi001", def: strings.Replace(helloAPI, "hello v1", "root", 1), stages: prod(nil)},
		apiDef{id: "guarded001", def: helloAPI + "resource_policy: {statements: [{effect: Allow, source_cidrs: [203.0.113.0/24]}]}\n", stages: prod(nil)},
	)
	st = withDomain(st, configs.Domain{Name: "api.example.com", Mappings: []configs.BasePathMapping{
		{BasePath: "", APIID: "rootapi001", Stage: "prod"},
		{BasePath: "v1", APIID: "helloapi01", Stage: "prod"},
		{BasePath: "guarded", APIID: "guarded001", Stage: "prod"},
		{BasePath: "gone", APIID: "helloapi01", Stage: "nosuchstage"},
	}})
	st = withDomain(st, configs.Domain{Name: "west.example.com", Regions: []string{"us-west-2"},
		Mappings: []configs.BasePathMapping{{BasePath: "v1", APIID: "helloapi01", Stage: "prod"}}})
	st = withDomain(st, configs.Domain{Name: "edge.example.com", EndpointType: configs.EndpointEdge,
		Mappings: []configs.BasePathMapping{{BasePath: "v1", APIID: "helloapi01", Stage: "prod"}}})
	h := newRegional(t, newSource(st)).Handler()
	tests := []struct {
		host, path string
		status     int
		want       string // body, or error message
	}{
		{"api.example.com", "/v1/hello", 200, "hello v1"},
		{"API.Example.com.:8443", "/v1/hello", 200, "hello v1"},
		{"api.example.com", "/hello", 200, "root"}, // the root mapping takes the rest
		{"api.example.com", "/v1", 404, errNoRoute.message},
		{"api.example.com", "/v1/%68ello", 200, "hello v1"}, // decoded like any path
		{"api.example.com", "/v1/../hello", 400, errBadPath.message},
		{"api.example.com", "/guarded/hello", 403, errAccessDenied.message}, // the mapped API's policy
		{"api.example.com", "/gone/hello", 404, errNoStage.message},
		{"west.example.com", "/v1/hello", 404, errUnknownHost.message}, // served in another region
		{"edge.example.com", "/v1/hello", 404, errUnknownHost.message}, // served by edges
		{"nosuch.example.com", "/v1/hello", 404, errUnknownHost.message},
	}
	for _, tc := range tests {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			t.Parallel()
			r := httptestRequest("GET", tc.path)
			r.Host = tc.host
			w := serve(h, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			got := w.Body.String()
			if tc.status != 200 {
				got = errBody(t, w).Message
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}

	// Without a root mapping, an unmapped base path is answered as such.
	st = withDomain(st, configs.Domain{Name: "api.example.com", Mappings: []configs.BasePathMapping{{BasePath: "v1", APIID: "helloapi01", Stage: "prod"}}})
	h2 := newRegional(t, newSource(st)).Handler()
	r := httptestRequest("GET", "/v2/hello")
	r.Host = "api.example.com"
	if w := serve(h2, r); w.Code != 404 || errBody(t, w).Message != errNoMapping.message {
		t.Errorf("unmapped base path: %d %s", w.Code, w.Body.String())
	}
}

// TestEdgeServesCustomDomains: an EDGE domain is served by the edge,
// which asks the origin on the API's own host with the stage in place of
// the base path; the cache is the stage's, shared with the API's host.
func TestEdgeServesCustomDomains(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	st := withDomain(r.src.State(), configs.Domain{Name: "shop.example.com", EndpointType: configs.EndpointEdge,
		Mappings: []configs.BasePathMapping{{BasePath: "store", APIID: "shop000001", Stage: "prod"}}})
	r.src.Set(st)
	eventually(t, "the edge serves the domain", func() bool { return r.edge.ServingIndex() == st.Index })

	get := func(url string) (int, string, string) {
		t.Helper()
		res, err := r.h2.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, res.Body)
		return res.StatusCode, res.Header.Get("X-Cache"), b.String()
	}
	status, xc, body := get("https://shop.example.com/store/items/%37")
	if status != 200 || !strings.Contains(body, `"path":"/items/7"`) || xc != "Miss from edge, Miss from regional" {
		t.Fatalf("through the domain: %d %q %s", status, xc, body)
	}
	if _, xc, _, _ := r.get(r.h2, "/prod/items/7", nil); xc != "Hit from edge" {
		t.Errorf("the API's own host after the domain: X-Cache %q, want a hit (one stage cache)", xc)
	}
	if status, _, body := get("https://shop.example.com/other/items/7"); status != 404 || !strings.Contains(body, errNoMapping.message) {
		t.Errorf("unmapped base path: %d %s", status, body)
	}
	if n := r.backend.count("/items/7"); n != 1 {
		t.Errorf("backend calls = %d, want 1", n)
	}
}
