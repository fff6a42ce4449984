package endpoints

import (
	"net/http"
	"slices"
	"testing"

	"github.com/portico-gw/portico/configs"
)

// routingREST exercises literal, param and greedy segments, ANY and
// backtracking. Every integration is a MOCK whose body names the route.
const routingREST = `
name: routing
resources:
  - path: /
    methods:
      GET: {integration: {type: MOCK, body: root}}
  - path: /items
    methods:
      GET: {integration: {type: MOCK, body: list}}
      POST: {integration: {type: MOCK, body: create}}
  - path: /items/special
    methods:
      GET: {integration: {type: MOCK, body: special}}
  - path: /items/{id}
    methods:
      GET: {integration: {type: MOCK, body: item}}
      ANY: {integration: {type: MOCK, body: item-any}}
  - path: /files/latest/info
    methods:
      GET: {integration: {type: MOCK, body: latest-info}}
  - path: /files/{name}/meta
    methods:
      GET: {integration: {type: MOCK, body: meta}}
  - path: /files/{path+}
    methods:
      GET: {integration: {type: MOCK, body: file}}
  - path: /admin
    methods:
      GET: {integration: {type: MOCK, body: admin}}
      DELETE: {integration: {type: MOCK, body: admin-delete}}
`

const routingHTTP = `
name: routing-http
kind: HTTP
routes:
  - key: GET /pets/{id}
    integration: {type: MOCK, body: pet}
  - key: POST /pets
    integration: {type: MOCK, body: pets-post}
  - key: ANY /pets/{id}/toys/{proxy+}
    integration: {type: MOCK, body: toys}
  - key: $default
    integration: {type: MOCK, body: default, status_code: 418}
`

func compileRouter(t *testing.T, def string) *router {
	t.Helper()
	a, err := configs.ParseAPI([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	a.ApplyDefaults(testRegion)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	rt := &router{}
	for _, op := range a.Operations() {
		if err := rt.add(op, http.NotFoundHandler()); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

func TestRouterLookup(t *testing.T) {
	t.Parallel()
	rest := compileRouter(t, routingREST)
	httpAPI := compileRouter(t, routingHTTP)
	tests := []struct {
		name   string
		rt     *router
		method string
		path   string // after the stage, no leading slash
		key    string // "" = no route
		params []string
		allow  string
	}{
		{"root", rest, "GET", "", "GET /", nil, ""},
		{"literal", rest, "GET", "items", "GET /items", nil, ""},
		{"literal trailing slash", rest, "GET", "items/", "GET /items", nil, ""},
		{"literal before param", rest, "GET", "items/special", "GET /items/special", nil, ""},
		{"param", rest, "GET", "items/42", "GET /items/{id}", []string{"42"}, ""},
		{"exact before ANY", rest, "GET", "items/42", "GET /items/{id}", []string{"42"}, ""},
		{"ANY takes other methods", rest, "PATCH", "items/42", "ANY /items/{id}", []string{"42"}, ""},
		{"ANY takes unknown methods", rest, "PROPFIND", "items/42", "ANY /items/{id}", []string{"42"}, ""},
		{"literal without method falls back to param ANY", rest, "DELETE", "items/special", "ANY /items/{id}", []string{"special"}, ""},
		{"backtrack literal to param", rest, "GET", "files/latest/meta", "GET /files/{name}/meta", []string{"latest"}, ""},
		{"deepest literal", rest, "GET", "files/latest/info", "GET /files/latest/info", nil, ""},
		{"backtrack to greedy", rest, "GET", "files/latest/other/x", "GET /files/{path+}", []string{"latest/other/x"}, ""},
		{"greedy one segment", rest, "GET", "files/a", "GET /files/{path+}", []string{"a"}, ""},
		{"greedy keeps trailing slash", rest, "GET", "files/a/b/", "GET /files/{path+}", []string{"a/b/"}, ""},
		{"greedy needs a segment", rest, "GET", "files", "", nil, ""},
		{"405 literal", rest, "PUT", "items", "", nil, "GET, POST"},
		{"405 union of path matches", rest, "POST", "files/latest/info", "", nil, "GET"},
		{"405 admin", rest, "POST", "admin", "", nil, "GET, DELETE"},
		{"client cannot send ANY", rest, "ANY", "admin", "", nil, "GET, DELETE"},
		{"404", rest, "GET", "nothing/here", "", nil, ""},
		{"case matters", rest, "GET", "Items", "", nil, ""},
		{"http route", httpAPI, "GET", "pets/7", "GET /pets/{id}", []string{"7"}, ""},
		{"http two params", httpAPI, "DELETE", "pets/7/toys/ball/red", "ANY /pets/{id}/toys/{proxy+}", []string{"7", "ball/red"}, ""},
		{"http $default for method", httpAPI, "PUT", "pets/7", "$default", nil, ""},
		{"http $default for path", httpAPI, "GET", "nowhere", "$default", nil, ""},
		{"http $default for root", httpAPI, "GET", "", "$default", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, vals, allow := tc.rt.lookup(tc.method, tc.path, nil)
			key := ""
			if r != nil {
				key = r.key
			}
			if key != tc.key {
				t.Fatalf("route = %q, want %q", key, tc.key)
			}
			if !slices.Equal(vals, tc.params) {
				t.Errorf("params = %q, want %q", vals, tc.params)
			}
			if got := allow.allow(); got != tc.allow {
				t.Errorf("allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestRouterRejectsDuplicates(t *testing.T) {
	t.Parallel()
	rt := &router{}
	ops := []configs.Operation{
		{Method: "GET", Path: "/a/{x}", Field: "one"},
		{Method: "GET", Path: "/a/{y}", Field: "two"},
	}
	if err := rt.add(ops[0], http.NotFoundHandler()); err != nil {
		t.Fatal(err)
	}
	if err := rt.add(ops[1], http.NotFoundHandler()); err == nil {
		t.Fatal("same method and shape twice: want an error")
	}
}

// TestRoutingThroughPipeline checks the answers clients see: the matched
// route's integration, 404 and 405 with Allow as JSON errors.
func TestRoutingThroughPipeline(t *testing.T) {
	t.Parallel()
	src := newSource(buildState(t,
		apiDef{id: "restapi001", def: routingREST, stages: prod(nil)},
		apiDef{id: "httpapi001", def: routingHTTP, stages: prod(nil)},
	))
	h := newRegional(t, src).Handler()
	tests := []struct {
		api, method, target string
		status              int
		body                string // MOCK body, or the error message
		allow               string
	}{
		{"restapi001", "GET", "/prod", 200, "root", ""},
		{"restapi001", "GET", "/prod/", 200, "root", ""},
		{"restapi001", "GET", "/prod/items?x=1", 200, "list", ""},
		{"restapi001", "POST", "/prod/items", 200, "create", ""},
		{"restapi001", "GET", "/prod/items/special", 200, "special", ""},
		{"restapi001", "GET", "/prod/items/%73pecial", 200, "special", ""}, // decoded before matching
		{"restapi001", "GET", "/prod/items/9", 200, "item", ""},
		{"restapi001", "PATCH", "/prod/items/9", 200, "item-any", ""},
		{"restapi001", "GET", "/prod/files/x/y", 200, "file", ""},
		{"restapi001", "PUT", "/prod/items", 405, errMethodNotAllowed.message, "GET, POST"},
		{"restapi001", "GET", "/prod/none", 404, errNoRoute.message, ""},
		{"restapi001", "GET", "/dev/items", 404, errNoStage.message, ""},
		{"restapi001", "GET", "/", 404, errNoStage.message, ""},
		{"httpapi001", "GET", "/prod/pets/1", 200, "pet", ""},
		{"httpapi001", "GET", "/prod/cats", 418, "default", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			t.Parallel()
			w := call(t, h, tc.method, tc.api, tc.target, nil, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.status, w.Body.String())
			}
			if w.Header().Get(headerRequestID) == "" {
				t.Error("no request id header")
			}
			got := w.Body.String()
			if w.Code >= 400 && w.Code != 418 {
				got = errBody(t, w).Message
			}
			if got != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			if a := w.Header().Get("Allow"); a != tc.allow {
				t.Errorf("Allow %q, want %q", a, tc.allow)
			}
		})
	}
}
