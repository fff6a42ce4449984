package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
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
	failed := make(chan error, 1)
	go func() {
		defer close(re.done)
		if err := gw.Run(ctx); err != nil {
			err = fmt.Errorf("%s endpoint: %w", gw.Kind(), err)
			select {
			case failed <- err:
			default:
			}
			select {
			case errc <- err:
			default:
			}
		}
	}()
	select {
	case <-gw.Ready():
		return re, nil
	case err := <-failed:
		return nil, err
	}
}

// endpointRegisterer labels an endpoint's metrics with its kind, so the
// regional, edge and origin endpoints of one node export separate series
// under API Gateway's metric names.
func endpointRegisterer(reg prometheus.Registerer, kind endpoints.Kind) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"endpoint": string(kind)}, reg)
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

// upstreams lists, for an edge, the regional nodes of a region that look
// healthy in gossip. The list is rebuilt when membership changes and at
// least every upstreamRefresh (round trips drift without membership
// changes); between rebuilds a call costs an atomic load and a copy.
type upstreams struct {
	g    atomic.Pointer[cluster.Gossip]
	view atomic.Pointer[upstreamView]
}

const upstreamRefresh = 2 * time.Second

type upstreamView struct {
	changed  <-chan struct{}
	built    time.Time
	byRegion map[string][]endpoints.Upstream
}

func (u *upstreams) Regional(region string) []endpoints.Upstream {
	g := u.g.Load()
	if g == nil {
		return nil
	}
	v := u.view.Load()
	if v == nil || closed(v.changed) || time.Since(v.built) > upstreamRefresh {
		v = buildUpstreams(g)
		u.view.Store(v)
	}
	return slices.Clone(v.byRegion[region])
}

func buildUpstreams(g *cluster.Gossip) *upstreamView {
	v := &upstreamView{changed: g.Changed(), built: time.Now(), byRegion: map[string][]endpoints.Upstream{}}
	for _, m := range g.Members() {
		addr := m.Meta.Addrs["internal"]
		if m.Status != cluster.MemberAlive || m.Meta.Health != cluster.HealthOK || addr == "" ||
			!slices.Contains(m.Meta.Roles, configs.RoleRegional) {
			continue
		}
		rtt, _ := g.RTT(m.Name)
		v.byRegion[m.Meta.Region] = append(v.byRegion[m.Meta.Region], endpoints.Upstream{Name: m.Name, Addr: addr, RTT: rtt})
	}
	return v
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// edgeHost reports whether host is an edge invoke host of zone, the
// requests an origin endpoint answers on the internal listener.
func edgeHost(host, zone string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(host, ".edge."+strings.ToLower(strings.Trim(zone, ".")))
}

// originTLS is the origin endpoint's HTTP/3 server config: the node's
// cluster certificate, and only clients with one.
func originTLS(server *tls.Config) *tls.Config {
	c := server.Clone()
	c.NextProtos = nil
	return c
}
