package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/node"
	"github.com/portico-gw/portico/simulations/harness"
)

// The cluster: one region with one control+regional node and one edge
// node, as `portico dev --regions 1 --edges 1` lays it out.
const (
	region = "us-east-1"
	zone   = "portico.localhost"
	stage  = "prod"
	// raftTimeout is the tighter loopback Raft timing `portico dev` uses.
	raftTimeout = 500 * time.Millisecond
)

var layout = harness.Layout{Regions: []string{region}, Edges: true, Zone: zone, RaftTimeout: raftTimeout}

// benchCluster is the running cluster with the bench API deployed.
type benchCluster struct {
	prefix    string
	nodes     []string      // names, control node first
	admin     *node.Client  // the control node's admin API
	regional  string        // the control node's regional listener (HTTPS)
	edge      string        // the edge node's edge listener (HTTPS, HTTP/3)
	edgeProc  *harness.Proc // the edge node's `portico run`
	edgeAdmin string        // the edge node's admin API (its /metrics)
	caFile    string        // the layout's CA, which signed both listeners' certificates
	apiID     string
}

// edgeHost and regionalHost are the API's invoke hosts.
func (c *benchCluster) edgeHost() string     { return c.apiID + ".edge." + zone }
func (c *benchCluster) regionalHost() string { return c.apiID + "." + region + "." + zone }

// startCluster lays the cluster out under dir on prefix, starts every
// node (`portico run`, output to dir/logs/<name>.log) and waits until each
// admin API answers and the control node leads.
func startCluster(ctx context.Context, procs *harness.Group, bin, dir, prefix string, place placement) (*benchCluster, error) {
	cfgs, files, err := layout.Write(dir, prefix)
	if err != nil {
		return nil, err
	}
	// The edge serves the measured hits; the regional node only the
	// misses that fill its cache.
	procs.Place(place.server, cfgs[1].Name)
	procs.Place(place.rest, cfgs[0].Name)
	c := &benchCluster{prefix: prefix, admin: node.NewClient(cfgs[0].Admin.Listen), caFile: cfgs[0].TLS.CAFile,
		regional: cfgs[0].Regional.Listen, edge: cfgs[1].Edge.Listen, edgeAdmin: cfgs[1].Admin.Listen}
	for _, cfg := range cfgs {
		c.nodes = append(c.nodes, cfg.Name)
	}
	running, err := harness.StartNodes(ctx, procs, bin, dir, cfgs, files, func(rctx context.Context) error {
		var st cluster.Status
		if err := c.admin.Do(rctx, "GET", "/v1/status", nil, &st); err != nil {
			return err
		}
		if st.State != "Leader" {
			return fmt.Errorf("%s is %q, not the leader yet", cfgs[0].Name, st.State)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.edgeProc = running[1]
	return c, nil
}

// deployAPI creates the bench API (published to edges and regionally,
// home region us-east-1; GET cachedPath and GET freshPath proxied to
// backend), deploys it to stage and turns the stage cache on with a
// one-hour TTL, off for GET freshPath.
func (c *benchCluster) deployAPI(ctx context.Context, backend string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	route := func(path string) map[string]any {
		return map[string]any{"path": path, "methods": map[string]any{"GET": map[string]any{
			"integration": map[string]any{"type": "HTTP_PROXY", "uri": "http://" + backend + path}}}}
	}
	def := map[string]any{
		"name":           "edgebench",
		"description":    "edge cache benchmark (simulations/cmd/edgebench)",
		"endpoint_types": []string{"EDGE", "REGIONAL"},
		"home_region":    region,
		"resources":      []any{route(cachedPath), route(freshPath)},
	}
	var created struct {
		API struct {
			ID string `json:"id"`
		} `json:"api"`
	}
	if err := c.admin.Do(ctx, "POST", "/v1/apis", def, &created); err != nil {
		return fmt.Errorf("create the bench API: %w", err)
	}
	if created.API.ID == "" {
		return errors.New("POST /v1/apis: the answer has no api.id")
	}
	c.apiID = created.API.ID
	apiPath := "/v1/apis/" + c.apiID
	if err := c.admin.Do(ctx, "POST", apiPath+"/deployments", map[string]string{"stage": stage, "description": "edgebench"}, nil); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	cache := map[string]any{"enabled": true, "ttl": "3600s",
		"overrides": map[string]any{"GET " + freshPath: map[string]bool{"enabled": false}}}
	if err := c.admin.Do(ctx, "PATCH", apiPath+"/stages/"+stage+"/cache", cache, nil); err != nil {
		return fmt.Errorf("stage cache settings: %w", err)
	}
	return nil
}
