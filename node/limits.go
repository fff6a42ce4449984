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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints"
	"github.com/portico-gw/portico/endpoints/limit"
)

// Cluster-wide throttles and quotas (see endpoints/limit for the design
// and its overshoot bounds). Every gateway node runs a limit.Limiter that
// spends leased budget without asking anyone per request; once per round
// (50 ms) it sends one batched lease request to the coordinator, which
// runs on the Raft leader. Non-voters send it to a control node, which
// passes it to the leader. The leader commits the quota usage it counts
// through Raft every second (cluster.Usage), so quotas survive restarts
// and leader changes.

// LeasePath is the lease endpoint on the internal (mutual TLS) listener.
const LeasePath = "/internal/v1/lease"

// usageCommitInterval is how often the leader commits counted usage; it
// bounds what a leader change loses (see limit's doc).
const usageCommitInterval = time.Second

// maxLeaseBody bounds one lease request's body. It leaves room for a full
// batch (LimiterConfig.MaxBatch items, 5000 by default); the coordinator
// refuses more than CoordinatorConfig.MaxBatch items (10000) anyway.
const maxLeaseBody = 4 << 20

// limiterAdapter gives the endpoints the node's limiter.
type limiterAdapter struct{ l *limit.Limiter }

// Throttle keys are the endpoints' own ("default", "stage:…", "key:…"),
// used as they are: no allocation on the request path. Quota keys get
// quotaPrefix, which no throttle key starts with.
func (a limiterAdapter) Throttle(key string, t configs.Throttle) (bool, time.Duration) {
	d := a.l.Allow(key, limit.RateSpec(t.RateLimit, t.BurstLimit))
	return d.OK(), d.RetryAfter
}

// A quota key without a lease at hand (its first requests on this node,
// or after an idle second) admits one request on credit; the others wait
// for the lease the next round brings (a round is 50 ms) rather than be
// refused while the quota has room. They wait at most quotaWait, and
// never while the coordinator is unreachable.
const quotaWait = 250 * time.Millisecond

func (a limiterAdapter) Quota(ctx context.Context, key string, q configs.Quota) (bool, bool, time.Duration) {
	k, spec := quotaPrefix+key, limit.QuotaSpec(int(q.Limit), limit.Period(q.Period), q.Offset)
	round := a.l.RoundDone()
	d := a.l.Allow(k, spec)
	if d.Status != limit.Throttled || d.Err != nil || a.l.Fallback() {
		return d.OK(), d.Status == limit.QuotaExceeded, d.RetryAfter
	}
	// Ask again after each round (one demand per round, not per poll)
	// until quotaWait is up.
	timeout := time.NewTimer(quotaWait)
	defer timeout.Stop()
	for d.Status == limit.Throttled && d.Err == nil && !a.l.Fallback() {
		select {
		case <-ctx.Done(): // the client went away
			return false, false, d.RetryAfter
		case <-timeout.C:
			return d.OK(), d.Status == limit.QuotaExceeded, d.RetryAfter
		case <-round:
		}
		round = a.l.RoundDone()
		d = a.l.Allow(k, spec)
	}
	return d.OK(), d.Status == limit.QuotaExceeded, d.RetryAfter
}

// quotaPrefix starts the limiter key of a quota; the rest is
// "{plan}/{key}", which is how cluster.Usage names it.
const quotaPrefix = "q:"

func splitQuotaKey(k string) (plan, key string, ok bool) {
	rest, ok := strings.CutPrefix(k, quotaPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// usageStore is the coordinator's view of the committed usage.
type usageStore struct{ u *cluster.Usage }

func (s usageStore) Used(key string, start, end time.Time) int64 {
	plan, k, ok := splitQuotaKey(key)
	if !ok {
		return 0
	}
	return s.u.Sum(plan, k, start, end)
}

// coordination runs the coordinator while this node leads: a fresh one for
// each spell of leadership (it reads the committed usage afresh), and the
// usage commits.
type coordination struct {
	store *cluster.Store
	peers func() int
	peer  func(node string) bool // whether peers counts the node
	log   *slog.Logger
	cur   atomic.Pointer[spellCoordinator] // nil while not leading
}

// spellCoordinator is a coordinator and the leadership spell it belongs to.
type spellCoordinator struct {
	co    *limit.Coordinator
	spell uint64
}

// leading returns the coordinator if this node still leads in the spell
// it was started for, else nil. run clears cur only at its next poll,
// which waits for a usage commit (up to 5s): in between, a node that lost
// leadership must not go on granting budget from its stale counts.
func (c *coordination) leading() *limit.Coordinator {
	cur := c.cur.Load()
	if cur == nil {
		return nil
	}
	if spell, ok := c.store.Leadership(); !ok || spell != cur.spell {
		return nil
	}
	return cur.co
}

// run follows leadership until ctx ends.
func (c *coordination) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastCommit := time.Now()
	for {
		now, leading := c.store.Leadership()
		switch cur := c.cur.Load(); {
		case leading && (cur == nil || cur.spell != now):
			// A new spell, or leadership lost and regained between two
			// looks: another leader may have committed usage meanwhile,
			// so the coordinator starts afresh.
			co, err := limit.NewCoordinator(limit.CoordinatorConfig{Store: usageStore{c.store.Usage()}, Peers: c.peers, Peer: c.peer})
			if err != nil {
				c.log.Error("cannot start the limit coordinator", "err", err)
			} else {
				c.cur.Store(&spellCoordinator{co: co, spell: now})
				c.log.Info("limit coordinator started")
			}
		case !leading && cur != nil:
			c.cur.Store(nil)
			c.log.Info("limit coordinator stopped: no longer the leader")
		case leading && time.Since(lastCommit) >= usageCommitInterval:
			lastCommit = time.Now()
			c.commit(ctx, cur.co)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// commit writes the usage counted since the last commit.
func (c *coordination) commit(ctx context.Context, co *limit.Coordinator) {
	ds := co.Drain()
	if len(ds) == 0 {
		return
	}
	out := make([]cluster.UsageDelta, 0, len(ds))
	for _, d := range ds {
		plan, key, ok := splitQuotaKey(d.Key)
		if !ok {
			continue
		}
		out = append(out, cluster.UsageDelta{Plan: plan, Key: key, Day: d.Day.UTC().Format(cluster.UsageDay), N: d.Delta})
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.store.AddUsage(cctx, out, time.Now())
	var nl *cluster.ErrNotLeader
	switch {
	case err == nil:
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		// Maybe committed: giving it back could count it twice. Lost
		// at worst (an undercount of one interval).
		c.log.Warn("usage commit outcome unknown; not retried", "deltas", len(out), "err", err)
	case errors.As(err, &nl):
		// Not appended; the next leader reads what is committed.
		c.log.Warn("usage commit refused: no longer the leader", "deltas", len(out))
	default:
		co.Requeue(ds)
		c.log.Warn("usage commit failed; retrying", "err", err)
	}
}

// serve returns the lease endpoint: the leader's coordinator answers; a
// control node that does not lead passes the request to the leader (with
// fwd).
func (c *coordination) serve(fwd func(ctx context.Context, req limit.LeaseRequest) (limit.LeaseResponse, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "use POST"})
			return
		}
		var req limit.LeaseRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLeaseBody)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid lease request: " + err.Error()})
			return
		}
		var resp limit.LeaseResponse
		var err error
		if co := c.leading(); co != nil {
			resp, err = co.Lease(r.Context(), req)
		} else if r.Header.Get(headerHops) == "" {
			resp, err = fwd(r.Context(), req)
		} else {
			err = errors.New("this node does not coordinate limits")
		}
		switch {
		case errors.Is(err, limit.ErrBatchTooLarge):
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": err.Error()})
		default:
			writeJSON(w, http.StatusOK, resp)
		}
	})
}

// leaseTransport carries a node's lease rounds: to the local coordinator
// when this node leads, else over mutual TLS to the leader (from a control
// node, which knows it) or to a control node (which passes it on).
type leaseTransport struct {
	n      *Node
	store  *cluster.Store // nil on non-voters
	coord  *coordination  // nil on non-voters
	client *http.Client

	mu   sync.Mutex
	last string // the peer that answered last, tried first
}

func (t *leaseTransport) Lease(ctx context.Context, req limit.LeaseRequest) (limit.LeaseResponse, error) {
	if t.coord != nil {
		if co := t.coord.leading(); co != nil {
			return co.Lease(ctx, req)
		}
	}
	return t.remote(ctx, req, false)
}

// remote posts the request to the leader or a control node. hop is set
// when a control node passes on a request it got from another node.
func (t *leaseTransport) remote(ctx context.Context, req limit.LeaseRequest, hop bool) (limit.LeaseResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return limit.LeaseResponse{}, err
	}
	var errs []error
	for _, peer := range t.targets() {
		resp, err := t.post(ctx, peer, body, hop)
		if err == nil {
			t.mu.Lock()
			t.last = peer
			t.mu.Unlock()
			return resp, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return limit.LeaseResponse{}, errors.New("no control node is known")
	}
	return limit.LeaseResponse{}, errors.Join(errs...)
}

// targets lists where to send a round: on a control node the leader
// only; elsewhere the control nodes, the last one that answered first.
func (t *leaseTransport) targets() []string {
	g := t.n.Gossip()
	if g == nil { // still starting
		return nil
	}
	if t.store != nil {
		_, leaderID := t.store.Leader()
		for _, m := range g.Members() {
			if m.Name == leaderID && m.Name != t.n.cfg.Name && m.Meta.Addrs["internal"] != "" {
				return []string{"https://" + m.Meta.Addrs["internal"]}
			}
		}
		return nil
	}
	peers := t.n.controlPeers(g)()
	t.mu.Lock()
	last := t.last
	t.mu.Unlock()
	if i := slices.Index(peers, last); i > 0 {
		peers[0], peers[i] = peers[i], peers[0]
	}
	return peers
}

func (t *leaseTransport) post(ctx context.Context, peer string, body []byte, hop bool) (limit.LeaseResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peer+LeasePath, bytes.NewReader(body))
	if err != nil {
		return limit.LeaseResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if hop {
		req.Header.Set(headerHops, "1")
	}
	res, err := t.client.Do(req)
	if err != nil {
		return limit.LeaseResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxLeaseBody))
	if err != nil {
		return limit.LeaseResponse{}, err
	}
	if res.StatusCode != http.StatusOK {
		return limit.LeaseResponse{}, fmt.Errorf("lease from %s: %s: %s", peer, res.Status, bytes.TrimSpace(b))
	}
	var out limit.LeaseResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return limit.LeaseResponse{}, fmt.Errorf("lease from %s: %w", peer, err)
	}
	return out, nil
}

// gatewayPeers counts the alive nodes that serve requests (regional or
// edge role): the n of every node's local share.
func (n *Node) gatewayPeers() int {
	g := n.Gossip()
	if g == nil {
		return 1
	}
	c := 0
	for _, m := range g.Members() {
		if isGateway(m) {
			c++
		}
	}
	return max(c, 1)
}

// isGatewayPeer reports whether gatewayPeers counts the named node: only
// such nodes count as live at the coordinator.
func (n *Node) isGatewayPeer(name string) bool {
	g := n.Gossip()
	if g == nil {
		return false
	}
	for _, m := range g.Members() {
		if m.Name == name {
			return isGateway(m)
		}
	}
	return false
}

// isGateway reports whether m is an alive node that serves requests.
func isGateway(m cluster.Member) bool {
	return m.Status == cluster.MemberAlive && configs.ServesRequests(m.Meta.Roles)
}

// startLimits builds the node's limiter (and, on a control node, the
// coordination it leads when it is the leader). The caller runs the
// returned loops once gossip is up.
func (n *Node) startLimits(store *cluster.Store, client *http.Client) (*endpoints.Access, *limit.Limiter, *coordination, *leaseTransport, error) {
	access := endpoints.NewAccess(n.log.With("component", "access"))
	var coord *coordination
	if store != nil {
		coord = &coordination{store: store, peers: n.gatewayPeers, peer: n.isGatewayPeer, log: n.log.With("component", "limits")}
	}
	lt := &leaseTransport{n: n, store: store, coord: coord, client: client}
	lim, err := limit.NewLimiter(limit.LimiterConfig{
		Node: n.cfg.Name, Transport: lt, Peers: n.gatewayPeers,
		Logger: n.log.With("component", "limits"),
	})
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("limiter: %w", err)
	}
	access.Limiter = limiterAdapter{lim}
	if d := n.cfg.DefaultThrottle; d != nil {
		access.DefaultThrottle = *d
	}
	return access, lim, coord, lt, nil
}
