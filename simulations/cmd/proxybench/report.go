package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/portico-gw/portico/simulations/harness"
)

// Reference ratios, gateway rps / direct Go hello rps, from the research
// note (performance-anchors.md §0 "Calibration ratios", session 1): wrk
// -t2 -c64 -d10s, 3 runs, 2 shared vCPUs, plain HTTP client and backend.
const (
	targetRatio = 0.33 // Go httputil.ReverseProxy with BufferPool and GOGC=400
	nginxRatio  = 0.54 // nginx 1.22 proxy_pass with upstream keepalive
)

// report is what a benchmark prints and writes as JSON.
type report struct {
	harness.Header
	Wrk       string               `json:"wrk"`
	Settings  harness.WrkSettings  `json:"settings"`
	Targets   []harness.WrkSummary `json:"targets"`
	Ratios    ratios               `json:"ratios"`
	Reference reference            `json:"reference"`
}

type ratios struct {
	// PorticoDirectTLS is the headline: median rps through Portico over
	// median rps of the backend over HTTPS.
	PorticoDirectTLS float64 `json:"portico_over_direct_tls"`
	// PerPair are the same ratio per back-to-back pair of runs.
	PerPair            []float64 `json:"portico_over_direct_tls_per_pair"`
	PorticoDirectPlain float64   `json:"portico_over_direct_plain"`
	Target             float64   `json:"target"`
	MeetsTarget        bool      `json:"meets_target"`
}

type reference struct {
	TunedStdlibProxy float64 `json:"tuned_stdlib_proxy"`
	Nginx            float64 `json:"nginx"`
	Note             string  `json:"note"`
}

func newReport(o options, bin, wrkVersion string, targets []*target) *report {
	r := &report{
		Header:   harness.NewHeader(bin),
		Wrk:      wrkVersion,
		Settings: o.Settings(warmup),
		Reference: reference{
			TunedStdlibProxy: targetRatio, Nginx: nginxRatio,
			Note: "performance-anchors.md §0/§3.1: gateway rps / direct Go hello rps, plain HTTP on both sides, wrk -t2 -c64 -d10s, 2 shared vCPUs",
		},
	}
	for _, t := range targets {
		r.Targets = append(r.Targets, harness.SummarizeWrk(t.wrk(), t.runs))
	}
	gw, direct, plain := harness.WrkByName(r.Targets, "portico"), harness.WrkByName(r.Targets, "direct-tls"), harness.WrkByName(r.Targets, "direct-plain")
	r.Ratios = ratios{
		PorticoDirectTLS:   round(ratio(gw.MedianRPS, direct.MedianRPS), 4),
		PorticoDirectPlain: round(ratio(gw.MedianRPS, plain.MedianRPS), 4),
		Target:             targetRatio,
	}
	r.Ratios.MeetsTarget = r.Ratios.PorticoDirectTLS >= targetRatio
	for i := range min(len(gw.Runs), len(direct.Runs)) {
		r.Ratios.PerPair = append(r.Ratios.PerPair, round(ratio(gw.Runs[i].RPS, direct.Runs[i].RPS), 4))
	}
	return r
}

// Print writes the human-readable table.
func (r *report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nregional-proxy benchmark: wrk -t%d -c%d, %d × %s per target after a %s warm-up, %d CPUs (%s)\n\n",
		r.Settings.Threads, r.Settings.Connections, r.Settings.Runs, r.Settings.Duration, r.Settings.Warmup, r.Machine.CPUs, r.Wrk)
	harness.PrintWrkTable(w, r.Targets)

	verdict := "below the target"
	if r.Ratios.MeetsTarget {
		verdict = "meets the target"
	}
	var pairs []string
	for _, p := range r.Ratios.PerPair {
		pairs = append(pairs, fmt.Sprintf("%.2f", p))
	}
	fmt.Fprintf(w, "\nportico / direct-tls    %.2f  (per pair: %s) — %s ≥ %.2f\n",
		r.Ratios.PorticoDirectTLS, strings.Join(pairs, " "), verdict, r.Ratios.Target)
	fmt.Fprintf(w, "portico / direct-plain  %.2f  (one direct-plain run)\n", r.Ratios.PorticoDirectPlain)
	fmt.Fprintf(w, "reference: tuned stdlib proxy %.2f, nginx %.2f of direct — plain-HTTP figures (client, proxy and backend),\n"+
		"           same machine, performance-anchors.md §0/§3.1; compare ratios, not absolute rps\n",
		r.Reference.TunedStdlibProxy, r.Reference.Nginx)
}

var (
	round = harness.Round
	ratio = harness.Ratio
)
