package node

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster"
)

func TestAccessCLI(t *testing.T) {
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
	contains := func(what, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, out)
			}
		}
	}

	// plans create -o json prints the plan with its id.
	var plan planView
	out := run("plans", "create", "--name", "gold", "--rate", "100", "--burst", "50", "--quota", "1000", "--period", "day", "-o", "json")
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.ID) != 10 || plan.Quota == nil || plan.Quota.Period != "DAY" || plan.Throttle.BurstLimit != 50 {
		t.Fatalf("plans create -o json: %v\n%s", err, out)
	}
	contains("plans create", run("plans", "create", "--name", "free"), "usage plan free created with id", "throttle -, quota -")
	contains("plans attach", run("plans", "attach", "--plan", "gold", "--api", "pets", "--stage", "prod"), "now covers: "+id+"/prod")
	run("plans", "attach", "--plan", plan.ID, "--api", id, "--stage", "beta")
	contains("plans detach", run("plans", "detach", "--plan", "gold", "--api", "pets", "--stage", "beta"), "now covers: "+id+"/prod\n")

	// keys create -o json prints the value once; no listing shows it.
	var key keyCreated
	out = run("keys", "create", "--name", "alice", "--plan", plan.ID, "-o", "json")
	if err := json.Unmarshal([]byte(out), &key); err != nil || len(key.Value) != 40 || key.PlanID != plan.ID || !key.Enabled {
		t.Fatalf("keys create -o json: %v\n%s", err, out)
	}
	out = run("keys", "create", "--name", "bob", "--plan", "gold", "--value", "bobs-imported-key-value-1", "--disabled")
	contains("keys create", out, "value: bobs-imported-key-value-1", "shown only once", "disabled")
	for _, args := range [][]string{{"keys", "list"}, {"keys", "list", "-o", "json"}, {"keys", "list", "--plan", "gold"}, {"keys", "get", "alice", "-o", "json"}} {
		out := run(args...)
		if strings.Contains(out, key.Value) || strings.Contains(out, "bobs-imported-key-value-1") || strings.Contains(out, "hash") {
			t.Errorf("%v shows a key value or hash:\n%s", args, out)
		}
		contains(strings.Join(args, " "), out, key.ID)
	}
	contains("keys list", run("keys", "list"), "ID", "HINT", "alice", key.Value[:4]+"…", "bob", "disabled")
	contains("keys enable", run("keys", "enable", "bob"), "(bob) enabled")
	contains("keys disable", run("keys", "disable", key.ID), "(alice) disabled")
	contains("plans get", run("plans", "get", "gold"), "name:        gold", "100/s burst 50", "1000 per DAY", "keys:        2", id+"  prod")
	contains("plans list", run("plans", "list"), "free", "gold", "100/s burst 50", id+"/prod")

	// credentials: the secret once, with the AWS environment to use it.
	out = run("credentials", "create", "--name", "ci")
	contains("credentials create", out, "access key id:     PKIA", "export AWS_ACCESS_KEY_ID=PKIA", "export AWS_SECRET_ACCESS_KEY=", "shown only once")
	secret := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "secret access key: ", 2)[1], "\n", 2)[0])
	if len(secret) != 40 {
		t.Fatalf("secret %q in:\n%s", secret, out)
	}
	if out := run("credentials", "list"); strings.Contains(out, secret) || !strings.Contains(out, "ci") {
		t.Errorf("credentials list:\n%s", out)
	}
	contains("credentials disable", run("credentials", "disable", "ci"), "(ci) disabled")

	// usage reads the committed counts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	today := time.Now().UTC().Format(cluster.UsageDay)
	if err := tn.node.Store().AddUsage(ctx, []cluster.UsageDelta{{Plan: plan.ID, Key: key.ID, Day: today, N: 42}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	contains("usage", run("usage", "--plan", "gold", "--key", "alice", "--from", today, "--to", today), "KEY", "COUNT", key.ID, today, "42", "total: 42")
	var rep usageReport
	if err := json.Unmarshal([]byte(run("usage", "--plan", plan.ID, "-o", "json")), &rep); err != nil || rep.Total != 42 || len(rep.Items) != 1 {
		t.Fatalf("usage -o json: %+v, %v", rep, err)
	}

	// stages limits: throttles and a WAF file, then cleared.
	waf := filepath.Join(t.TempDir(), "waf.yaml")
	if err := os.WriteFile(waf, []byte("ip_deny: [10.0.0.0/8, 192.0.2.7]\nrate_rules:\n  - limit: 100\n    window: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run("stages", "limits", "--api", "pets", "--stage", "prod", "--rate", "10", "--burst", "5", "--route-throttle", "GET /greeting=2:1", "--waf-file", waf)
	contains("stages limits", out, "throttle:    10/s burst 5", "route:       GET /greeting  2/s burst 1", "2 denied network(s), 1 rate rule(s)")
	// A new file replaces the block: ip_deny and rate_rules go.
	if err := os.WriteFile(waf, []byte(`{"ip_allow": ["192.0.2.0/24"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run("stages", "limits", "--api", "pets", "--stage", "prod", "--waf-file", waf, "--clear-route-throttle", "GET /greeting")
	contains("stages limits replace", out, "waf:         on: 1 allowed network(s)\n", "throttle:    10/s burst 5")
	if strings.Contains(out, "route:") {
		t.Errorf("route throttle not cleared:\n%s", out)
	}
	contains("stages limits clear", run("stages", "limits", "--api", "pets", "--stage", "prod", "--clear-waf", "--clear-throttle"), "throttle:    -", "waf:         off")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plans", "create", "--name", "x", "--rate", "5"}, "throttle.burst_limit"},
		{[]string{"plans", "attach", "--plan", "gold", "--api", "pets", "--stage", "nope"}, "has no stage"},
		{[]string{"plans", "get", "nope"}, "no usage plan has the id or name"},
		{[]string{"keys", "create", "--name", "eve", "--value", "bobs-imported-key-value-1"}, "already exists"},
		{[]string{"keys", "disable", "nope"}, "no API key has the id or name"},
		{[]string{"usage", "--plan", "gold", "--from", "2025-03-10", "--to", "2025-03-01"}, "to: must not be before from"},
		{[]string{"stages", "limits", "--api", "pets", "--stage", "prod", "--route-throttle", "GET /greeting"}, "want \"ROUTE=RATE:BURST\""},
		{[]string{"stages", "limits", "--api", "pets", "--stage", "prod"}, "nothing to change"},
	} {
		if code, _, errOut := tn.run(tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 1 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}

	contains("keys delete", run("keys", "delete", "alice"), "API key "+key.ID+" deleted")
	contains("credentials delete", run("credentials", "delete", "ci"), "deleted")
	contains("plans delete", run("plans", "delete", "gold"), "usage plan "+plan.ID+" deleted")
	if out := run("credentials", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("credentials list -o json after delete = %q", out)
	}
}

// TestUsageCLIKeyLookup checks that `usage --key` asks for a key by id
// only when nothing has that id or name (a deleted key's counts stay),
// and fails on a name two keys share instead of reporting no requests.
func TestUsageCLIKeyLookup(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	var plan planView
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "gold"}, &plan)
	var ids []string
	for range 2 {
		var k keyCreated
		tn.mustDo("POST", "/v1/keys", map[string]string{"name": "twin", "plan_id": plan.ID}, &k)
		ids = append(ids, k.ID)
	}

	code, out, errOut := tn.run("usage", "--plan", "gold", "--key", "twin")
	if code != 1 || strings.Contains(out, "total:") ||
		!strings.Contains(errOut, `several API keys are named "twin"`) || !strings.Contains(errOut, ids[0]) || !strings.Contains(errOut, ids[1]) {
		t.Errorf("usage --key with a shared name: exit %d, stdout %q, stderr %q; want exit 1 naming both keys", code, out, errOut)
	}

	// A key that is gone is asked for by its id.
	code, out, errOut = tn.run("usage", "--plan", "gold", "--key", "zzzzzzzzzz")
	if code != 0 || !strings.Contains(out, "total: 0 request(s)") {
		t.Errorf("usage --key with a deleted key's id: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// racingAdmin stands in front of a node's admin API and lets another
// write change a stage right after each of the first races reads of it:
// the reader gets its answer once that write is committed, so what it
// read is stale. It records the status of each PATCH of the stage's
// settings.
type racingAdmin struct {
	url     string
	mu      sync.Mutex
	races   int
	patches []int
}

func startRacingAdmin(t *testing.T, tn *testNode, stage string, races int, change any) *racingAdmin {
	t.Helper()
	target, err := url.Parse(tn.client.Base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ra := &racingAdmin{races: races}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		ra.mu.Lock()
		defer ra.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == stage && ra.races > 0:
			ra.races--
			if err := tn.do("PATCH", stage+"/settings", change, nil); err != nil {
				t.Errorf("the concurrent write: %v", err)
			}
		case r.Method == http.MethodPatch && r.URL.Path == stage+"/settings":
			ra.patches = append(ra.patches, rec.Code)
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	ra.url = srv.URL
	return ra
}

// statuses returns the status of each settings PATCH so far.
func (ra *racingAdmin) statuses() []int {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return slices.Clone(ra.patches)
}

// TestStagesLimitsWAFFileRetriesAStaleRead checks that --waf-file, which
// reads the stage to compute its merge patch, does not mix its block with
// one another write stored in between: the write is refused (412) and
// made again from a fresh read, at most three times in all.
func TestStagesLimitsWAFFileRetriesAStaleRead(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	stage := "/v1/apis/" + id + "/stages/prod"
	tn.mustDo("PATCH", stage+"/settings", map[string]any{"waf": map[string]any{"ip_deny": []string{"10.0.0.0/8"}}}, nil)
	file := filepath.Join(t.TempDir(), "waf.yaml")
	if err := os.WriteFile(file, []byte("ip_deny: [198.51.100.0/24]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The other write adds members the file lacks: a patch computed from
	// the stale read would leave them in place.
	change := map[string]any{"waf": map[string]any{"ip_allow": []string{"192.0.2.0/24"}, "rate_rules": []any{map[string]any{"limit": 5}}}}
	limits := func(ra *racingAdmin) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main([]string{"--admin", ra.url, "stages", "limits", "--api", id, "--stage", "prod", "--waf-file", file}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	storedWAF := func() string {
		t.Helper()
		b, err := json.Marshal(tn.node.Store().State().Stage(id, "prod").WAF)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// Changed after every read: three refused writes, then an error.
	ra := startRacingAdmin(t, tn, stage, 3, change)
	code, out := limits(ra)
	if code != 1 || !strings.Contains(out, "the stage kept changing") || !slices.Equal(ra.statuses(), []int{412, 412, 412}) {
		t.Fatalf("a stage that keeps changing: exit %d, PATCH statuses %v\n%s", code, ra.statuses(), out)
	}
	if got := storedWAF(); strings.Contains(got, "198.51.100.0/24") || !strings.Contains(got, "10.0.0.0/8") {
		t.Fatalf("refused writes changed the WAF: %s", got)
	}

	// Changed after the first read only: the second write replaces the
	// block exactly.
	ra = startRacingAdmin(t, tn, stage, 1, change)
	if code, out := limits(ra); code != 0 || !slices.Equal(ra.statuses(), []int{412, 200}) {
		t.Fatalf("one stale read: exit %d, PATCH statuses %v\n%s", code, ra.statuses(), out)
	}
	if got, want := storedWAF(), `{"ip_deny":["198.51.100.0/24"]}`; got != want {
		t.Fatalf("WAF after --waf-file = %s, want exactly the file's block %s", got, want)
	}
}
