package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

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
	regionals := startControlNodes(t, tc, "w0", "w1", "w2")
	join := []string{regionals[0].node.Addrs().Gossip}
	edge := startNodeCfg(t, tc.config("e0", "us-east-1", []string{configs.RoleEdge}, 0, join, nil))
	nodes := append(slices.Clip(regionals), edge)
	leader := leaderOf(t, regionals...)
	waitGatewayPeers(t, nodes...)

	// A MOCK API on edges and regionally, deployed to prod.
	id := deployMockAPI(regionals[1], regionals[2])
	var res applyResult
	regionals[0].mustDo("PATCH", "/v1/apis/"+id, map[string]any{"endpoint_types": []string{"EDGE", "REGIONAL"}}, &res)
	for _, n := range regionals {
		n.waitServing(id, "/prod/hi", "ok")
	}
	edgeClient := httpsClient(t, tc.ca.CertFile, edge.node.Addrs().Edge)
	eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), loadReqTime)
		defer cancel()
		status, body, _, err := edgeInvoke(ctx, edgeClient, id, "/prod/hi", nil)
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

	setStageThrottle(t, regionals[0], id, rate, burst, nodes...)
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
				return edgeInvoke(ctx, edgeClient, id, "/prod/hi", nil)
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
