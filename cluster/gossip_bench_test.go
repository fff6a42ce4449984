package cluster

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

var gossipBenchNodes = flag.Int("gossip.nodes", 5, "cluster size for BenchmarkGossipFailureDetection")

// BenchmarkGossipFailureDetection measures how long a silently crashed
// node takes to be marked failed by every other member. Each iteration
// starts a fresh 5-node cluster on 127.0.0.1, waits until everyone sees
// everyone alive, shuts one node down without a leave (what a SIGKILL
// looks like to peers) and times until all 4 survivors list it as
// failed. -args -gossip.nodes=N changes the cluster size. Reported: detect-s (mean), p50-s, max-s, and false-fails (a
// survivor that saw another survivor fail, which must stay 0).
//
// "tuned" uses the package defaults; "memberlist-lan" memberlist's LAN
// defaults, for comparison. Run:
//
//	go test -run='^$' -bench=GossipFailureDetection -benchtime=5x ./cluster/
func BenchmarkGossipFailureDetection(b *testing.B) {
	profiles := []struct {
		name string
		cfg  GossipConfig
	}{
		{"tuned", GossipConfig{}},
		{"memberlist-lan", GossipConfig{ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond,
			GossipInterval: 200 * time.Millisecond, SuspicionMult: 4, SuspicionMaxTimeoutMult: 6}},
	}
	for _, p := range profiles {
		b.Run(p.name, func(b *testing.B) {
			benchFailureDetection(b, *gossipBenchNodes, p.cfg)
		})
	}
}

func benchFailureDetection(b *testing.B, n int, timing GossipConfig) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var samples []time.Duration
	falseFails := 0
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		nodes := make([]*Gossip, n)
		for j := range nodes {
			cfg := timing
			cfg.NodeName, cfg.Bind, cfg.Logger = fmt.Sprintf("node%d", j), "127.0.0.1:0", logger
			cfg.Meta = testMeta(cfg.NodeName)
			g, err := StartGossip(cfg)
			if err != nil {
				b.Fatalf("start node%d: %v", j, err)
			}
			nodes[j] = g
			b.Cleanup(func() { g.Shutdown() })
			if j > 0 {
				joinTest(b, g, nodes[0])
			}
		}
		waitMembers(b, nodes, statuses(nodes, MemberAlive))

		victim := nodes[i%n]
		survivors := slices.DeleteFunc(slices.Clone(nodes), func(g *Gossip) bool { return g == victim })
		seen := make([]time.Duration, len(survivors))
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		b.StartTimer()
		start := time.Now()
		if err := victim.Shutdown(); err != nil {
			b.Fatalf("crash %s: %v", victim.cfg.NodeName, err)
		}
		for k, g := range survivors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.After(gossipWait)
				for {
					ch := g.Changed()
					failed := false
					for _, m := range g.Members() {
						switch {
						case m.Name == victim.cfg.NodeName:
							failed = m.Status == MemberFailed
						case m.Status != MemberAlive:
							mu.Lock()
							falseFails++
							mu.Unlock()
						}
					}
					if failed {
						seen[k] = time.Since(start)
						return
					}
					select {
					case <-ch:
					case <-deadline:
						seen[k] = -1
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if slices.Contains(seen, -1) {
			b.Fatalf("iteration %d: %s not failed everywhere within %v: %v", i, victim.cfg.NodeName, gossipWait, seen)
		}
		samples = append(samples, slices.Max(seen))
		b.Logf("iteration %d: %s failed on first survivor after %v, on all after %v",
			i, victim.cfg.NodeName, slices.Min(seen).Round(time.Millisecond), slices.Max(seen).Round(time.Millisecond))
		for _, g := range survivors {
			g.Shutdown()
		}
	}

	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	mean := sum / time.Duration(len(samples))
	p50 := samples[(len(samples)-1)/2]
	b.ReportMetric(mean.Seconds(), "detect-s")
	b.ReportMetric(p50.Seconds(), "p50-s")
	b.ReportMetric(samples[len(samples)-1].Seconds(), "max-s")
	b.ReportMetric(float64(falseFails), "false-fails")
	b.Logf("%d nodes, %d crashes: detection by all survivors mean %v, p50 %v, max %v, false fails %d",
		n, len(samples), mean.Round(time.Millisecond), p50.Round(time.Millisecond),
		samples[len(samples)-1].Round(time.Millisecond), falseFails)
}
