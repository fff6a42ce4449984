package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// benchAPI is the API the driver deploys: one MOCK route.
const benchAPI = `{"name": "clusterbench", "description": "cluster benchmark (simulations/cmd/clusterbench)",
  "resources": [{"path": "/ping", "methods": {"GET": {"integration": {"type": "MOCK", "status_code": 200, "body": "pong"}}}}]}`

// benchStage is the stage every deploy points.
const benchStage = "bench"

// pollInterval is how often each node's served index is read while a
// deploy propagates.
const pollInterval = 2 * time.Millisecond

// propagationRun is one deploy: from the admin API's answer (the entry is
// committed and applied on the leader) to each node serving its index.
type propagationRun struct {
	Index   uint64
	Total   time.Duration // to the last node
	Last    string        // the last node
	PerNode map[string]time.Duration
	Retries int // deploy attempts that failed before this one
}

// deploy creates a deployment on benchStage through the leader and
// returns the index of the state that holds it. A failed attempt (the
// leader changed under it) is retried for up to 30 s; retries says how
// many there were. A retried deploy may have been applied too, which only
// adds a deployment.
func deploy(ctx context.Context, c *benchCluster, apiID, description string) (index uint64, retries int, err error) {
	err = harness.Retry(ctx, 30*time.Second, 100*time.Millisecond, func() error {
		leader, _, err := c.leader(ctx)
		if err != nil {
			return err
		}
		var res struct {
			Index uint64 `json:"index"`
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		body := map[string]string{"stage": benchStage, "description": description}
		if err := leader.client.Do(dctx, "POST", "/v1/apis/"+apiID+"/deployments", body, &res); err != nil {
			retries++
			return fmt.Errorf("deploy through %s: %w", leader.name(), err)
		}
		if res.Index == 0 {
			return harness.Permanent(errors.New("the deployment answer has no index"))
		}
		index = res.Index
		return nil
	})
	return index, retries, err
}

// measurePropagation deploys n times, one after the other, and times each
// deploy's way to every node.
func measurePropagation(ctx context.Context, c *benchCluster, apiID string, n int, log *slog.Logger) ([]propagationRun, error) {
	var runs []propagationRun
	for i := range n {
		index, retries, err := deploy(ctx, c, apiID, fmt.Sprintf("clusterbench deploy %d", i+1))
		if err != nil {
			return runs, err
		}
		if retries > 0 {
			log.Warn("deploy retried: no stable leader", "deploy", i+1, "retries", retries)
		}
		committed := time.Now()
		per, err := c.waitIndex(ctx, index, committed, 30*time.Second)
		if err != nil {
			return runs, fmt.Errorf("deploy %d (index %d): %w", i+1, index, err)
		}
		run := propagationRun{Index: index, PerNode: per, Retries: retries}
		for name, d := range per {
			if d >= run.Total {
				run.Total, run.Last = d, name
			}
		}
		runs = append(runs, run)
		log.Info("deploy propagated", "deploy", i+1, "index", index, "all_nodes", run.Total.Round(10*time.Microsecond), "last", run.Last)
		// Deploys are independent events, not a burst.
		if !sleep(ctx, 100*time.Millisecond) {
			return runs, context.Cause(ctx)
		}
	}
	return runs, nil
}

// waitIndex polls every node's served index until each reaches index and
// returns, per node, the time from from to the answer that showed it (an
// upper bound: poll interval plus one admin round trip).
func (c *benchCluster) waitIndex(parent context.Context, index uint64, from time.Time, within time.Duration) (map[string]time.Duration, error) {
	ctx, cancel := context.WithTimeout(parent, within)
	defer cancel()
	type result struct {
		name string
		d    time.Duration
		err  error
	}
	results := make(chan result, len(c.nodes))
	for _, n := range c.nodes {
		go func() {
			tick := time.NewTicker(pollInterval)
			defer tick.Stop()
			var last error
			for {
				st, err := n.status(ctx)
				switch {
				case err == nil && st.StateIndex >= index:
					results <- result{name: n.name(), d: time.Since(from)}
					return
				case err == nil:
					last = fmt.Errorf("serves index %d", st.StateIndex)
				default:
					last = err
				}
				select {
				case <-ctx.Done():
					results <- result{name: n.name(), err: fmt.Errorf("%s did not reach index %d within %v: %w", n.name(), index, within, last)}
					return
				case <-tick.C:
				}
			}
		}()
	}
	per := map[string]time.Duration{}
	var errs []error
	for range c.nodes {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		per[r.name] = r.d
	}
	if parent.Err() != nil {
		return per, context.Cause(parent) // interrupted or out of budget, not slow
	}
	return per, errors.Join(errs...)
}

// failoverRun is one SIGKILL of the leader.
type failoverRun struct {
	Killed     string
	NewLeader  string
	Elected    time.Duration // kill → a survivor reports it leads
	FirstWrite time.Duration // kill → first write accepted through a survivor
	AcceptedBy string        // the survivor that accepted it
	Attempts   int           // writes sent until then
	Rejoined   time.Duration // restart of the killed node → cluster settled
	// GossipAgrees is restart → every node's gossip-announced config index
	// is the one it serves (see settled).
	GossipAgrees time.Duration
}

// measureFailover kills the leader, times the election and the first write
// accepted through a surviving control node (each survivor is written to
// in a loop, no request waiting for another), then restarts the killed
// node and waits until the cluster has settled again, gossip view
// included.
func measureFailover(ctx context.Context, c *benchCluster, apiID string, kill int, log *slog.Logger) (failoverRun, error) {
	var leader *benchNode
	err := harness.Retry(ctx, 30*time.Second, 100*time.Millisecond, func() (err error) {
		leader, _, err = c.leader(ctx)
		return err
	})
	if err != nil {
		return failoverRun{}, err
	}
	var survivors []*benchNode
	for _, n := range c.controlNodes() {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	run := failoverRun{Killed: leader.name()}
	killedAt := time.Now()
	if err := leader.proc.Kill(10 * time.Second); err != nil {
		return run, err
	}

	const within = 60 * time.Second
	var wg sync.WaitGroup
	electCtx, stopElect := context.WithTimeout(ctx, within)
	defer stopElect()
	var elected time.Time
	wg.Go(func() {
		for electCtx.Err() == nil {
			for _, s := range survivors {
				if st, err := s.status(electCtx); err == nil && st.State == "Leader" {
					elected, run.NewLeader = time.Now(), s.name()
					return
				}
			}
			sleep(electCtx, 5*time.Millisecond)
		}
	})
	writeCtx, stopWrites := context.WithTimeout(ctx, within)
	defer stopWrites()
	var mu sync.Mutex
	var accepted time.Time
	var lastErr error
	for _, s := range survivors {
		wg.Go(func() {
			for a := 0; writeCtx.Err() == nil; a++ {
				vars := map[string]any{"variables": map[string]string{"failover": fmt.Sprintf("kill%d-%s-%d", kill, s.name(), a)}}
				wctx, cancel := context.WithTimeout(writeCtx, 5*time.Second)
				err := s.client.Do(wctx, "PUT", "/v1/apis/"+apiID+"/stages/"+benchStage+"/variables", vars, nil)
				cancel()
				at := time.Now()
				mu.Lock()
				if writeCtx.Err() != nil && !accepted.IsZero() {
					mu.Unlock()
					return // the other survivor accepted one first
				}
				run.Attempts++
				if err == nil {
					if accepted.IsZero() || at.Before(accepted) {
						accepted, run.AcceptedBy = at, s.name()
					}
					mu.Unlock()
					stopWrites()
					return
				}
				lastErr = err
				mu.Unlock()
				sleep(writeCtx, 5*time.Millisecond)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return run, context.Cause(ctx)
	}
	if accepted.IsZero() {
		return run, fmt.Errorf("no write accepted within %v of killing %s: %w", within, leader.name(), lastErr)
	}
	run.FirstWrite = accepted.Sub(killedAt)
	if !elected.IsZero() {
		run.Elected = elected.Sub(killedAt)
	}
	log.Info("leader failover", "kill", kill, "killed", run.Killed, "new_leader", run.NewLeader,
		"elected", run.Elected.Round(time.Millisecond), "first_write", run.FirstWrite.Round(time.Millisecond),
		"accepted_by", run.AcceptedBy, "attempts", run.Attempts)

	restarted := time.Now()
	if err := c.start(ctx, leader); err != nil {
		return run, fmt.Errorf("restart %s: %w", leader.name(), err)
	}
	if err := c.settled(ctx, 2*time.Minute, false); err != nil {
		return run, fmt.Errorf("after restarting %s: %w", leader.name(), err)
	}
	run.Rejoined = time.Since(restarted)
	// The gossip view is the operator's (cluster status, rollout); it
	// should agree within a second or so, but a broadcast that times out
	// leaves it to memberlist's 30 s push-pull.
	if err := c.settled(ctx, 2*time.Minute, true); err != nil {
		return run, fmt.Errorf("after restarting %s: %w", leader.name(), err)
	}
	run.GossipAgrees = time.Since(restarted)
	log.Info("killed node back", "node", leader.name(), "settled_after", run.Rejoined.Round(time.Millisecond),
		"gossip_agrees_after", run.GossipAgrees.Round(time.Millisecond))
	return run, nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
