package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
		rate    = 50               // the stage throttle, requests per second
		burst   = 50               // and its burst
		offer   = 3 * rate         // offered in total, evenly over the listeners
		workers = 4                // concurrent callers per listener
		warmup  = 2 * time.Second  // at least; not counted
		window  = 10 * time.Second // the measurement
		within  = 0.10             // tolerance around rate×window
		maxTime = 60 * time.Second // bounds the whole load phase
		reqTime = 10 * time.Second // bounds one request
	)
	want := rate * window.Seconds() // admitted in the window
	minLoad := int(2 * want)        // offered in the window: 2× the limit at least
	lo, hi := int(math.Floor(want*(1-within))), int(math.Ceil(want*(1+within)))
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
		ctx, cancel := context.WithTimeout(context.Background(), reqTime)
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
	calls := make([]func(context.Context) (int, []byte, http.Header, error), len(nodes))
	for i, n := range nodes {
		if n == edge {
			calls[i] = func(ctx context.Context) (int, []byte, http.Header, error) {
				return edgeInvoke(ctx, edgeClient, id, "/prod/hi")
			}
			continue
		}
		calls[i] = func(ctx context.Context) (int, []byte, http.Header, error) {
			return invoke(ctx, n, id, "/prod/hi", nil)
		}
	}

	// Load: per listener, a pacer ticks offer/len(nodes) times a second and
	// hands each tick to an idle worker (a tick no worker is free for is
	// dropped and shows as missing offered load).
	tick := time.Duration(len(nodes)) * time.Second / offer
	maxTick := int(maxTime / tick)
	ctx, cancel := context.WithTimeout(context.Background(), maxTime)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var windowEnd atomic.Int64 // Unix ns; 0 until the warm-up is over
	throttledOnce := make([]atomic.Bool, len(nodes))
	results := make([][][]loadResult, len(nodes))
	for i := range nodes {
		ticks := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ticks)
			tk := time.NewTicker(tick)
			defer tk.Stop()
			for range maxTick {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				if end := windowEnd.Load(); end != 0 && time.Now().UnixNano() >= end {
					return
				}
				select {
				case ticks <- struct{}{}:
				default:
				}
			}
		}()
		results[i] = make([][]loadResult, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range ticks {
					r := loadResult{sent: time.Now()}
					rctx, rcancel := context.WithTimeout(ctx, reqTime)
					status, body, h, err := calls[i](rctx)
					rcancel()
					switch {
					case err != nil:
						r.err = err.Error()
					case status == http.StatusTooManyRequests:
						throttledOnce[i].Store(true)
						if err := check429(body, h, "Too Many Requests", 10); err != nil {
							r.err = err.Error()
						}
					case status != http.StatusOK || string(body) != "ok":
						r.err = fmt.Sprintf("answer %d %q, want 200 ok or 429", status, body)
					}
					r.status = status
					results[i][w] = append(results[i][w], r)
				}
			}()
		}
	}

	// Warm-up: at least warmup, and until every node has throttled (its
	// table has the stage throttle and the bucket is drained).
	warm := time.NewTimer(warmup)
	select {
	case <-warm.C:
	case <-ctx.Done():
		t.Fatal("load phase ended during the warm-up")
	}
	eventually(t, 20*time.Second, func() error {
		for i, n := range nodes {
			if !throttledOnce[i].Load() {
				return fmt.Errorf("%s has not answered 429 yet under %.1f rps", n.node.Name(), float64(offer)/float64(len(nodes)))
			}
		}
		return nil
	})
	start := time.Now()
	end := start.Add(window)
	windowEnd.Store(end.UnixNano())
	wg.Wait() // the pacers stop at end; the workers finish their last request
	if ctx.Err() != nil {
		t.Fatalf("load phase hit its %s bound", maxTime)
	}

	var offered, admitted, throttled int
	var problems []string
	perNodeLine := make([]string, len(nodes))
	perNodeAdmitted := make([]int, len(nodes))
	for i, n := range nodes {
		var o, a, th int
		for _, rs := range results[i] {
			for _, r := range rs {
				if r.sent.Before(start) || !r.sent.Before(end) {
					continue
				}
				o++
				switch {
				case r.err != "":
					if len(problems) < 5 {
						problems = append(problems, n.node.Name()+": "+r.err)
					}
				case r.status == http.StatusOK:
					a++
				default:
					th++
				}
			}
		}
		offered, admitted, throttled = offered+o, admitted+a, throttled+th
		perNodeAdmitted[i] = a
		role := ""
		switch n {
		case leader:
			role = " (leader)"
		case edge:
			role = " (edge)"
		}
		perNodeLine[i] = fmt.Sprintf("%s%s offered %d admitted %d throttled %d", n.node.Name(), role, o, a, th)
	}
	t.Logf("window %s: offered %d (%.0f rps), admitted %d (%.1f rps, want %d..%d), throttled %d; %s",
		window, offered, float64(offered)/window.Seconds(), admitted, float64(admitted)/window.Seconds(), lo, hi, throttled, strings.Join(perNodeLine, "; "))
	if len(problems) > 0 {
		t.Fatalf("bad answers under load (first %d):\n%s", len(problems), strings.Join(problems, "\n"))
	}
	if offered < minLoad {
		t.Fatalf("this machine offered only %d requests in %s (%.0f rps), less than 2× the %d rps limit: the measurement needs more load than it could generate",
			offered, window, float64(offered)/window.Seconds(), rate)
	}
	if admitted < lo || admitted > hi {
		t.Fatalf("edge and regional nodes admitted %d requests in %s, want %d..%d (rate %d rps × %s ± %.0f%%)", admitted, window, lo, hi, rate, window, within*100)
	}
	// The edge takes part: it admits from leases of the same bucket.
	// How a contended bucket is split between nodes swings from run to
	// run (5 to 200 of 500 for one node was seen); the total is what the
	// limit promises, so only a real share is asked of the edge here.
	if a := perNodeAdmitted[len(nodes)-1]; a < admitted/50 {
		t.Errorf("%s (edge) admitted %d of %d, want at least 2%%: an edge offered as much as the regional nodes should get a share of the rate", edge.node.Name(), a, admitted)
	}
}
