package node

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
)

// clusterAdmin serves /v1/cluster/*: membership, Raft voters, gossip keys
// and rollout progress.
type clusterAdmin struct {
	node   *Node
	gossip *cluster.Gossip
	store  *cluster.Store // nil on nodes that are not voters
	client *http.Client
}

// memberView is one node in `portico cluster status`.
type memberView struct {
	Name        string            `json:"name"`
	Region      string            `json:"region"`
	Roles       []string          `json:"roles"`
	Status      string            `json:"status"`
	Health      string            `json:"health"`
	ConfigIndex uint64            `json:"config_index"`
	Lag         uint64            `json:"lag"`
	Voter       bool              `json:"voter"`
	Leader      bool              `json:"leader"`
	Version     string            `json:"version,omitempty"`
	Addrs       map[string]string `json:"addrs"`
	Error       string            `json:"error,omitempty"`
}

type clusterStatus struct {
	Node    string       `json:"node"`
	Leader  string       `json:"leader,omitempty"`
	Index   uint64       `json:"index"`
	Members []memberView `json:"members"`
}

func (ca *clusterAdmin) routes(route func(string, map[string]func(*http.Request) (int, any, error))) {
	route("/v1/cluster/status", map[string]func(*http.Request) (int, any, error){"GET": ca.status})
	route("/v1/cluster/join", map[string]func(*http.Request) (int, any, error){"POST": ca.join})
	route("/v1/cluster/remove", map[string]func(*http.Request) (int, any, error){"POST": ca.remove})
	route("/v1/cluster/rollout", map[string]func(*http.Request) (int, any, error){"GET": ca.rollout})
	route("/v1/cluster/keys", map[string]func(*http.Request) (int, any, error){"GET": ca.keys})
	route("/v1/cluster/keys/{op}", map[string]func(*http.Request) (int, any, error){"POST": ca.keyOp})
}

func (ca *clusterAdmin) view() clusterStatus {
	st := clusterStatus{Node: ca.node.cfg.Name}
	voters := map[string]cluster.Server{}
	if ca.store != nil {
		_, st.Leader = ca.store.Leader()
		if servers, err := ca.store.Servers(); err == nil {
			for _, s := range servers {
				voters[s.ID] = s
			}
		}
	}
	members := ca.gossip.Members()
	for _, m := range members {
		if m.Meta.ConfigIndex > st.Index {
			st.Index = m.Meta.ConfigIndex
		}
	}
	for _, m := range members {
		v := memberView{
			Name: m.Name, Region: m.Meta.Region, Roles: m.Meta.Roles, Status: string(m.Status), Health: m.Meta.Health,
			ConfigIndex: m.Meta.ConfigIndex, Lag: st.Index - m.Meta.ConfigIndex, Version: m.Meta.Version, Addrs: m.Meta.Addrs,
		}
		if m.MetaErr != nil {
			v.Error = m.MetaErr.Error()
		}
		if s, ok := voters[m.Name]; ok {
			v.Voter, v.Leader = s.Voter, s.Leader
		}
		st.Members = append(st.Members, v)
	}
	return st
}

func (ca *clusterAdmin) status(r *http.Request) (int, any, error) {
	return http.StatusOK, ca.view(), nil
}

func (ca *clusterAdmin) join(r *http.Request) (int, any, error) {
	var req struct {
		Addresses []string `json:"addresses"`
	}
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Addresses) == 0 {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "no addresses to join",
			fields: []configs.FieldError{{Field: "addresses", Message: "at least one gossip address (host:port) is required"}}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	n, err := ca.gossip.Join(ctx, req.Addresses)
	if n == 0 {
		return 0, nil, errorf(http.StatusBadGateway, "could not reach any of %v: %v", req.Addresses, err)
	}
	return http.StatusOK, map[string]int{"contacted": n}, nil
}

// remove takes a node out of Raft (forwarded to the leader).
func (ca *clusterAdmin) remove(r *http.Request) (int, any, error) {
	var req struct {
		Node string `json:"node"`
	}
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	if ca.store == nil {
		return 0, nil, &cluster.ErrNotLeader{}
	}
	servers, err := ca.store.Servers()
	if err != nil {
		return 0, nil, err
	}
	if !slices.ContainsFunc(servers, func(s cluster.Server) bool { return s.ID == req.Node }) {
		return 0, nil, &adminError{status: http.StatusNotFound, msg: "node " + req.Node + " is not a Raft member",
			fields: []configs.FieldError{{Field: "node", Message: "not in the Raft configuration"}}}
	}
	if err := ca.store.RemoveServer(r.Context(), req.Node); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"removed": req.Node}, nil
}

// rolloutView says which nodes that serve an API already serve a given
// config index.
type rolloutView struct {
	Index   uint64   `json:"index"`
	Done    bool     `json:"done"`
	Serving []string `json:"serving"`
	Lagging []string `json:"lagging"`
}

// rollout reports, for ?index=N and ?api=ID, the healthy nodes that serve
// the API (regional nodes of its home region; edges when it is EDGE) and
// whether each reports index N or later.
func (ca *clusterAdmin) rollout(r *http.Request) (int, any, error) {
	index, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "index must be a log index",
			fields: []configs.FieldError{{Field: "index", Message: "must be a number"}}}
	}
	var api *configs.API
	if id := r.URL.Query().Get("api"); id != "" {
		api = ca.node.Served().State().API(id)
		if ca.store != nil {
			api = ca.store.State().API(id)
		}
		if api == nil {
			return 0, nil, errorf(http.StatusNotFound, "api %q not found", id)
		}
	}
	v := rolloutView{Index: index, Serving: []string{}, Lagging: []string{}}
	for _, m := range ca.gossip.Members() {
		if m.Status != cluster.MemberAlive || m.Meta.Health != cluster.HealthOK || !servesAPI(m.Meta, api) {
			continue
		}
		if m.Meta.ConfigIndex >= index {
			v.Serving = append(v.Serving, m.Name)
		} else {
			v.Lagging = append(v.Lagging, m.Name)
		}
	}
	v.Done = len(v.Lagging) == 0
	return http.StatusOK, v, nil
}

// servesAPI: regional nodes of the home region serve every endpoint type
// (edges forward to them; private listeners run on them); edges serve EDGE
// APIs.
func servesAPI(m cluster.NodeMeta, api *configs.API) bool {
	if api == nil {
		return true
	}
	if slices.Contains(m.Roles, configs.RoleRegional) && m.Region == api.HomeRegion {
		return true
	}
	return slices.Contains(m.Roles, configs.RoleEdge) && api.HasEndpointType(configs.EndpointEdge)
}

func (ca *clusterAdmin) keys(r *http.Request) (int, any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := ca.gossip.Keys(ctx)
	if errors.Is(err, cluster.ErrNotEncrypted) {
		return 0, nil, errorf(http.StatusConflict, "gossip is not encrypted on this cluster (set gossip.key_file)")
	}
	if err != nil && st.Nodes == 0 {
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}

func (ca *clusterAdmin) keyOp(r *http.Request) (int, any, error) {
	var req struct {
		Key string `json:"key"`
	}
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	key, err := base64.StdEncoding.DecodeString(req.Key)
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid gossip key",
			fields: []configs.FieldError{{Field: "key", Message: "must be base64 of 16, 24 or 32 bytes"}}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	var res cluster.KeyResult
	switch r.PathValue("op") {
	case "install":
		res, err = ca.gossip.InstallKey(ctx, key)
	case "use":
		res, err = ca.gossip.UseKey(ctx, key)
	case "remove":
		res, err = ca.gossip.RemoveKey(ctx, key)
	default:
		return 0, nil, errorf(http.StatusNotFound, "unknown key operation %q (install, use or remove)", r.PathValue("op"))
	}
	if errors.Is(err, cluster.ErrNotEncrypted) {
		return 0, nil, errorf(http.StatusConflict, "gossip is not encrypted on this cluster (set gossip.key_file)")
	}
	if err != nil {
		return 0, nil, &adminError{status: http.StatusBadGateway, msg: "key " + r.PathValue("op") + " did not complete on every node: " + err.Error()}
	}
	return http.StatusOK, res, nil
}
