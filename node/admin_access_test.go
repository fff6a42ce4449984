package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/endpoints/waf"
)

// rawGet returns an admin answer's bytes, to check what it leaves out.
func (tn *testNode) rawGet(path string) string {
	tn.t.Helper()
	var raw jsonRaw
	tn.mustDo("GET", path, nil, &raw)
	return string(raw)
}

func TestPlanAdminRoundTrip(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)

	var p planView
	tn.mustDo("POST", "/v1/plans", map[string]any{
		"name": "gold", "description": "paying customers",
		"throttle": map[string]any{"rate_limit": 100, "burst_limit": 50},
		"quota":    map[string]any{"limit": 1000, "period": "WEEK", "offset": 1},
		"stages":   []any{map[string]string{"api_id": id, "stage": "prod"}},
	}, &p)
	if !regexp.MustCompile(`^[a-z0-9]{10}$`).MatchString(p.ID) || p.Name != "gold" || p.CreatedAt.IsZero() ||
		p.Throttle == nil || p.Throttle.BurstLimit != 50 || p.Quota == nil || p.Quota.Period != configs.QuotaWeek ||
		len(p.Stages) != 1 || p.KeyCount != 0 {
		t.Fatalf("created plan = %+v", p.UsagePlan)
	}
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "free"}, nil)

	var list struct {
		Plans []planView `json:"plans"`
		Index uint64     `json:"index"`
	}
	tn.mustDo("GET", "/v1/plans", nil, &list)
	if len(list.Plans) != 2 || list.Plans[0].Name != "free" || list.Plans[1].ID != p.ID || list.Index == 0 {
		t.Fatalf("list = %+v", list)
	}
	var got planView
	tn.mustDo("GET", "/v1/plans/"+p.ID, nil, &got)
	if !sameJSON(got, p) {
		t.Fatalf("GET = %+v, want %+v", got.UsagePlan, p.UsagePlan)
	}

	// PATCH merges: the name changes, the quota goes, the rest stays; the
	// same patch again writes nothing.
	path := "/v1/plans/" + p.ID
	got = planView{} // omitted members must not linger from the last answer
	tn.mustDo("PATCH", path, map[string]any{"name": "platinum", "quota": nil}, &got)
	if got.Name != "platinum" || got.Quota != nil || got.Throttle == nil || got.Throttle.RateLimit != 100 || len(got.Stages) != 1 || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("after PATCH: %+v", got.UsagePlan)
	}
	before := tn.appliedIndex()
	tn.mustDo("PATCH", path, map[string]any{"name": "platinum"}, nil)
	if tn.appliedIndex() != before {
		t.Error("an unchanged PATCH reached the log")
	}

	// attach answers 201, then 200 without a write; detach.
	attach := func(stage string, want int) planView {
		t.Helper()
		var v planView
		if status := tn.send("POST", path+"/stages", configs.PlanStage{APIID: id, Stage: stage}, &v); status != want {
			t.Fatalf("attach %s: status %d, want %d", stage, status, want)
		}
		return v
	}
	if v := attach("beta", http.StatusCreated); len(v.Stages) != 2 || v.Stages[1].Stage != "beta" {
		t.Fatalf("after attach: %+v", v.Stages)
	}
	before = tn.appliedIndex()
	attach("beta", http.StatusOK)
	if tn.appliedIndex() != before {
		t.Error("attaching a covered stage reached the log")
	}
	tn.mustDo("DELETE", path+"/stages/"+id+"/prod", nil, &got)
	if len(got.Stages) != 1 || got.Stages[0].Stage != "beta" {
		t.Fatalf("after detach: %+v", got.Stages)
	}

	// A stage deleted after it was attached does not block later writes:
	// it is dropped from the plan on the next one.
	tn.mustDo("DELETE", "/v1/apis/"+id+"/stages/beta", nil, nil)
	tn.mustDo("POST", path+"/stages", configs.PlanStage{APIID: id, Stage: "prod"}, &got)
	if len(got.Stages) != 1 || got.Stages[0].Stage != "prod" {
		t.Fatalf("after attach with a deleted stage: %+v", got.Stages)
	}

	// Deleting the plan leaves its keys without a plan.
	var k keyCreated
	tn.mustDo("POST", "/v1/keys", keyRequest{Name: "alice", PlanID: p.ID}, &k)
	tn.mustDo("GET", path, nil, &got)
	if got.KeyCount != 1 {
		t.Errorf("key_count = %d, want 1", got.KeyCount)
	}
	// The list counts every plan's keys in one scan: the same count.
	tn.mustDo("GET", "/v1/plans", nil, &list)
	for _, lp := range list.Plans {
		want := 0
		if lp.ID == p.ID {
			want = 1
		}
		if lp.KeyCount != want {
			t.Errorf("listed plan %s: key_count = %d, want %d", lp.Name, lp.KeyCount, want)
		}
	}
	tn.mustDo("DELETE", path, nil, nil)
	var kv keyView
	tn.mustDo("GET", "/v1/keys/"+k.ID, nil, &kv)
	if kv.PlanID != "" {
		t.Errorf("key of a deleted plan has plan %q", kv.PlanID)
	}
	var ae *APIError
	if err := tn.do("GET", path, nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("GET deleted plan: %v, want 404", err)
	}
}

// send sends a JSON request and returns the status, decoding the answer
// into out.
func (tn *testNode) send(method, path string, body, out any) int {
	tn.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, tn.client.Base+path, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		tn.t.Fatalf("%s %s: decode: %v", method, path, err)
	}
	return resp.StatusCode
}

func TestPlanBadInputsAreRejectedAndStoreNothing(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	var p planView
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "gold", Stages: []configs.PlanStage{{APIID: id, Stage: "prod"}}}, &p)
	plan := "/v1/plans/" + p.ID
	stage := func(api, stage string) []configs.PlanStage {
		return []configs.PlanStage{{APIID: id, Stage: "prod"}, {APIID: api, Stage: stage}}
	}
	checkRejected(t, tn, []badInput{
		{"no name", "POST", "/v1/plans", planRequest{}, 400, "name: is required"},
		{"unknown field", "POST", "/v1/plans", map[string]any{"name": "x", "keys": []string{}}, 400, "keys: unknown field"},
		{"burst 0 with a rate", "POST", "/v1/plans", planRequest{Name: "x", Throttle: &configs.Throttle{RateLimit: 10}}, 400, "throttle.burst_limit"},
		{"bad period", "POST", "/v1/plans", planRequest{Name: "x", Quota: &configs.Quota{Limit: 5, Period: "YEAR"}}, 400, "quota.period"},
		{"missing stage", "POST", "/v1/plans", planRequest{Name: "x", Stages: stage(id, "nope")}, 404, "stages[1]"},
		{"unknown api", "POST", "/v1/plans", planRequest{Name: "x", Stages: stage("zzzzzzzzzz", "prod")}, 404, "stages[1]: no API has the id"},
		{"stage twice", "POST", "/v1/plans", planRequest{Name: "x", Stages: stage(id, "prod")}, 400, "stages[1]: stage prod of api " + id + " is listed twice"},
		{"empty stage", "POST", "/v1/plans", planRequest{Name: "x", Stages: stage(id, "")}, 400, "stages[1]: needs api_id and stage"},
		{"patch id", "PATCH", plan, map[string]any{"id": "abcdefghij"}, 400, "id: the id of a usage plan cannot change"},
		{"patch missing stage", "PATCH", plan, map[string]any{"stages": stage(id, "nope")}, 404, "stages[1]"},
		{"patch bad quota", "PATCH", plan, map[string]any{"quota": map[string]any{"limit": 0, "period": "DAY"}}, 400, "quota.limit"},
		{"attach missing stage", "POST", plan + "/stages", configs.PlanStage{APIID: id, Stage: "nope"}, 404, "stage: api " + id + " has no stage"},
		{"attach unknown api", "POST", plan + "/stages", configs.PlanStage{APIID: "zzzzzzzzzz", Stage: "prod"}, 404, "api_id: no API has the id"},
		{"attach without fields", "POST", plan + "/stages", map[string]any{}, 400, "api_id: is required"},
		{"attach to unknown plan", "POST", "/v1/plans/nope/stages", configs.PlanStage{APIID: id, Stage: "prod"}, 404, "usage plan \"nope\" not found"},
		{"detach uncovered stage", "DELETE", plan + "/stages/" + id + "/beta", nil, 404, "does not cover stage beta"},
		{"delete unknown plan", "DELETE", "/v1/plans/nope", nil, 404, "not found"},
	})
}

func TestKeyAdminShowsTheValueOnce(t *testing.T) {
	t.Parallel()
	tn, _ := domainFixture(t)
	var p planView
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "gold"}, &p)

	// A generated key: 40 letters and digits, shown in this answer only.
	var k keyCreated
	tn.mustDo("POST", "/v1/keys", keyRequest{Name: "alice", PlanID: p.ID}, &k)
	if !regexp.MustCompile(`^[A-Za-z0-9]{40}$`).MatchString(k.Value) || !regexp.MustCompile(`^[a-z0-9]{10}$`).MatchString(k.ID) ||
		!k.Enabled || k.PlanID != p.ID || k.Hint != k.Value[:4]+"…" {
		t.Fatalf("created key = %+v", k)
	}
	stored := tn.node.Store().State().Keys[k.ID]
	if stored == nil || stored.Hash != auth.HashKey(k.Value) || strings.Contains(stored.Hash+stored.Hint, k.Value) {
		t.Fatalf("stored key = %+v, want the value's hash", stored)
	}
	for _, path := range []string{"/v1/keys", "/v1/keys?plan=" + p.ID, "/v1/keys/" + k.ID} {
		raw := tn.rawGet(path)
		if !strings.Contains(raw, k.ID) || strings.Contains(raw, k.Value) || strings.Contains(raw, stored.Hash) || strings.Contains(raw, `"hash"`) || strings.Contains(raw, `"value"`) {
			t.Errorf("GET %s shows the value or hash:\n%s", path, raw)
		}
	}

	// An imported key, disabled; the same value again is a conflict.
	value := "imported-key-0123456789"
	var imp keyCreated
	tn.mustDo("POST", "/v1/keys", map[string]any{"name": "bob", "value": value, "enabled": false}, &imp)
	if imp.Value != value || imp.Enabled || imp.PlanID != "" || imp.Hint != "impo…" {
		t.Fatalf("imported key = %+v", imp)
	}
	var list struct {
		Keys []keyView `json:"keys"`
	}
	tn.mustDo("GET", "/v1/keys?plan="+p.ID, nil, &list)
	if len(list.Keys) != 1 || list.Keys[0].ID != k.ID {
		t.Fatalf("keys of plan = %+v", list.Keys)
	}

	// enable, move to the plan, disable, rename; then leave the plan.
	var kv keyView
	tn.mustDo("PATCH", "/v1/keys/"+imp.ID, map[string]any{"enabled": true, "plan_id": p.ID}, &kv)
	if !kv.Enabled || kv.PlanID != p.ID || kv.Name != "bob" {
		t.Fatalf("after enable: %+v", kv)
	}
	tn.mustDo("PATCH", "/v1/keys/"+imp.ID, map[string]any{"enabled": false, "name": "robert"}, &kv)
	if kv.Enabled || kv.Name != "robert" || kv.PlanID != p.ID {
		t.Fatalf("after disable: %+v", kv)
	}
	kv = keyView{}
	tn.mustDo("PATCH", "/v1/keys/"+imp.ID, map[string]any{"plan_id": nil}, &kv)
	if kv.PlanID != "" {
		t.Fatalf("after plan_id null: %+v", kv)
	}
	if h := tn.node.Store().State().Keys[imp.ID].Hash; h != auth.HashKey(value) {
		t.Errorf("PATCH changed the hash to %s", h)
	}

	checkRejected(t, tn, []badInput{
		{"same value twice", "POST", "/v1/keys", keyRequest{Name: "eve", Value: value}, 409, "value: an API key with this value already exists"},
		{"generated value imported", "POST", "/v1/keys", keyRequest{Name: "eve", Value: k.Value}, 409, "value"},
		{"short value", "POST", "/v1/keys", keyRequest{Name: "eve", Value: "short-value"}, 400, "value: must be 20 to 128 characters"},
		{"value with a space", "POST", "/v1/keys", keyRequest{Name: "eve", Value: "a value with spaces in it"}, 400, "value: must be printable ASCII"},
		{"no name", "POST", "/v1/keys", keyRequest{PlanID: p.ID}, 400, "name: is required"},
		{"unknown plan", "POST", "/v1/keys", keyRequest{Name: "eve", PlanID: "nope"}, 404, "plan_id: no usage plan"},
		{"hash on create", "POST", "/v1/keys", map[string]any{"name": "eve", "hash": stored.Hash}, 400, "hash: unknown field"},
		{"patch value", "PATCH", "/v1/keys/" + k.ID, map[string]any{"value": "x"}, 400, "value: unknown field"},
		{"patch unknown plan", "PATCH", "/v1/keys/" + k.ID, map[string]any{"plan_id": "nope"}, 404, "plan_id"},
		{"patch empty name", "PATCH", "/v1/keys/" + k.ID, map[string]any{"name": ""}, 400, "name: is required"},
		{"list of unknown plan", "GET", "/v1/keys?plan=nope", nil, 404, "plan: no usage plan"},
		{"get unknown key", "GET", "/v1/keys/nope", nil, 404, "not found"},
	})

	tn.mustDo("DELETE", "/v1/keys/"+k.ID, nil, nil)
	var ae *APIError
	if err := tn.do("GET", "/v1/keys/"+k.ID, nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("GET deleted key: %v, want 404", err)
	}
}

func TestCredentialAdminShowsTheSecretOnce(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	var c configs.Credential
	tn.mustDo("POST", "/v1/credentials", map[string]string{"name": "ci"}, &c)
	if !regexp.MustCompile(`^PKIA[A-Z0-9]{16}$`).MatchString(c.ID) || len(c.Secret) != 40 || !c.Enabled || c.Name != "ci" {
		t.Fatalf("created credential = %+v", c)
	}
	if s := tn.node.Store().State().Credentials[c.ID]; s == nil || s.Secret != c.Secret {
		t.Fatalf("stored credential = %+v, want the secret (SigV4 needs it)", s)
	}
	for _, path := range []string{"/v1/credentials", "/v1/credentials/" + c.ID} {
		if raw := tn.rawGet(path); !strings.Contains(raw, c.ID) || strings.Contains(raw, c.Secret) || strings.Contains(raw, `"secret"`) {
			t.Errorf("GET %s shows the secret:\n%s", path, raw)
		}
	}
	var got configs.Credential
	tn.mustDo("PATCH", "/v1/credentials/"+c.ID, map[string]any{"enabled": false}, &got)
	if got.Enabled || got.Secret != "" || got.Name != "ci" {
		t.Fatalf("after disable: %+v", got)
	}
	if s := tn.node.Store().State().Credentials[c.ID]; s.Enabled || s.Secret != c.Secret {
		t.Fatalf("stored after disable: enabled %v, secret kept %v", s.Enabled, s.Secret == c.Secret)
	}
	checkRejected(t, tn, []badInput{
		{"no name", "POST", "/v1/credentials", map[string]string{}, 400, "name: is required"},
		{"secret on create", "POST", "/v1/credentials", map[string]string{"name": "x", "secret": "mine"}, 400, "secret: unknown field"},
		{"patch secret", "PATCH", "/v1/credentials/" + c.ID, map[string]string{"secret": "mine"}, 400, "secret: unknown field"},
		{"patch unknown", "PATCH", "/v1/credentials/PKIANOPE", map[string]bool{"enabled": true}, 404, "not found"},
	})
	tn.mustDo("DELETE", "/v1/credentials/"+c.ID, nil, nil)
	var list struct {
		Credentials []configs.Credential `json:"credentials"`
	}
	tn.mustDo("GET", "/v1/credentials", nil, &list)
	if len(list.Credentials) != 0 {
		t.Fatalf("after delete: %+v", list.Credentials)
	}
}

func TestUsageReport(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	var p planView
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "gold"}, &p)
	now := time.Now().UTC()
	day := func(d int) string { return now.AddDate(0, 0, d).Format(cluster.UsageDay) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := tn.node.Store().AddUsage(ctx, []cluster.UsageDelta{
		{Plan: p.ID, Key: "k1", Day: day(0), N: 5},
		{Plan: p.ID, Key: "k1", Day: day(-1), N: 3},
		{Plan: p.ID, Key: "k2", Day: day(-1), N: 7},
		{Plan: p.ID, Key: "k1", Day: day(-10), N: 100}, // outside the default range
		{Plan: "other", Key: "k1", Day: day(0), N: 1000},
	}, now)
	if err != nil {
		t.Fatal(err)
	}

	// The default range is the last 7 days (today included, in UTC).
	var rep usageReport
	tn.mustDo("GET", "/v1/usage?plan="+p.ID, nil, &rep)
	want := []cluster.UsageRow{{Key: "k1", Day: day(-1), Count: 3}, {Key: "k1", Day: day(0), Count: 5}, {Key: "k2", Day: day(-1), Count: 7}}
	if !sameJSON(rep.Items, want) || rep.Total != 15 || rep.Plan != p.ID {
		t.Fatalf("default report = %+v, want items %+v", rep, want)
	}
	tn.mustDo("GET", "/v1/usage?plan="+p.ID+"&key=k1&from="+day(-30)+"&to="+day(-1), nil, &rep)
	want = []cluster.UsageRow{{Key: "k1", Day: day(-10), Count: 100}, {Key: "k1", Day: day(-1), Count: 3}}
	if !sameJSON(rep.Items, want) || rep.From != day(-30) || rep.To != day(-1) || rep.Key != "k1" {
		t.Fatalf("key report = %+v, want items %+v", rep, want)
	}

	u := "/v1/usage?plan=" + p.ID
	checkRejected(t, tn, []badInput{
		{"no plan", "GET", "/v1/usage", nil, 400, "plan: is required"},
		{"unknown plan", "GET", "/v1/usage?plan=nope", nil, 404, "plan: no usage plan"},
		{"bad from", "GET", u + "&from=yesterday", nil, 400, "from: \"yesterday\" is not a date"},
		{"bad to", "GET", u + "&to=2025-13-01", nil, 400, "to: \"2025-13-01\" is not a date"},
		{"to before from", "GET", u + "&from=2025-03-10&to=2025-03-09", nil, 400, "to: must not be before from"},
		{"over 90 days", "GET", u + "&from=2025-01-01&to=2025-04-01", nil, 400, "from: the range spans 91 days; at most 90"},
	})
	tn.mustDo("GET", u+"&from=2025-01-01&to=2025-03-31", nil, &rep) // 90 days: fine
}

// noUsage is a store as a node that is not a voter sees it: no usage.
type noUsage struct{ Store }

func (noUsage) Usage() *cluster.Usage { return nil }

func TestUsageOnANodeWithoutCountsIs503(t *testing.T) {
	t.Parallel()
	tn := startNode(t, t.TempDir())
	var p planView
	tn.mustDo("POST", "/v1/plans", planRequest{Name: "gold"}, &p)
	ad := &Admin{store: noUsage{tn.node.Store()}, log: slog.New(slog.NewTextHandler(logWriter{t}, nil)), now: time.Now}
	rec := httptest.NewRecorder()
	ad.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/usage?plan="+p.ID, nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(string(body), "control node") {
		t.Fatalf("usage on a non-voter = %d %s", rec.Code, body)
	}
}

func TestStageSettingsPatch(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	path := "/v1/apis/" + id + "/stages/prod/settings"
	var s stageView
	tn.mustDo("PATCH", path, map[string]any{
		"throttle":        map[string]any{"rate_limit": 100, "burst_limit": 50},
		"route_throttles": map[string]any{"GET /greeting": map[string]any{"rate_limit": 10, "burst_limit": 5}},
		"waf":             map[string]any{"ip_deny": []string{"10.0.0.0/8"}, "rate_rules": []any{map[string]any{"limit": 100, "window": "1m"}}},
	}, &s)
	if s.Throttle == nil || s.Throttle.RateLimit != 100 || s.RouteThrottles["GET /greeting"].BurstLimit != 5 ||
		s.WAF == nil || len(s.WAF.IPDeny) != 1 || len(s.WAF.RateRules) != 1 || s.WAF.RateRules[0].Window.D() != time.Minute {
		t.Fatalf("after PATCH: throttle %+v routes %+v waf %+v", s.Throttle, s.RouteThrottles, s.WAF)
	}
	if st := tn.node.Store().State().Stage(id, "prod"); st.WAF == nil || st.Throttle == nil {
		t.Fatal("settings not stored")
	}
	// What is in force is stored and shown: the rate rule's default action.
	if r := s.WAF.RateRules; len(r) != 1 || r[0].Action != waf.ActionBlock {
		t.Fatalf("rate rule as stored: %+v, want the default action %q filled in", r, waf.ActionBlock)
	}

	// Merge: one member of the WAF changes, the rest stays; null removes.
	tn.mustDo("PATCH", path, map[string]any{"waf": map[string]any{"ip_allow": []string{"192.0.2.1"}}, "throttle": map[string]any{"burst_limit": 60}}, &s)
	if len(s.WAF.IPAllow) != 1 || len(s.WAF.IPDeny) != 1 || s.Throttle.BurstLimit != 60 || s.Throttle.RateLimit != 100 {
		t.Fatalf("after merge: throttle %+v waf %+v", s.Throttle, s.WAF)
	}
	s = stageView{}
	tn.mustDo("PATCH", path, map[string]any{"route_throttles": map[string]any{"GET /greeting": nil}, "waf": nil}, &s)
	if s.RouteThrottles != nil || s.WAF != nil || s.Throttle == nil {
		t.Fatalf("after null: throttle %+v routes %+v waf %+v", s.Throttle, s.RouteThrottles, s.WAF)
	}

	checkRejected(t, tn, []badInput{
		{"bad CIDR", "PATCH", path, map[string]any{"waf": map[string]any{"ip_deny": []string{"10.0.0.0/33"}}}, 400, "waf.ip_deny[0]"},
		{"unknown route", "PATCH", path, map[string]any{"route_throttles": map[string]any{"GET /nope": map[string]any{"rate_limit": 1, "burst_limit": 1}}}, 400, `route_throttles["GET /nope"]`},
		{"rate without burst", "PATCH", path, map[string]any{"throttle": map[string]any{"rate_limit": 5, "burst_limit": 0}}, 400, "throttle.burst_limit"},
		{"zero WAF rate", "PATCH", path, map[string]any{"waf": map[string]any{"rate_rules": []any{map[string]any{"limit": 0}}}}, 400, "waf.rate_rules[0].limit"},
		{"unknown field", "PATCH", path, map[string]any{"cache": map[string]any{"enabled": true}}, 400, "cache: unknown field"},
		{"unknown stage", "PATCH", "/v1/apis/" + id + "/stages/nope/settings", map[string]any{"waf": nil}, 404, "stage \"nope\""},
	})
	if st := tn.node.Store().State().Stage(id, "prod"); st.WAF != nil || st.Throttle.BurstLimit != 60 {
		t.Fatalf("a rejected patch changed the stage: waf %+v throttle %+v", st.WAF, st.Throttle)
	}
}

// conditional sends a request with an If-Match header (none when empty)
// and returns the status, the ETag and the body of the answer.
func (tn *testNode) conditional(method, path, ifMatch string, body any) (int, string, string) {
	tn.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, tn.client.Base+path, bytes.NewReader(b))
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), string(answer)
}

// TestStageWritesHonourIfMatch checks optimistic concurrency on stage
// writes: the ETag of a stage is its changed_index in quotes, a write
// with an If-Match that is not the current version is refused with 412
// and changes nothing, and one with the current version (or *, or no
// If-Match) is applied.
func TestStageWritesHonourIfMatch(t *testing.T) {
	t.Parallel()
	tn, id := domainFixture(t)
	stage := "/v1/apis/" + id + "/stages/prod"
	path := stage + "/settings"
	read := func() (string, stageView) {
		t.Helper()
		status, etag, body := tn.conditional("GET", stage, "", nil)
		var v stageView
		if err := json.Unmarshal([]byte(body), &v); status != http.StatusOK || err != nil {
			t.Fatalf("GET stage: %d %s", status, body)
		}
		if v.ChangedIndex == 0 || etag != fmt.Sprintf(`"%d"`, v.ChangedIndex) {
			t.Fatalf("GET stage: ETag %s, changed_index %d: want the index in quotes", etag, v.ChangedIndex)
		}
		return etag, v
	}
	tag, before := read()
	deny := map[string]any{"waf": map[string]any{"ip_deny": []string{"10.0.0.0/8"}}}

	// A stale version: 412 naming both versions, nothing written.
	stale := fmt.Sprintf(`"%d"`, before.ChangedIndex-1)
	index := tn.appliedIndex()
	status, _, body := tn.conditional("PATCH", path, stale, deny)
	want := fmt.Sprintf(`If-Match %s does not match the stage's current version %s: it changed since it was read`, stale, tag)
	if status != http.StatusPreconditionFailed || !strings.Contains(body, strings.ReplaceAll(want, `"`, `\"`)) {
		t.Fatalf("PATCH with a stale If-Match: %d %s, want 412 saying %s", status, body, want)
	}
	// Every write through updateStage checks it, not only settings.
	if status, _, body := tn.conditional("PUT", stage+"/variables", stale, map[string]any{"variables": map[string]string{"a": "b"}}); status != http.StatusPreconditionFailed {
		t.Fatalf("PUT variables with a stale If-Match: %d %s, want 412", status, body)
	}
	if tag2, after := read(); tag2 != tag || after.WAF != nil || after.Variables["a"] != "" || tn.appliedIndex() != index {
		t.Fatalf("a refused write changed the stage: ETag %s (was %s), waf %+v, variables %v", tag2, tag, after.WAF, after.Variables)
	}

	// Malformed: 400 naming the header, nothing written.
	for _, bad := range []string{"42", `"x"`, `W/42`, `"42", "43"`, `"-1"`, `""`} {
		status, _, body := tn.conditional("PATCH", path, bad, deny)
		if status != http.StatusBadRequest || !strings.Contains(body, "If-Match") {
			t.Errorf("If-Match %s: %d %s, want 400 naming If-Match", bad, status, body)
		}
	}
	if tn.appliedIndex() != index {
		t.Fatal("a malformed If-Match reached the log")
	}

	// The current version, strong or weak: applied, and the answer's ETag
	// is the new version, which a GET shows too.
	status, etag, body := tn.conditional("PATCH", path, tag, deny)
	var got stageView
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil || got.WAF == nil || len(got.WAF.IPDeny) != 1 {
		t.Fatalf("PATCH with the current If-Match: %d %s", status, body)
	}
	if now, v := read(); etag != now || got.ChangedIndex != v.ChangedIndex || v.ChangedIndex <= before.ChangedIndex {
		t.Fatalf("after PATCH: its ETag %s and changed_index %d, GET's %s and %d (was %d)", etag, got.ChangedIndex, now, v.ChangedIndex, before.ChangedIndex)
	}
	if status, etag2, body := tn.conditional("PATCH", path, "W/"+etag, map[string]any{"waf": nil}); status != http.StatusOK || etag2 == etag {
		t.Fatalf("PATCH with a weak If-Match: %d, ETag %s (was %s) %s", status, etag2, etag, body)
	}

	// * matches any version of the stage; without If-Match nothing is
	// checked, as before.
	if status, _, body := tn.conditional("PATCH", path, "*", deny); status != http.StatusOK {
		t.Fatalf("PATCH with If-Match *: %d %s", status, body)
	}
	tn.mustDo("PATCH", path, map[string]any{"waf": nil}, nil)
	_, v := read()
	if v.WAF != nil {
		t.Fatalf("PATCH without If-Match not applied: waf %+v", v.WAF)
	}

	// A deployment to the stage answers with the stage as stored: the
	// version a conditional write must name next.
	var dep struct {
		Stage stageView `json:"stage"`
	}
	tn.mustDo("POST", "/v1/apis/"+id+"/deployments", map[string]any{"stage": "prod"}, &dep)
	if _, now := read(); dep.Stage.ChangedIndex != now.ChangedIndex || now.ChangedIndex <= v.ChangedIndex {
		t.Fatalf("deployment: its stage shows changed_index %d, GET %d (was %d)", dep.Stage.ChangedIndex, now.ChangedIndex, v.ChangedIndex)
	}
}

// TestPprofRoutes checks that the admin handler serves Go's runtime
// profiles. The routes need no store, so no node is started.
func TestPprofRoutes(t *testing.T) {
	t.Parallel()
	h := (&Admin{log: slog.New(slog.NewTextHandler(logWriter{t}, nil)), now: time.Now}).Handler()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d, %d bytes: %.200s", path, rec.Code, rec.Body.Len(), rec.Body.String())
		}
	}
}
