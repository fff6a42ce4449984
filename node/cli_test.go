package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run calls the command line in process against a node's admin API.
func (tn *testNode) run(args ...string) (code int, stdout, stderr string) {
	tn.t.Helper()
	var out, errb bytes.Buffer
	code = Main(append([]string{"--admin", tn.node.Addrs().Admin}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	dir := t.TempDir()
	backend := versionBackend(t)
	host := strings.TrimPrefix(backend.URL, "http://")
	good := filepath.Join(dir, "pets.yaml")
	if err := os.WriteFile(good, []byte(petsDef(host, "hi from cli")), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nresources:\n  - path: /a/{id\n    methods: {FETCH: {integration: {type: HTTP_PROXY, uri: /rel}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// validate: every problem with its field path, exit 1; a good file passes.
	code, _, errOut := tn.run("validate", "-f", bad)
	for _, want := range []string{"resources[0].path", "resources[0].methods.FETCH", "resources[0].methods.FETCH.integration.uri", "3 problem(s)"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("validate bad file: exit %d, stderr does not name %q:\n%s", code, want, errOut)
		}
	}
	if code, out, errOut := tn.run("validate", "-f", good); code != 0 || !strings.Contains(out, "valid native definition") {
		t.Fatalf("validate good file: exit %d\n%s%s", code, out, errOut)
	}

	// apply -o json prints the stored API with its id; apply -o id only the id.
	code, out, errOut := tn.run("apply", "-f", good, "-o", "json")
	var api struct{ ID, Name string }
	if code != 0 || json.Unmarshal([]byte(out), &api) != nil || len(api.ID) != 10 || api.Name != "pets" {
		t.Fatalf("apply -o json: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := tn.run("apply", "-f", good, "-o", "id"); code != 0 || strings.TrimSpace(out) != api.ID {
		t.Fatalf("apply -o id = %d %q, want %s (same API, by name)", code, out, api.ID)
	}

	// deploy by name with a variable and --wait; the stage URL; the call.
	if code, out, errOut := tn.run("deploy", "--api", "pets", "--stage", "prod", "--var", "backend="+host, "--wait"); code != 0 || !strings.Contains(out, "served by every node") {
		t.Fatalf("deploy --wait: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = tn.run("stages", "get", "--api", "pets", "--stage", "prod", "-o", "url")
	wantURL := fmt.Sprintf("https://%s.us-east-1.portico.test:", api.ID)
	if code != 0 || !strings.HasPrefix(out, wantURL) || !strings.HasSuffix(strings.TrimSpace(out), "/prod/") {
		t.Fatalf("stages get -o url = %d %q", code, out)
	}
	if status, body, _ := tn.call("GET", api.ID, "/prod/greeting", nil); status != 200 || body != "hi from cli" {
		t.Fatalf("call after CLI deploy = %d %q", status, body)
	}

	// export prints OpenAPI with the API Gateway integration extension.
	if code, out, _ := tn.run("export", "--api", "pets", "--stage", "prod"); code != 0 || !strings.Contains(out, "openapi: 3.0") || !strings.Contains(out, "x-amazon-apigateway-integration") {
		t.Fatalf("export = %d\n%s", code, out)
	}
	// cluster status lists this node, with the config index it serves.
	if code, out, _ := tn.run("cluster", "status"); code != 0 || !strings.Contains(out, "test-1") || !strings.Contains(out, "leader") {
		t.Fatalf("cluster status = %d\n%s", code, out)
	}
	// errors: unknown API, missing flag, unknown output format.
	for _, args := range [][]string{
		{"deploy", "--api", "nope", "--stage", "x"},
		{"stages", "get", "--api", "pets"},
		{"apis", "list", "-o", "xml"},
	} {
		if code, _, errOut := tn.run(args...); code != 1 || !strings.HasPrefix(errOut, "error") {
			t.Errorf("%v: exit %d, stderr %q, want exit 1 with an error", args, code, errOut)
		}
	}

	// /metrics on the admin listener counts the call with API Gateway's names.
	resp, err := http.Get("http://" + tn.node.Addrs().Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`portico_Count{api_id=%q,api_name="pets",endpoint="regional",stage="prod"} 1`, api.ID)
	if !strings.Contains(string(metrics), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
