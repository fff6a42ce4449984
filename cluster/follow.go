package cluster

// Config distribution to nodes that are not voters.
//
// Choice: regional and edge nodes follow the committed state with a long
// poll over the internal mTLS listener of any control node
// (GET /internal/v1/state?after=N&wait=25s), not as Raft members. A Raft
// non-voter costs the leader a replication stream and log retention per
// member, and the leader alone would carry hundreds of edges; a long poll
// can be answered by every control node from its own applied state, the
// answer for one index is encoded once and shared by every follower
// waiting on it, and a follower that falls behind just gets the current
// state (no log to replay, no snapshot transfer protocol). The price is
// that each change ships the whole state, which is small (API definitions,
// not traffic) and bounded by the admin API's limits.
//
// Every node, voter or not, serves its config through Served: each newer
// state is written to data_dir/config/state.json (temp file, fsync,
// rename, fsync of the directory) before it is served, and the file is
// loaded at start, so a restarted node serves its last config even while
// every control node is down.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/configs"
)

// StatePath is the follower's state stream endpoint on the internal
// listener.
const StatePath = "/internal/v1/state"

// HeaderIndex carries the index of the state an answer reflects.
const HeaderIndex = "X-Portico-Index"

// maxPollWait bounds one long poll.
const maxPollWait = 25 * time.Second

// StateHandler serves the committed state of src to followers. A request
// with ?after=N answers at once when the state is newer than N, else waits
// up to ?wait= (default and maximum 25s) and answers 304. Closing stop
// ends every waiting poll at once (a node shutting down).
func StateHandler(src configs.Source, stop <-chan struct{}) http.Handler {
	var cache atomic.Pointer[encodedState]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		if r.URL.Query().Get("after") == "" {
			after, err = 0, nil
		}
		if err != nil {
			http.Error(w, `{"message":"after must be a log index"}`, http.StatusBadRequest)
			return
		}
		cluster := r.URL.Query().Get("cluster")
		wait := maxPollWait
		if v := r.URL.Query().Get("wait"); v != "" {
			if d, err := time.ParseDuration(v); err == nil && d >= 0 && d < wait {
				wait = d
			}
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			changed := src.Changed()
			st := src.State()
			otherCluster := st.ClusterID != "" && cluster != "" && cluster != st.ClusterID
			if st.Index > after || otherCluster {
				enc := cache.Load()
				if enc == nil || enc.index != st.Index {
					b, err := json.Marshal(st)
					if err != nil {
						http.Error(w, `{"message":"encode state"}`, http.StatusInternalServerError)
						return
					}
					enc = &encodedState{index: st.Index, body: b}
					cache.Store(enc)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set(HeaderIndex, strconv.FormatUint(enc.index, 10))
				w.Write(enc.body)
				return
			}
			select {
			case <-changed:
			case <-timer.C:
				w.Header().Set(HeaderIndex, strconv.FormatUint(st.Index, 10))
				w.WriteHeader(http.StatusNotModified)
				return
			case <-stop:
				w.Header().Set(HeaderIndex, strconv.FormatUint(st.Index, 10))
				w.WriteHeader(http.StatusNotModified)
				return
			case <-r.Context().Done():
				return
			}
		}
	})
}

type encodedState struct {
	index uint64
	body  []byte
}

// Served is the state a node serves: loaded from data_dir/config at start,
// replaced only by newer states (Offer), each persisted before it is
// served. Control nodes offer their FSM's states, followers what they
// receive, so every node keeps serving the last committed config it saw
// while the control plane is unreachable. It implements configs.Source.
type Served struct {
	path  string
	log   *slog.Logger
	state atomic.Pointer[configs.State]

	mu      sync.Mutex // serializes Offer and guards changed
	changed chan struct{}
}

// OpenServed loads the persisted state of dataDir, if any.
func OpenServed(dataDir string, logger *slog.Logger) (*Served, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Served{path: filepath.Join(dataDir, "config", "state.json"), log: logger, changed: make(chan struct{})}
	s.state.Store(configs.NewState())
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read persisted config: %w", err)
	default:
		var st configs.State
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("persisted config %s is corrupt: %w", s.path, err)
		}
		s.state.Store(st.Normalize())
		s.log.Info("loaded persisted config", "index", st.Index, "file", s.path)
	}
	return s, nil
}

// State returns the state this node serves. It never blocks.
func (s *Served) State() *configs.State { return s.state.Load() }

// Changed returns a channel closed at the next change. It never blocks.
func (s *Served) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Offer persists and publishes st if it is newer than the served state.
// encoded may hold st's JSON encoding (nil: encoded here). It blocks for
// one fsync.
func (s *Served) Offer(st *configs.State, encoded []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.state.Load()
	if !st.Newer(cur) {
		return nil
	}
	if cur.ClusterID != "" && st.ClusterID != cur.ClusterID {
		s.log.Warn("serving config from a different Raft cluster (was the control plane rebuilt?)",
			"old_cluster", cur.ClusterID, "old_index", cur.Index, "new_cluster", st.ClusterID, "new_index", st.Index)
	}
	if encoded == nil {
		var err error
		if encoded, err = json.Marshal(st); err != nil {
			return fmt.Errorf("encode config: %w", err)
		}
	}
	if err := writeFileSync(s.path, encoded); err != nil {
		return fmt.Errorf("persist config: %w", err)
	}
	s.state.Store(st)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Track offers every state src publishes until ctx is done (control
// nodes: src is the Raft store).
func (s *Served) Track(ctx context.Context, src configs.Source) {
	for {
		changed := src.Changed()
		if err := s.Offer(src.State(), nil); err != nil {
			s.log.Error("cannot persist the committed config; serving the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	// Served receives every newer state.
	Served *Served
	// Peers returns the base URLs (https://host:port) of control nodes'
	// internal listeners, best first. It must not block.
	Peers func() []string
	// Client talks to peers (mutual TLS under the cluster CA).
	Client *http.Client
	// Newest returns the highest config index any node announces (from
	// gossip), or 0. A peer that answers "nothing newer" below it is
	// behind (partitioned, or not caught up) and the follower moves on.
	// It must not block; nil means unknown.
	Newest func() uint64
	Logger *slog.Logger
}

// Follower keeps a node that is not a voter in step with the control
// nodes.
type Follower struct {
	cfg FollowerConfig
	log *slog.Logger
}

// NewFollower returns a follower; Run starts it.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Follower{cfg: cfg, log: cfg.Logger}
}

// Run follows peers until ctx is done.
func (f *Follower) Run(ctx context.Context) error {
	backoff := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	next := 0
	for ctx.Err() == nil {
		peers := f.cfg.Peers()
		if len(peers) == 0 {
			if !backoff.Wait(ctx) {
				break
			}
			continue
		}
		peer := peers[next%len(peers)]
		err := f.poll(ctx, peer)
		if err == nil {
			backoff.Reset()
			continue
		}
		if ctx.Err() != nil {
			break
		}
		f.log.Warn("config follow failed; trying another control node", "peer", peer, "err", err, "retry_in", backoff.Next())
		next++
		if !backoff.Wait(ctx) {
			break
		}
	}
	return nil
}

func (f *Follower) poll(ctx context.Context, peer string) error {
	have := f.cfg.Served.State()
	cur := have.Index
	url := fmt.Sprintf("%s%s?after=%d&wait=%s&cluster=%s", peer, StatePath, cur, maxPollWait, have.ClusterID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		if f.cfg.Newest != nil {
			peerIndex, _ := strconv.ParseUint(resp.Header.Get(HeaderIndex), 10, 64)
			if newest := f.cfg.Newest(); newest > peerIndex && newest > cur {
				return fmt.Errorf("peer is behind (serves index %d, the cluster announces %d)", peerIndex, newest)
			}
		}
		return nil
	case http.StatusOK:
	default:
		return fmt.Errorf("state stream answered %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	var st configs.State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	if !st.Newer(have) {
		// A control node that is behind this follower (for example one that
		// restarted): keep the newer state and ask someone else.
		return fmt.Errorf("peer is behind (index %d, have %d)", st.Index, cur)
	}
	return f.cfg.Served.Offer(st.Normalize(), b)
}

// writeFileSync replaces path atomically and durably.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
