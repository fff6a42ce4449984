package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// edgeInvoke sends GET path of an API to an edge over HTTPS with the
// given headers; unlike edgeGet it returns transport errors, so load
// generators can use it off the test goroutine. It is invoke for an edge.
func edgeInvoke(ctx context.Context, c *http.Client, apiID, path string, header http.Header) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+apiID+".edge.portico.test/"+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, resp.Header, err
}

// edgeGet is edgeInvoke on the test goroutine, with an x-api-key unless
// key is empty.
func edgeGet(t *testing.T, c *http.Client, apiID, path, key string) (int, []byte, http.Header) {
	t.Helper()
	var header http.Header
	if key != "" {
		header = http.Header{"X-Api-Key": {key}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, h, err := edgeInvoke(ctx, c, apiID, path, header)
	if err != nil {
		t.Fatalf("GET %s through the edge: %v", path, err)
	}
	return status, body, h
}

// quotaSpender counts the requests a key gets admitted across nodes.
type quotaSpender struct {
	t        *testing.T
	admitted int
}

// next calls until the answer is an admission or a refusal of the quota
// and reports whether it was admitted; check looks at every admitted
// answer. "Too Many Requests" (no lease at hand yet; the node waits at
// most a moment for one) is retried, bounded in count and time. It
// returns the last answer's headers.
func (q *quotaSpender) next(where string, call func() (int, []byte, http.Header), check func(http.Header, []byte) error) (bool, http.Header) {
	q.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for calls := 0; calls < 500 && time.Now().Before(deadline); calls++ {
		status, body, h := call()
		switch msg := message(body); {
		case status == http.StatusOK:
			q.admitted++
			if err := check(h, body); err != nil {
				q.t.Fatalf("%s: admitted request %d: %v", where, q.admitted, err)
			}
			return true, h
		case status == http.StatusTooManyRequests && msg == "Too Many Requests":
			if err := check429(body, h, msg, 10); err != nil {
				q.t.Fatalf("%s: %v", where, err)
			}
		case status == http.StatusTooManyRequests && msg == "Limit Exceeded":
			if err := check429(body, h, msg, secondsToUTCMidnight()); err != nil {
				q.t.Fatalf("%s: %v", where, err)
			}
			return false, h
		default:
			q.t.Fatalf("%s: GET with the key = %d %s, want 200 or 429", where, status, body)
		}
	}
	q.t.Fatalf("%s: neither admitted nor refused with \"Limit Exceeded\" within 500 calls or 30s", where)
	return false, nil
}

// admit is next for a request that must be admitted.
func (q *quotaSpender) admit(where string, call func() (int, []byte, http.Header), check func(http.Header, []byte) error) {
	q.t.Helper()
	if ok, _ := q.next(where, call, check); !ok {
		q.t.Fatalf("%s: \"Limit Exceeded\" after %d admitted requests, want an admission (quota not used up yet)", where, q.admitted)
	}
}

// untilExhausted calls until the quota answers "Limit Exceeded" and
// returns that answer's headers.
func (q *quotaSpender) untilExhausted(where string, call func() (int, []byte, http.Header), check func(http.Header, []byte) error) http.Header {
	q.t.Helper()
	for range 20 {
		if ok, h := q.next(where, call, check); !ok {
			return h
		}
	}
	q.t.Fatalf("%s: no \"Limit Exceeded\" after %d admitted requests in all", where, q.admitted)
	return nil
}

// TestEdgeEnforcesAccessBeforeItsCache runs a control+regional node and
// an edge in another region, with an API that requires an API key and is
// cached at the edge. The edge checks the key before its cache (a cached
// answer never reaches a caller without a valid key, and such a caller
// never reaches the backend), and every admitted request, cache hits
// included, counts against the usage plan's quota, which holds across
// the edge and the regional endpoint together.
func TestEdgeEnforcesAccessBeforeItsCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-node cluster")
	}
	t.Parallel()
	c := newTestCluster(t)
	ctl := startNodeCfg(t, c.config("ctl-1", "us-east-1", []string{configs.RoleControl, configs.RoleRegional}, 1, nil, nil))
	edge := startNodeCfg(t, c.config("edge-eu", "eu-west-1", []string{configs.RoleEdge}, 0, []string{ctl.node.Addrs().Gossip}, nil))
	backend := newCountingBackend(t)
	host := strings.TrimPrefix(backend.URL, "http://")

	// An EDGE+REGIONAL API whose only route requires a key, cached.
	def := fmt.Sprintf(`{"name": "shop", "resources": [{"path": "/items/{id}", "methods": {"GET": {"api_key_required": true, "integration": {"type": "HTTP_PROXY", "uri": "http://%s/items/{id}"}}}}]}`, host)
	var created applyResult
	ctl.mustDo("POST", "/v1/apis", json.RawMessage(def), &created)
	id := created.API.ID
	for _, args := range [][]string{
		{"deploy", "--api", id, "--stage", "prod"},
		{"apis", "update", "--api", id, "--endpoint-types", "EDGE,REGIONAL"},
		{"stages", "update", "--api", id, "--stage", "prod", "--cache-enabled", "--cache-ttl", "300"},
	} {
		if code, out, errOut := ctl.run(args...); code != 0 {
			t.Fatalf("portico %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	// A plan with a quota of 5 a day covering the stage, and its key; a
	// disabled key on it, and a key of a plan that covers nothing.
	const quota = 5
	var plan, otherPlan planView
	ctl.mustDo("POST", "/v1/plans", planRequest{
		Name: "daily", Quota: &configs.Quota{Limit: quota, Period: configs.QuotaDay},
		Stages: []configs.PlanStage{{APIID: id, Stage: "prod"}},
	}, &plan)
	ctl.mustDo("POST", "/v1/plans", planRequest{Name: "elsewhere"}, &otherPlan)
	off := false
	var key, disabled, uncovered keyCreated
	ctl.mustDo("POST", "/v1/keys", keyRequest{Name: "alice", PlanID: plan.ID}, &key)
	ctl.mustDo("POST", "/v1/keys", keyRequest{Name: "mallory", PlanID: plan.ID, Enabled: &off}, &disabled)
	ctl.mustDo("POST", "/v1/keys", keyRequest{Name: "bob", PlanID: otherPlan.ID}, &uncovered)

	eventually(t, 20*time.Second, func() error {
		st := edge.node.Served().State()
		switch s := st.Stage(id, "prod"); {
		case s == nil || s.Cache == nil || !s.Cache.Enabled:
			return fmt.Errorf("the edge does not have the stage's cache settings yet (index %d)", st.Index)
		case st.Plans[plan.ID] == nil || !st.Plans[plan.ID].Covers(id, "prod") || st.Plans[otherPlan.ID] == nil:
			return fmt.Errorf("the edge does not have the usage plans yet (index %d)", st.Index)
		case st.Keys[key.ID] == nil || st.Keys[disabled.ID] == nil || st.Keys[uncovered.ID] == nil:
			return fmt.Errorf("the edge does not have the API keys yet (index %d)", st.Index)
		}
		return nil
	})
	// The edge forwards to a regional node of the home region it knows
	// from gossip; wait until it knows one, so that the first call (which
	// spends quota) is not refused for want of an upstream.
	eventually(t, 20*time.Second, func() error {
		if len(edge.node.ups.Regional("us-east-1")) == 0 {
			return errors.New("the edge knows no healthy regional node in us-east-1 yet")
		}
		return nil
	})
	// Every endpoint routes with all of it, so no request below is
	// answered by an older table.
	waitGateways(t, committedIndex(ctl), ctl, edge)
	client := httpsClient(t, c.ca.CertFile, edge.node.Addrs().Edge)
	const item = "/prod/items/1"
	spent := &quotaSpender{t: t}

	// With the key: a miss, then a hit at the edge; the backend is called
	// once. Both count against the quota.
	withKey := func() (int, []byte, http.Header) { return edgeGet(t, client, id, item, key.Value) }
	for i, want := range []string{"Miss from edge", "Hit from edge"} {
		spent.admit(fmt.Sprintf("edge, call %d with the key", i+1), withKey, func(h http.Header, body []byte) error {
			if xc := h.Get("X-Cache"); !strings.HasPrefix(xc, want) || !strings.Contains(string(body), `"path":"/items/1"`) {
				return fmt.Errorf("X-Cache %q, body %s, want %q and the backend's answer for /items/1", xc, body, want)
			}
			return nil
		})
	}
	if n := backend.count("/items/1"); n != 1 {
		t.Fatalf("backend calls for /items/1 = %d, want 1", n)
	}

	// The edge now holds /items/1. Callers without a valid key are refused
	// before the cache is consulted and never reach the backend.
	refused := []struct{ name, key string }{
		{"no x-api-key", ""},
		{"an unknown key", "not-a-key-of-this-cluster-0123456789"},
		{"a disabled key", disabled.Value},
		{"a key whose plan does not cover the stage", uncovered.Value},
	}
	checkRefused := func(when string) {
		t.Helper()
		for _, r := range refused {
			status, body, h := edgeGet(t, client, id, item, r.key)
			if status != http.StatusForbidden || message(body) != "Forbidden" {
				t.Errorf("%s, %s: %d %s, want 403 {\"message\":\"Forbidden\"}", when, r.name, status, body)
			}
			if xc := h.Get("X-Cache"); xc != "" {
				t.Errorf("%s, %s: X-Cache %q: the cache was consulted for a caller without a valid key", when, r.name, xc)
			}
		}
		if n := backend.count("/items/1"); n != 1 {
			t.Errorf("%s: backend calls for /items/1 = %d, want still 1", when, n)
		}
	}
	checkRefused("with the answer cached")

	// The regional endpoint applies the same rules, and what it admits
	// counts against the same quota.
	if status, body, _ := callWithKey(t, ctl, id, "/prod/items/2", ""); status != http.StatusForbidden || message(body) != "Forbidden" {
		t.Errorf("regional endpoint without a key: %d %s, want 403 Forbidden", status, body)
	}
	regional := func() (int, []byte, http.Header) { return callWithKey(t, ctl, id, "/prod/items/2", key.Value) }
	spent.admit("regional endpoint with the key", regional, func(http.Header, []byte) error { return nil })

	// Spend the rest at the edge: every admitted answer is a cache hit,
	// and hits run out with the quota although the answer stays cached.
	h := spent.untilExhausted("edge", withKey,
		func(h http.Header, _ []byte) error {
			if xc := h.Get("X-Cache"); xc != "Hit from edge" {
				return fmt.Errorf("X-Cache %q, want a hit from edge", xc)
			}
			return nil
		})
	if xc := h.Get("X-Cache"); xc != "" {
		t.Errorf("the edge's Limit Exceeded answer has X-Cache %q: the cache was consulted for a refused request", xc)
	}
	if n := backend.count("/items/1"); n != 1 {
		t.Errorf("backend calls for /items/1 after the quota ran out = %d, want 1 (every admitted call was a hit)", n)
	}
	// The regional endpoint is out of quota too: at most its one request
	// on credit (see endpoints/limit "Quotas") before it learns so.
	spent.untilExhausted("regional", regional, func(http.Header, []byte) error { return nil })

	t.Logf("the key was admitted %d times in all (quota %d)", spent.admitted, quota)
	// Credit can pass the limit by at most one request per gateway node
	// (two here), never fall short of it.
	if spent.admitted < quota || spent.admitted > quota+2 {
		t.Errorf("the key was admitted %d times across the edge and the regional endpoint, want %d..%d (quota %d, two gateway nodes)", spent.admitted, quota, quota+2, quota)
	}
	// A caller without a valid key is still refused as one (403, not
	// 429): the key is checked before the quota.
	checkRefused("with the quota used up")
}
