package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints"
)

// runningEndpoint is an endpoint the node started.
type runningEndpoint struct {
	gw   *endpoints.Gateway
	stop context.CancelFunc
	done chan struct{}
}

// startEndpoint runs gw until the node stops it (graceful leave) and
// waits until it listens. A failure to listen is returned; a later
// failure goes to errc.
func (n *Node) startEndpoint(gw *endpoints.Gateway, errc chan<- error) (*runningEndpoint, error) {
	ctx, stop := context.WithCancel(context.Background())
	re := &runningEndpoint{gw: gw, stop: stop, done: make(chan struct{})}
	spawn := func(f func()) { go func() { defer close(re.done); f() }() }
	if err := startRunner(ctx, gw, string(gw.Kind())+" endpoint", spawn, errc); err != nil {
		stop()
		return nil, err
	}
	return re, nil
}

// runner is a server the node starts and waits for (etcd embed's shape):
// Run blocks until ctx is done; Ready is closed once it serves.
type runner interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
}

// startRunner runs r.Run(ctx) on a goroutine that spawn starts (and owns)
// and waits until r is ready. A failure before that is returned as it is;
// a later one goes to errc, prefixed with what, without blocking (the
// node stops on the first error anyway).
func startRunner(ctx context.Context, r runner, what string, spawn func(func()), errc chan<- error) error {
	failed := make(chan error, 1)
	spawn(func() {
		if err := r.Run(ctx); err != nil {
			failed <- err
			select {
			case errc <- fmt.Errorf("%s: %w", what, err):
			default:
			}
		}
	})
	select {
	case <-r.Ready():
		return nil
	case err := <-failed:
		return err
	}
}

// endpointRegisterer labels an endpoint's metrics with its kind (and, for
// private endpoints, network: "private-corp"), so the regional, edge,
// origin and private endpoints of one node export separate series
// under API Gateway's metric names.
func endpointRegisterer(reg prometheus.Registerer, endpoint string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"endpoint": endpoint}, reg)
}

// flushEvent is the gossip user event that carries a committed cache
// flush to every node at once (soft state: a node that misses it applies
// the flush from the committed state when it catches up).
const flushEvent = "cache-flush"

type flushPayload struct {
	API    string `json:"a"`
	Stage  string `json:"s"`
	Prefix string `json:"p,omitempty"`
	Seq    uint64 `json:"q"`
}

// onGossipEvent handles user events; it runs on the gossip loop and does
// not block.
func (n *Node) onGossipEvent(name string, payload []byte) {
	if name == rttEvent {
		n.receiveRTT(payload)
		return
	}
	if name != flushEvent {
		return
	}
	var f flushPayload
	if err := json.Unmarshal(payload, &f); err != nil || f.API == "" || f.Stage == "" {
		n.log.Warn("malformed cache flush event ignored", "err", err)
		return
	}
	for _, gw := range n.gateways() {
		gw.FlushCache(f.API, f.Stage, f.Prefix, f.Seq)
	}
	n.log.Debug("cache flush applied from gossip", "api", f.API, "stage", f.Stage, "prefix", f.Prefix, "seq", f.Seq)
}

// broadcastFlush gossips a committed flush.
func (n *Node) broadcastFlush(api, stage, prefix string, seq uint64) {
	g := n.Gossip()
	if g == nil {
		return
	}
	b, _ := json.Marshal(flushPayload{API: api, Stage: stage, Prefix: prefix, Seq: seq})
	if err := g.Broadcast(flushEvent, b); err != nil {
		n.log.Warn("cache flush not gossiped; nodes apply it from the committed state", "api", api, "stage", stage, "err", err)
	}
}

func (n *Node) gateways() []*endpoints.Gateway {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*endpoints.Gateway, 0, len(n.endpoints))
	for _, re := range n.endpoints {
		out = append(out, re.gw)
	}
	return out
}

// upstreams lists, for an edge, the regional nodes of each region that
// look healthy in gossip. follow rebuilds the list when membership
// changes and at least every upstreamRefresh (round trips drift without
// membership changes); Regional, called for every forwarded request, only
// loads it.
type upstreams struct {
	byRegion atomic.Pointer[map[string][]endpoints.Upstream]
}

const upstreamRefresh = 2 * time.Second

// Regional implements endpoints.Upstreams. The slice is shared.
func (u *upstreams) Regional(region string) []endpoints.Upstream {
	if m := u.byRegion.Load(); m != nil {
		return (*m)[region]
	}
	return nil
}

// follow keeps the list current until ctx is done. It takes the Changed
// channel before reading the members, so no change is missed.
func (u *upstreams) follow(ctx context.Context, g *cluster.Gossip) {
	tick := time.NewTicker(upstreamRefresh)
	defer tick.Stop()
	for {
		changed := g.Changed()
		u.update(g)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// update rebuilds the list from g's members and their round trips.
func (u *upstreams) update(g *cluster.Gossip) {
	byRegion := map[string][]endpoints.Upstream{}
	for _, m := range g.Members() {
		addr := m.Meta.Addrs["internal"]
		if m.Status != cluster.MemberAlive || m.Meta.Health != cluster.HealthOK || addr == "" ||
			!slices.Contains(m.Meta.Roles, configs.RoleRegional) {
			continue
		}
		rtt, _ := g.RTT(m.Name)
		byRegion[m.Meta.Region] = append(byRegion[m.Meta.Region], endpoints.Upstream{Name: m.Name, Addr: addr, RTT: rtt})
	}
	u.byRegion.Store(&byRegion)
}

// edgeHost reports whether host is an edge invoke host, "{apiId}" and
// suffix (".edge.{zone}", lowercase): the requests an origin endpoint
// answers on the internal listener. The port is ignored, case does not
// matter and a trailing dot is allowed. Every request on the internal
// listener asks, so it allocates nothing.
func edgeHost(host, suffix string) bool {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	return len(host) >= len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix)
}
