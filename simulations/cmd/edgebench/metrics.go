package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cacheCounts are an edge's cache counters for the bench API, read from
// its /metrics: every request a cache could answer is a hit or a miss.
type cacheCounts struct{ hits, misses float64 }

// edgeCacheCounts scrapes the edge node's /metrics and sums the edge
// tier's portico_CacheHitCount and portico_CacheMissCount series of the
// bench API.
func (c *benchCluster) edgeCacheCounts(ctx context.Context) (cacheCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+c.edgeAdmin+"/metrics", nil)
	if err != nil {
		return cacheCounts{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return cacheCounts{}, fmt.Errorf("edge metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return cacheCounts{}, fmt.Errorf("edge metrics: %s", res.Status)
	}
	var n cacheCounts
	api, tier := `api_id="`+c.apiID+`"`, `tier="edge"`
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		// portico_CacheHitCount{api_id="…",endpoint="edge",stage="prod",tier="edge"} 123
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.Contains(rest, api) || !strings.Contains(rest, tier) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return cacheCounts{}, fmt.Errorf("edge metrics: bad sample %q", line)
		}
		switch name {
		case "portico_CacheHitCount":
			n.hits += v
		case "portico_CacheMissCount":
			n.misses += v
		}
	}
	if err := sc.Err(); err != nil {
		return cacheCounts{}, fmt.Errorf("edge metrics: %w", err)
	}
	return n, nil
}
