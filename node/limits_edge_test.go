package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// edgeInvoke sends GET path of an API to an edge over HTTPS; unlike
// edgeGet it returns transport errors, so load generators can use it off
// the test goroutine.
func edgeInvoke(ctx context.Context, c *http.Client, apiID, path string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+apiID+".edge.portico.test/"+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, resp.Header, err
}

// TestClusterWideThrottleHoldsAcrossEdgesAndRegionals is
// TestClusterWideThrottleHoldsAcrossNodes with an edge among the gateway
// nodes (issue #7): three control+regional nodes and an edge share one
// stage throttle, offered three times its rate evenly over the four
// listeners, and together admit the throttle's rate. The reasoning for
// the reference rate×T and the ±10% tolerance is that test's.
//
// The route is a MOCK integration, which an edge answers itself instead
// of forwarding to a regional node: the edge's own limiter is what counts
// (and refuses) the requests offered to it, taking its share of the
// cluster-wide rate through leases like any regional node. So the edge
// must admit a real share, and its 429s must look like the regional ones.
//
// Not parallel, for the same reason as TestClusterWideThrottleHoldsAcrossNodes.
func TestClusterWideThrottleHoldsAcrossEdgesAndRegionals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-node cluster and offers load for about 12s")
	}
	const (
		rate  = 50       // the stage throttle, requests per second
		burst = 50       // and its burst
		offer = 3 * rate // offered in total, evenly over the listeners
	)
	tc := newTestCluster(t)
	control := []string{configs.RoleControl, configs.RoleRegional}
	c0 := startNodeCfg(t, tc.config("w0", "us-east-1", control, 3, nil, nil))
	join := []string{c0.node.Addrs().Gossip}
	c1 := startNodeCfg(t, tc.config("w1", "us-east-1", control, 3, join, nil))
	c2 := startNodeCfg(t, tc.config("w2", "us-east-1", control, 3, join, nil))
	edge := startNodeCfg(t, tc.config("e0", "us-east-1", []string{configs.RoleEdge}, 0, join, nil))
	regionals := []*testNode{c0, c1, c2}
	nodes := []*testNode{c0, c1, c2, edge}
	leader := leaderOf(t, regionals...)
	eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			if p := n.node.gatewayPeers(); p != len(nodes) {
				return fmt.Errorf("%s counts %d gateway nodes, want %d", n.node.Name(), p, len(nodes))
			}
		}
		return nil
	})

	// A MOCK API on edges and regionally, deployed to prod.
	var res applyResult
	c1.mustDo("POST", "/v1/apply", []byte(fmt.Sprintf(mockAPI, "ok")), &res)
	id := res.API.ID
	c2.mustDo("POST", "/v1/apis/"+id+"/deployments", deployRequest{Stage: "prod"}, nil)
	c0.mustDo("PATCH", "/v1/apis/"+id, map[string]any{"endpoint_types": []string{"EDGE", "REGIONAL"}}, &res)
	for _, n := range regionals {
		n.waitServing(id, "/prod/hi", "ok")
	}
	edgeClient := httpsClient(t, tc.ca.CertFile, edge.node.Addrs().Edge)
	eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), loadReqTime)
		defer cancel()
		status, body, _, err := edgeInvoke(ctx, edgeClient, id, "/prod/hi")
		if err != nil || status != http.StatusOK || string(body) != "ok" {
			return fmt.Errorf("%s: GET /prod/hi = %d %q (%v), want 200 \"ok\"", edge.node.Name(), status, body, err)
		}
		return nil
	})
	// The MOCK does not need an upstream, but an edge that knows none is
	// not yet a full member of the region.
	eventually(t, 20*time.Second, func() error {
		if len(edge.node.ups.Regional("us-east-1")) == 0 {
			return errors.New("the edge knows no healthy regional node in us-east-1 yet")
		}
		return nil
	})

	var st stageView
	c0.mustDo("PATCH", "/v1/apis/"+id+"/stages/prod/settings", map[string]any{
		"throttle": map[string]any{"rate_limit": rate, "burst_limit": burst},
	}, &st)
	if st.Throttle == nil || st.Throttle.RateLimit != rate || st.Throttle.BurstLimit != burst {
		t.Fatalf("stage throttle after PATCH = %+v, want %d rps burst %d", st.Throttle, rate, burst)
	}
	waitGateways(t, committedIndex(regionals...), nodes...)
	eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			s := n.node.Served().State().Stage(id, "prod")
			if s == nil || s.Throttle == nil || s.Throttle.RateLimit != rate || s.Throttle.BurstLimit != burst {
				return fmt.Errorf("%s does not serve the stage's throttle yet", n.node.Name())
			}
		}
		return nil
	})

	// One caller per node: the regional listener of each regional node,
	// the edge listener of the edge.
	labels := make([]string, len(nodes))
	calls := make([]loadCall, len(nodes))
	for i, n := range nodes {
		labels[i] = n.node.Name()
		switch n {
		case leader:
			labels[i] += " (leader)"
		case edge:
			labels[i] += " (edge)"
			calls[i] = func(ctx context.Context) (int, []byte, http.Header, error) {
				return edgeInvoke(ctx, edgeClient, id, "/prod/hi")
			}
			continue
		}
		calls[i] = func(ctx context.Context) (int, []byte, http.Header, error) {
			return invoke(ctx, n, id, "/prod/hi", nil)
		}
	}
	perNodeAdmitted, admitted := offerThrottledLoad(t, labels, calls, rate, offer)
	// The edge takes part: it admits from leases of the same bucket.
	// How a contended bucket is split between nodes swings from run to
	// run (5 to 200 of 500 for one node was seen); the total is what the
	// limit promises, so only a real share is asked of the edge here.
	if a := perNodeAdmitted[len(nodes)-1]; a < admitted/50 {
		t.Errorf("%s (edge) admitted %d of %d, want at least 2%%: an edge offered as much as the regional nodes should get a share of the rate", edge.node.Name(), a, admitted)
	}
}
