package main

import (
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// regions of the cluster, in `portico dev` order: one control+regional
// node and one edge node each.
var regions = []string{"us-east-1", "eu-west-1", "ap-southeast-1"}

// raftTimeout is the heartbeat and election timeout of every control node,
// the tighter loopback timing `portico dev` uses.
const raftTimeout = 500 * time.Millisecond

// zone is the DNS zone of invoke hosts.
const zone = "portico.localhost"

// benchLayout is the cluster `portico dev --regions 3 --edges 1` lays
// out, with its tighter loopback Raft timing.
var benchLayout = harness.Layout{Regions: regions, Edges: true, Zone: zone, RaftTimeout: raftTimeout}
