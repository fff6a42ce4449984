package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// missTarget is one path of the miss-path comparison: requests that no
// cache answers, sent one after another over one keep-alive connection.
type missTarget struct {
	name   string
	url    string
	host   string // Host header; empty: the URL's
	client *http.Client
	runs   [][]time.Duration // latencies per measured run
	xcache string            // the X-Cache header of the last answer
}

// pace sends GETs one after another, one every 1/rate, for d, and
// returns each one's latency: from sending the request to having read
// the whole answer. A request slower than the interval delays the next
// (the ticker drops the ticks it missed), so a slow path is sent fewer
// requests rather than queued ones. An answer that a cache served, or
// that is not the backend's payload, is an error.
func (t *missTarget) pace(ctx context.Context, rate int, d time.Duration) ([]time.Duration, error) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	lat := make([]time.Duration, 0, int(d.Seconds()*float64(rate))+1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return lat, context.Cause(ctx)
		case <-tick.C:
		}
		start := time.Now()
		h, err := get(ctx, t.client, t.url, t.host)
		took := time.Since(start)
		if err != nil {
			return lat, fmt.Errorf("%s: %w", t.name, err)
		}
		t.xcache = h.Get("X-Cache")
		if strings.Contains(t.xcache, "Hit") {
			return lat, fmt.Errorf("%s: X-Cache %q: a cache answered, so this would not measure the miss path", t.name, t.xcache)
		}
		lat = append(lat, took)
	}
	return lat, nil
}

// latencies are a latency sample's order statistics (nearest rank).
type latencies struct {
	Requests int     `json:"requests"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
}

func summarize(sample []time.Duration) latencies {
	sorted := slices.Sorted(slices.Values(sample))
	n := len(sorted)
	rank := func(q float64) float64 {
		if n == 0 {
			return 0
		}
		return harness.Ms(sorted[max(int(math.Ceil(q*float64(n)))-1, 0)])
	}
	return latencies{Requests: n, P50ms: rank(0.50), P90ms: rank(0.90), P99ms: rank(0.99), Maxms: rank(1)}
}

// all is every measured latency of t, all runs pooled.
func (t *missTarget) all() []time.Duration { return slices.Concat(t.runs...) }
