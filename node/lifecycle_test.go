package node

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// versionBackend answers with the path it saw, tagged with a version so a
// test can tell which deployment served a call.
func versionBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func petsDef(backend, greeting string) string {
	return fmt.Sprintf(`
name: pets
description: the pets API
resources:
  - path: /pets/{id}
    methods:
      GET:
        integration:
          type: HTTP_PROXY
          uri: http://${stageVariables.backend}/v1/pets/{id}
          timeout: 5s
  - path: /greeting
    methods:
      GET:
        integration:
          type: MOCK
          status_code: 200
          body: %q
`, greeting)
}

func TestDefineDeployCallChangeRedeployRollback(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	backend := versionBackend(t)
	backendHost := strings.TrimPrefix(backend.URL, "http://")

	// Define.
	var res applyResult
	tn.mustDo("POST", "/v1/apply", []byte(petsDef(backendHost, "hello v1")), &res)
	if !res.Created || len(res.API.ID) != 10 {
		t.Fatalf("apply = %+v, want a created API with a 10-char id", res)
	}
	id := res.API.ID

	// Deploy onto stage prod with the backend as a stage variable.
	var dep1 struct {
		Deployment struct{ ID string } `json:"deployment"`
		Stage      stageView           `json:"stage"`
	}
	tn.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod", Description: "v1", Variables: map[string]string{"backend": backendHost}}, &dep1)
	wantURL := fmt.Sprintf("https://%s.us-east-1.portico.test:", id)
	if u := dep1.Stage.InvokeURLs["REGIONAL"]; !strings.HasPrefix(u, wantURL) || !strings.HasSuffix(u, "/prod/") {
		t.Fatalf("invoke URL = %q, want %s<port>/prod/", u, wantURL)
	}

	expect := func(path, want string) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			status, body, _ := tn.call("GET", id, path, nil)
			if status != 200 || body != want {
				return fmt.Errorf("GET %s = %d %q, want 200 %q", path, status, body, want)
			}
			return nil
		})
	}
	expect("/prod/greeting", "hello v1")
	expect("/prod/pets/7?x=1", "backend GET /v1/pets/7?x=1")

	// Change the definition: the stage keeps serving the old deployment.
	tn.mustDo("POST", "/v1/apply", []byte(petsDef(backendHost, "hello v2")), &res)
	if res.Created || res.API.ID != id {
		t.Fatalf("second apply = %+v, want an update of %s", res, id)
	}
	expect("/prod/greeting", "hello v1")

	// Redeploy: new behaviour.
	var dep2 struct {
		Deployment struct{ ID string } `json:"deployment"`
	}
	tn.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod", Description: "v2"}, &dep2)
	expect("/prod/greeting", "hello v2")
	expect("/prod/pets/8", "backend GET /v1/pets/8") // stage variables kept

	// Roll back to the deployment before: old behaviour.
	var st stageView
	tn.mustDo("POST", "/v1/apis/"+id+"/stages/prod/rollback", nil, &st)
	if st.DeploymentID != dep1.Deployment.ID {
		t.Fatalf("rollback points at %s, want %s", st.DeploymentID, dep1.Deployment.ID)
	}
	expect("/prod/greeting", "hello v1")

	// Roll forward by id.
	tn.mustDo("POST", "/v1/apis/"+id+"/stages/prod/rollback", map[string]string{"deployment_id": dep2.Deployment.ID}, &st)
	expect("/prod/greeting", "hello v2")

	// A deployment in use cannot be deleted; an unused one can.
	err := tn.do("DELETE", "/v1/apis/"+id+"/deployments/"+dep2.Deployment.ID, nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("delete deployment in use: %v, want 409", err)
	}
	tn.mustDo("DELETE", "/v1/apis/"+id+"/deployments/"+dep1.Deployment.ID, nil, nil)

	// Export the stage as OpenAPI and import it as a new API.
	var doc []byte
	{
		var raw = new([]byte)
		var rm = (*jsonRaw)(raw)
		tn.mustDo("GET", "/v1/apis/"+id+"/stages/prod/export", nil, rm)
		doc = *raw
	}
	var imported applyResult
	tn.mustDo("POST", "/v1/import", doc, &imported)
	if imported.API.ID == id || imported.API.Name != "pets" || len(imported.API.Resources) != 2 {
		t.Fatalf("imported = %+v", imported.API)
	}

	// Delete the API: its stage stops serving.
	tn.mustDo("DELETE", "/v1/apis/"+id, nil, nil)
	eventually(t, 10*time.Second, func() error {
		if status, _, _ := tn.call("GET", id, "/prod/greeting", nil); status != 404 {
			return fmt.Errorf("after delete: status %d, want 404", status)
		}
		return nil
	})
}

// badInput is a request the admin API must reject.
type badInput struct {
	name, method, path string
	body               any
	status             int
	want               string // fragment of the error (field path or reason)
}

// checkRejected sends each request in turn: it must fail with the status
// and an error that mentions want, and write nothing to the log.
func checkRejected(t *testing.T, tn *testNode, cases []badInput) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tn.appliedIndex()
			err := tn.do(tc.method, tc.path, tc.body, nil)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an admin API error", err)
			}
			if ae.Status != tc.status {
				t.Errorf("status = %d, want %d (%v)", ae.Status, tc.status, ae)
			}
			if !strings.Contains(ae.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", ae.Error(), tc.want)
			}
			if after := tn.appliedIndex(); after != before {
				t.Errorf("applied index moved from %d to %d: a rejected write reached the log", before, after)
			}
		})
	}
}

func TestBadInputsAreRejectedAndStoreNothing(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	var res applyResult
	tn.mustDo("POST", "/v1/apply", []byte(petsDef("127.0.0.1:1", "hi")), &res)
	id := res.API.ID
	tn.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod"}, nil)

	mock := "integration: {type: MOCK, status_code: 200}"
	def := func(resources string) []byte { return []byte("name: bad\nresources:\n" + resources) }
	vars101 := map[string]string{}
	for i := 0; i <= configs.MaxStageVariables; i++ {
		vars101[fmt.Sprintf("v%d", i)] = "x"
	}
	checkRejected(t, tn, []badInput{
		{"unknown field", "POST", "/v1/apply", def("  - path: /a\n    methods: {GET: {integraton: {type: MOCK}}}\n"), 400, "resources[0].methods.GET.integraton"},
		{"bad path template", "POST", "/v1/apply", def("  - path: /a/{id\n    methods: {GET: {" + mock + "}}\n"), 400, "resources[0].path"},
		{"duplicate route", "POST", "/v1/apply", def("  - path: /a/{x}\n    methods: {GET: {" + mock + "}}\n  - path: /a/{y}\n    methods: {GET: {" + mock + "}}\n"), 400, "resources[1].path"},
		{"relative uri", "POST", "/v1/apply", def("  - path: /a\n    methods: {GET: {integration: {type: HTTP_PROXY, uri: /backend/a}}}\n"), 400, "resources[0].methods.GET.integration.uri: must be an absolute http or https URL"},
		{"timeout out of range", "POST", "/v1/apply", def("  - path: /a\n    methods: {GET: {integration: {type: HTTP_PROXY, uri: 'http://b/a', timeout: 30s}}}\n"), 400, "resources[0].methods.GET.integration.timeout"},
		{"unsupported method", "POST", "/v1/apply", def("  - path: /a\n    methods: {FETCH: {" + mock + "}}\n"), 400, "resources[0].methods.FETCH"},
		{"malformed openapi", "POST", "/v1/apply", []byte("openapi: 3.0.1\ninfo: {title: x}\npaths: [1, 2]\n"), 400, "paths"},
		{"openapi import of native", "POST", "/v1/import", def("  - path: /a\n    methods: {GET: {" + mock + "}}\n"), 400, "not OpenAPI"},
		{"not yaml", "POST", "/v1/apply", []byte("name: [unclosed"), 400, "not valid YAML or JSON"},
		{"101 stage variables", "PUT", "/v1/apis/" + id + "/stages/prod/variables", map[string]any{"variables": vars101}, 400, "at most 100 stage variables"},
		{"513-char value", "POST", "/v1/apis/" + id + "/deployments", deployRequest{Stage: "prod", Variables: map[string]string{"big": strings.Repeat("a", 513)}}, 400, "variables.big"},
		{"bad stage name", "POST", "/v1/apis/" + id + "/deployments", deployRequest{Stage: "a/b"}, 400, "stage"},
		{"deploy unknown api", "POST", "/v1/apis/zzzzzzzzzz/deployments", deployRequest{Stage: "prod"}, 404, "api \"zzzzzzzzzz\" not found"},
		{"unknown deploy field", "POST", "/v1/apis/" + id + "/deployments", map[string]any{"stage": "prod", "stage_name": "x"}, 400, "stage_name"},
		{"rollback to unknown deployment", "POST", "/v1/apis/" + id + "/stages/prod/rollback", map[string]string{"deployment_id": "nope00"}, 404, "deployment_id"},
		{"rollback with no older deployment", "POST", "/v1/apis/" + id + "/stages/prod/rollback", nil, 409, "no deployment older"},
		{"id on create", "POST", "/v1/apis", []byte("id: abcdefghij\n" + string(def("  - path: /a\n    methods: {GET: {"+mock+"}}\n"))), 400, "id"},
		{"method not allowed", "PATCH", "/v1/apis", nil, 405, "not allowed"},
		{"unknown endpoint type", "PATCH", "/v1/apis/" + id, map[string]any{"endpoint_types": []string{"EDGE", "GLOBAL"}}, 400, "endpoint_types[1]"},
		{"patch changes id", "PATCH", "/v1/apis/" + id, map[string]any{"id": "abcdefghij"}, 400, "id"},
		{"compression size too big", "PATCH", "/v1/apis/" + id, map[string]any{"minimum_compression_size": 10485761}, 400, "minimum_compression_size"},
		{"cache ttl out of range", "PATCH", "/v1/apis/" + id + "/stages/prod/cache", map[string]any{"enabled": true, "ttl": "3601s"}, 400, "cache.ttl"},
		{"cache capacity too small", "PATCH", "/v1/apis/" + id + "/stages/prod/cache", map[string]any{"enabled": true, "capacity": "1KiB"}, 400, "cache.capacity"},
		{"cache unknown field", "PATCH", "/v1/apis/" + id + "/stages/prod/cache", map[string]any{"enabeld": true}, 400, "enabeld"},
		{"cache override of no route", "PATCH", "/v1/apis/" + id + "/stages/prod/cache", map[string]any{"enabled": true, "overrides": map[string]any{"GET /nope": map[string]any{"enabled": false}}}, 400, "no route \"GET /nope\""},
		{"cache key header", "PATCH", "/v1/apis/" + id + "/stages/prod/cache", map[string]any{"enabled": true, "key_headers": []string{"bad header"}}, 400, "cache.key_headers[0]"},
		{"flush prefix", "POST", "/v1/apis/" + id + "/stages/prod/cache/flush", map[string]string{"prefix": "pets"}, 400, "prefix"},
		{"flush unknown stage", "POST", "/v1/apis/" + id + "/stages/nope/cache/flush", nil, 404, "stage \"nope\""},
	})
}
