package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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
	Time    time.Time       `json:"time"`
	Machine harness.Machine `json:"machine"`
	Portico string          `json:"portico"`
	// Tree is `git describe --dirty` of the working tree the driver ran
	// in; the -portico binary may have been built from another.
	Tree      string         `json:"working_tree,omitempty"`
	Wrk       string         `json:"wrk"`
	Settings  settings       `json:"settings"`
	Targets   []targetReport `json:"targets"`
	Ratios    ratios         `json:"ratios"`
	Reference reference      `json:"reference"`
}

type settings struct {
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Threads     int    `json:"threads"`
	Connections int    `json:"connections"`
	Runs        int    `json:"runs"`
}

type targetReport struct {
	Name        string      `json:"name"`
	URL         string      `json:"url"`
	Host        string      `json:"host,omitempty"`
	Runs        []runReport `json:"runs"`
	MedianRPS   float64     `json:"median_rps"`
	MedianP50ms float64     `json:"median_p50_ms"`
	MedianP99ms float64     `json:"median_p99_ms"`
}

type runReport struct {
	RPS          float64      `json:"rps"`
	Requests     int64        `json:"requests"`
	Seconds      float64      `json:"seconds"`
	P50ms        float64      `json:"p50_ms"`
	P75ms        float64      `json:"p75_ms"`
	P90ms        float64      `json:"p90_ms"`
	P99ms        float64      `json:"p99_ms"`
	SocketErrors socketErrors `json:"socket_errors"`
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
		Time:    time.Now().UTC(),
		Machine: harness.ThisMachine(),
		Portico: bin,
		Tree:    harness.GitDescribe(),
		Wrk:     wrkVersion,
		Settings: settings{
			Duration: o.duration.String(), Warmup: warmup.String(),
			Threads: o.threads, Connections: o.connections, Runs: o.runs,
		},
		Reference: reference{
			TunedStdlibProxy: targetRatio, Nginx: nginxRatio,
			Note: "performance-anchors.md §0/§3.1: gateway rps / direct Go hello rps, plain HTTP on both sides, wrk -t2 -c64 -d10s, 2 shared vCPUs",
		},
	}
	for _, t := range targets {
		tr := targetReport{Name: t.name, URL: t.url, Host: t.host}
		var rps []float64
		var p50, p99 []time.Duration
		for _, w := range t.runs {
			tr.Runs = append(tr.Runs, runReport{
				RPS: w.RPS, Requests: w.Requests, Seconds: w.Elapsed.Seconds(),
				P50ms: ms(w.P50), P75ms: ms(w.P75), P90ms: ms(w.P90), P99ms: ms(w.P99),
				SocketErrors: w.Socket,
			})
			rps = append(rps, w.RPS)
			p50 = append(p50, w.P50)
			p99 = append(p99, w.P99)
		}
		tr.MedianRPS = round(median(rps), 2)
		tr.MedianP50ms = ms(time.Duration(median(durations(p50))))
		tr.MedianP99ms = ms(time.Duration(median(durations(p99))))
		r.Targets = append(r.Targets, tr)
	}
	gw, direct, plain := r.target("portico"), r.target("direct-tls"), r.target("direct-plain")
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

// target returns the named target's results; an empty one if none.
func (r *report) target(name string) *targetReport {
	for i := range r.Targets {
		if r.Targets[i].Name == name {
			return &r.Targets[i]
		}
	}
	return &targetReport{Name: name}
}

// print writes the human-readable table.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nregional-proxy benchmark: wrk -t%d -c%d, %d × %s per target after a %s warm-up, %d CPUs (%s)\n\n",
		r.Settings.Threads, r.Settings.Connections, r.Settings.Runs, r.Settings.Duration, r.Settings.Warmup, r.Machine.CPUs, r.Wrk)
	tw := harness.Table(w)
	fmt.Fprintln(tw, "target\trps per run\tmedian rps\tmedian p50\tmedian p99\t")
	for _, t := range r.Targets {
		var runs []string
		for _, run := range t.Runs {
			runs = append(runs, commas(run.RPS))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", t.Name, strings.Join(runs, "  "), commas(t.MedianRPS),
			fmtLatency(fromMs(t.MedianP50ms)), fmtLatency(fromMs(t.MedianP99ms)))
	}
	tw.Flush()

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

// write stores the report as dir/proxybench-<UTC time>.json and returns
// the file's path.
func (r *report) write(dir string) (string, error) {
	return harness.WriteJSON(dir, "proxybench", r.Time, r)
}

// median of xs; the mean of the middle two for an even count, 0 if empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// round keeps n decimals, for readable JSON.
func round(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}

var ms = harness.Ms

func fromMs(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// fmtLatency rounds to 10 µs, the precision wrk prints.
func fmtLatency(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

// commas formats a rate as a whole number with thousands separators.
func commas(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
