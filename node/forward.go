package node

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// headerHops counts how many nodes forwarded an admin write. A follower
// forwards to a control node, which forwards to the leader: at most two.
const (
	headerHops = "X-Portico-Forward-Hops"
	maxHops    = 2
	// headerRegion carries the region of the node that accepted a write,
	// which is the default home region of an API it creates.
	headerRegion = "X-Portico-Origin-Region"
)

// internalClient talks to other nodes' internal listeners over mutual
// TLS. Nodes dial addresses learned from gossip, so the peer is verified
// as "a node of this cluster" (its chain), not by name.
func internalClient(mt *pki.MTLS) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     mt.Client(""),
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// localOnly admin paths are answered by the node that receives them even
// when they write: they act on this node or fan out by themselves.
func localOnly(path string) bool {
	return path == "/v1/status" || path == "/v1/cluster/join" || strings.HasPrefix(path, "/v1/cluster/keys")
}

// forwarder sends admin writes to the Raft leader (from a control node)
// or to a control node (from any other node), so a write is accepted at
// any node. Reads are served locally and carry the index they reflect.
type forwarder struct {
	n *Node
	// internal is true on the mutual-TLS listener, whose callers are
	// nodes; on the admin listener the forwarding headers are the
	// gateway's own and a client's are dropped.
	internal bool
	local    http.Handler
	gossip   *cluster.Gossip
	store    *cluster.Store // nil on nodes that are not voters
	served   configs.Source
	proxy    *httputil.ReverseProxy
}

type targetKey struct{}

func newForwarder(n *Node, internal bool, local http.Handler, g *cluster.Gossip, store *cluster.Store, served configs.Source, client *http.Client) *forwarder {
	f := &forwarder{n: n, internal: internal, local: local, gossip: g, store: store, served: served}
	f.proxy = &httputil.ReverseProxy{
		Transport: client.Transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			pr.Out.Host = pr.In.Host
			hops, _ := strconv.Atoi(pr.In.Header.Get(headerHops))
			pr.Out.Header.Set(headerHops, strconv.Itoa(hops+1))
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.log.Warn("forwarding an admin write failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "forwarding the write to the leader failed: " + err.Error()})
		},
	}
	return f
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.internal || r.Header.Get(headerRegion) == "" {
		r.Header.Del(headerHops)
		r.Header.Set(headerRegion, f.n.cfg.Region)
	}
	// Writes go to the leader; so do reads asking for ?consistent, which
	// then see every acknowledged write (the leader is caught up before it
	// serves).
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	write = write || r.URL.Query().Has("consistent")
	var target *url.URL
	if write && strings.HasPrefix(r.URL.Path, "/v1/") && !localOnly(r.URL.Path) && (f.store == nil || !f.store.IsLeader()) {
		if hops, _ := strconv.Atoi(r.Header.Get(headerHops)); hops < maxHops {
			target = f.target()
		}
	}
	if target == nil {
		// Served here (a read, or a write this node may take; without a
		// leader the handler answers 503). The index says what it reflects;
		// a forwarded answer carries the leader's instead.
		idx := f.served.State().Index
		if f.store != nil {
			idx = f.store.State().Index
		}
		w.Header().Set(cluster.HeaderIndex, strconv.FormatUint(idx, 10))
		f.local.ServeHTTP(w, r)
		return
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}

// target is where a write goes: the leader's internal listener from a
// control node, else the nearest control node.
func (f *forwarder) target() *url.URL {
	members := f.gossip.Members()
	if f.store != nil {
		_, leaderID := f.store.Leader()
		for _, m := range members {
			if m.Name == leaderID && m.Meta.Addrs["internal"] != "" && m.Name != f.n.cfg.Name {
				return &url.URL{Scheme: "https", Host: m.Meta.Addrs["internal"]}
			}
		}
		return nil
	}
	peers := f.n.controlPeers(f.gossip)()
	if len(peers) == 0 {
		return nil
	}
	u, err := url.Parse(peers[0])
	if err != nil {
		return nil
	}
	return u
}

// followerStore is the admin API's view on a node that is not a voter:
// it reads the served state and never writes (writes are forwarded before
// they reach it).
type followerStore struct {
	name   string
	served *cluster.Served
}

func (s followerStore) State() *configs.State { return s.served.State() }

func (s followerStore) Status() cluster.Status {
	return cluster.Status{Node: s.name, State: "not a voter", StateIndex: s.served.State().Index}
}

var errNoWrite = &cluster.ErrNotLeader{}

func (followerStore) PutAPI(context.Context, *configs.API) error { return errNoWrite }
func (followerStore) DeleteAPI(context.Context, string) error    { return errNoWrite }
func (followerStore) Deploy(context.Context, *configs.Deployment, *configs.Stage) error {
	return errNoWrite
}
func (followerStore) PutStage(context.Context, *configs.Stage) error         { return errNoWrite }
func (followerStore) DeleteStage(context.Context, string, string) error      { return errNoWrite }
func (followerStore) DeleteDeployment(context.Context, string, string) error { return errNoWrite }
func (followerStore) FlushCache(context.Context, string, string, string, time.Time) (uint64, error) {
	return 0, errNoWrite
}
func (followerStore) PutDomain(context.Context, *configs.Domain) error         { return errNoWrite }
func (followerStore) DeleteDomain(context.Context, string) error               { return errNoWrite }
func (followerStore) PutPlan(context.Context, *configs.UsagePlan) error        { return errNoWrite }
func (followerStore) DeletePlan(context.Context, string) error                 { return errNoWrite }
func (followerStore) PutKey(context.Context, *configs.APIKey) error            { return errNoWrite }
func (followerStore) DeleteKey(context.Context, string) error                  { return errNoWrite }
func (followerStore) PutCredential(context.Context, *configs.Credential) error { return errNoWrite }
func (followerStore) DeleteCredential(context.Context, string) error           { return errNoWrite }
func (followerStore) Usage() *cluster.Usage                                    { return nil }
