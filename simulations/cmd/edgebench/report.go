package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// Reference figures.
const (
	// hitTargetRatio: an edge cache hit should be served at least as fast as
	// nginx serves a proxy_cache hit, both over TLS.
	hitTargetRatio = 1.0
	// nginxHitAnchor1 and nginxHitAnchor2 are nginx proxy_cache hit rps /
	// direct Go hello rps in the research note's two sessions
	// (performance-anchors.md §0 "Calibration ratios": wrk -t2 -c64 -d10s,
	// plain HTTP, 2 shared vCPUs, a 13-byte answer).
	nginxHitAnchor1 = 1.21
	nginxHitAnchor2 = 1.03
)

// report is what a benchmark prints and writes as JSON.
type report struct {
	harness.Header
	Wrk       string        `json:"wrk"`
	Nginx     string        `json:"nginx"`
	Settings  settings      `json:"settings"`
	Cluster   clusterReport `json:"cluster"`
	Hits      hitsReport    `json:"cache_hits"`
	Miss      missReport    `json:"miss_path"`
	Reference reference     `json:"reference"`
}

type settings struct {
	harness.WrkSettings
	MissRate     int `json:"miss_rate_per_s"`
	PayloadBytes int `json:"payload_bytes"`
	// Placement says whether servers and wrk shared the CPUs or were
	// pinned apart (-pin), and to which.
	Placement string `json:"placement"`
}

type clusterReport struct {
	IPPrefix     string   `json:"ip_prefix"`
	Nodes        []string `json:"nodes"`
	APIID        string   `json:"api_id"`
	EdgeHost     string   `json:"edge_host"`
	RegionalHost string   `json:"regional_host"`
}

type hitsReport struct {
	Targets []harness.WrkSummary `json:"targets"`
	// EdgeCacheHits is how many hits the edge counted during the runs
	// (warm-up included; it counted no miss, or the run would have
	// failed): the requests wrk completed, plus those it left in flight.
	EdgeCacheHits float64 `json:"edge_cache_hits_counted"`
	// EdgeOverNginxTLS is the headline: median rps of edge hits over
	// median rps of nginx hits over TLS.
	EdgeOverNginxTLS float64 `json:"edge_over_nginx_tls"`
	// PerRound is the same ratio per round (the two ran in one round).
	PerRound             []float64 `json:"edge_over_nginx_tls_per_round"`
	EdgeOverDirect       float64   `json:"edge_over_direct_tls"`
	NginxTLSOverDirect   float64   `json:"nginx_tls_over_direct_tls"`
	NginxPlainOverDirect float64   `json:"nginx_plain_over_direct_plain"`
	Target               float64   `json:"target_edge_over_nginx_tls"`
	MeetsTarget          bool      `json:"meets_target"`
	// EdgeOverNginxTLSCPU is median server CPU time per request of edge
	// hits over that of nginx hits over TLS: a diagnostic, steadier than
	// rps on a shared machine (lower is cheaper); absent if either was
	// not measured.
	EdgeOverNginxTLSCPU *float64 `json:"edge_over_nginx_tls_server_cpu_per_request,omitempty"`
}

type missReport struct {
	Targets []missTargetReport `json:"targets"`
	// EdgeAdded is edge − regional, what the edge hop adds (all runs
	// pooled); RegionalAdded is regional − direct.
	EdgeAddedP50ms     float64 `json:"edge_added_p50_ms"`
	EdgeAddedP99ms     float64 `json:"edge_added_p99_ms"`
	RegionalAddedP50ms float64 `json:"regional_added_p50_ms"`
	RegionalAddedP99ms float64 `json:"regional_added_p99_ms"`
}

type missTargetReport struct {
	Name   string      `json:"name"`
	URL    string      `json:"url"`
	Host   string      `json:"host,omitempty"`
	XCache string      `json:"x_cache,omitempty"`
	All    latencies   `json:"all_runs"`
	Runs   []latencies `json:"runs"`
}

type reference struct {
	NginxHitOverDirect []float64 `json:"nginx_hit_over_direct"`
	Note               string    `json:"note"`
}

func newReport(o options, bin, wrkVersion, nginxVersion string, c *benchCluster, hits []*hitTarget, edgeHits float64, misses []*missTarget) *report {
	r := &report{
		Header: harness.NewHeader(bin),
		Wrk:    wrkVersion,
		Nginx:  nginxVersion,
		Settings: settings{WrkSettings: o.Settings(warmup), MissRate: o.missRate, PayloadBytes: len(payload),
			Placement: o.place.String()},
		Cluster: clusterReport{IPPrefix: c.prefix, Nodes: c.nodes, APIID: c.apiID, EdgeHost: c.edgeHost(), RegionalHost: c.regionalHost()},
		Reference: reference{
			NginxHitOverDirect: []float64{nginxHitAnchor1, nginxHitAnchor2},
			Note:               "performance-anchors.md §0/§3.1: nginx proxy_cache hit rps / direct Go hello rps, plain HTTP, wrk -t2 -c64 -d10s, 2 shared vCPUs, two sessions",
		},
	}
	h := &r.Hits
	h.EdgeCacheHits = edgeHits
	for _, t := range hits {
		h.Targets = append(h.Targets, harness.SummarizeWrk(t.wrk, t.runs))
	}
	rps := func(name string) float64 { return harness.WrkByName(h.Targets, name).MedianRPS }
	ratio := func(a, b string) float64 { return harness.Round(harness.Ratio(rps(a), rps(b)), 4) }
	h.EdgeOverNginxTLS, h.EdgeOverDirect = ratio(edgeHit, nginxTLS), ratio(edgeHit, directTLS)
	h.NginxTLSOverDirect, h.NginxPlainOverDirect = ratio(nginxTLS, directTLS), ratio(nginxPlain, direct)
	h.Target, h.MeetsTarget = hitTargetRatio, h.EdgeOverNginxTLS >= hitTargetRatio
	edge, ngx := harness.WrkByName(h.Targets, edgeHit), harness.WrkByName(h.Targets, nginxTLS)
	if e, n := edge.MedianServerCPUPerRequestUs, ngx.MedianServerCPUPerRequestUs; e != nil && n != nil && *n > 0 {
		h.EdgeOverNginxTLSCPU = new(harness.Round(*e / *n, 4))
	}
	for i := range min(len(edge.Runs), len(ngx.Runs)) {
		h.PerRound = append(h.PerRound, harness.Round(harness.Ratio(edge.Runs[i].RPS, ngx.Runs[i].RPS), 4))
	}

	m := &r.Miss
	all := map[string]latencies{}
	for _, t := range misses {
		tr := missTargetReport{Name: t.name, URL: t.url, Host: t.host, XCache: t.xcache, All: summarize(t.all())}
		for _, run := range t.runs {
			tr.Runs = append(tr.Runs, summarize(run))
		}
		all[t.name] = tr.All
		m.Targets = append(m.Targets, tr)
	}
	diff := func(a, b float64) float64 { return harness.Round(a-b, 3) }
	m.EdgeAddedP50ms, m.EdgeAddedP99ms = diff(all[edgeMiss].P50ms, all[regionalMiss].P50ms), diff(all[edgeMiss].P99ms, all[regionalMiss].P99ms)
	m.RegionalAddedP50ms, m.RegionalAddedP99ms = diff(all[regionalMiss].P50ms, all[directMiss].P50ms), diff(all[regionalMiss].P99ms, all[directMiss].P99ms)
	return r
}

// Print writes the human-readable tables.
func (r *report) Print(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "\nedge cache hits: GET of a %d-byte JSON answer, wrk -t%d -c%d, %d × %s per target after a %s warm-up, rotating order,\n%d CPUs, %s (%s, %s)\n\n",
		s.PayloadBytes, s.Threads, s.Connections, s.Runs, s.Duration, s.Warmup, r.Machine.CPUs, s.Placement, r.Wrk, r.Nginx)
	harness.PrintWrkTable(w, r.Hits.Targets)

	h := r.Hits
	verdict := "below the target"
	if h.MeetsTarget {
		verdict = "meets the target"
	}
	var rounds []string
	for _, p := range h.PerRound {
		rounds = append(rounds, fmt.Sprintf("%.2f", p))
	}
	fmt.Fprintln(w)
	tw := harness.Table(w)
	fmt.Fprintf(tw, "%s / %s\t%.2f\t(per round: %s) — %s ≥ %.2f\n", edgeHit, nginxTLS, h.EdgeOverNginxTLS, strings.Join(rounds, " "), verdict, h.Target)
	if h.EdgeOverNginxTLSCPU != nil {
		cpu := func(name string) string {
			return harness.FmtMicros(*harness.WrkByName(h.Targets, name).MedianServerCPUPerRequestUs)
		}
		fmt.Fprintf(tw, "\t\tserver CPU per hit: %s %s, %s %s (edge/nginx %.2f)\n", edgeHit, cpu(edgeHit), nginxTLS, cpu(nginxTLS), *h.EdgeOverNginxTLSCPU)
	}
	fmt.Fprintf(tw, "%s / %s\t%.2f\t\n", edgeHit, directTLS, h.EdgeOverDirect)
	fmt.Fprintf(tw, "%s / %s\t%.2f\t\n", nginxTLS, directTLS, h.NginxTLSOverDirect)
	fmt.Fprintf(tw, "%s / %s\t%.2f\t(research note, plain HTTP: %.2f and %.2f — compare ratios, not absolute rps)\n",
		nginxPlain, direct, h.NginxPlainOverDirect, r.Reference.NginxHitOverDirect[0], r.Reference.NginxHitOverDirect[1])
	tw.Flush()
	fmt.Fprintf(w, "the edge's cache counted %s hits and no miss while wrk loaded it (warm-up included)\n", harness.Commas(h.EdgeCacheHits))

	m := r.Miss
	fmt.Fprintf(w, "\nedge miss path: GET %s%s with caching off, one request after another over one keep-alive HTTPS connection,\n%d/s for %d × %s per target\n\n",
		"/"+stage, freshPath, s.MissRate, s.Runs, s.Duration)
	tw = harness.Table(w)
	fmt.Fprintln(tw, "target\trequests\tp50\tp90\tp99\tmax\tX-Cache\t")
	for _, t := range m.Targets {
		xc := t.XCache
		if xc == "" {
			xc = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", t.Name, t.All.Requests, fmtMs(t.All.P50ms), fmtMs(t.All.P90ms),
			fmtMs(t.All.P99ms), fmtMs(t.All.Maxms), xc)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = harness.Table(w)
	fmt.Fprintf(tw, "added by the edge hop (%s − %s):\tp50 %s,\tp99 %s\n", edgeMiss, regionalMiss, fmtDelta(m.EdgeAddedP50ms), fmtDelta(m.EdgeAddedP99ms))
	fmt.Fprintf(tw, "added by the regional gateway (%s − %s):\tp50 %s,\tp99 %s\n", regionalMiss, directMiss, fmtDelta(m.RegionalAddedP50ms), fmtDelta(m.RegionalAddedP99ms))
	tw.Flush()
}

// fmtMs prints a latency to the microsecond.
func fmtMs(v float64) string { return harness.FromMs(v).Round(time.Microsecond).String() }

// fmtDelta prints a latency difference with its sign.
func fmtDelta(v float64) string {
	if v < 0 {
		return "−" + fmtMs(-v)
	}
	return "+" + fmtMs(v)
}
