package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// Targets, from the issue (#5, "Measure"): on the 2-core VM CoreDNS
// serving a zone file reaches about 35–45k queries/s and a minimal
// miekg/dns responder about 70–90k; Portico should reach at least twice
// CoreDNS and at least 0.8 of the minimal responder, so that choosing
// answers by latency is nearly free.
const (
	targetOverCoreDNS = 2.0
	targetOverMinimal = 0.8
	refCoreDNS        = "35–45k"
	refMinimal        = "70–90k"
)

// Target names.
const (
	porticoName = "portico"
	corednsName = "coredns"
	minimalName = "minimal"
)

// report is what a benchmark prints and writes as JSON.
type report struct {
	harness.Header
	DNSPerf  string         `json:"dnsperf"`
	CoreDNS  string         `json:"coredns"`
	Settings settings       `json:"settings"`
	Cluster  clusterReport  `json:"cluster"`
	Mix      []targetReport `json:"mix"`
	Classes  []classReport  `json:"classes,omitempty"`
	Ratios   ratios         `json:"ratios"`
	// RateLimited is how many of rrlProbe UDP queries, sent one after
	// another before the load, Portico dropped or answered truncated:
	// more than none means its response-rate limiter is on, and UDP
	// numbers measure the limiter, not the server.
	RateLimited int    `json:"portico_rate_limited_of_100"`
	Note        string `json:"note,omitempty"`
}

type settings struct {
	DNSPerf       perfSettings `json:"dnsperf"`
	Duration      string       `json:"duration"`
	Warmup        string       `json:"warmup"`
	Runs          int          `json:"runs"`
	ClassDuration string       `json:"class_duration"`
	Mix           string       `json:"mix"`
	MixLines      int          `json:"mix_lines"`
	ZoneRecords   int          `json:"zone_records"`
}

type clusterReport struct {
	IPPrefix string     `json:"ip_prefix"`
	Nodes    []string   `json:"nodes"`
	DNS      string     `json:"dns"`
	APIs     []benchAPI `json:"apis"`
}

// targetReport is one server's runs of the mix.
type targetReport struct {
	Name           string    `json:"name"`
	Addr           string    `json:"addr"`
	Runs           []runJSON `json:"runs"`
	MedianQPS      float64   `json:"median_qps"`
	MedianLatMs    float64   `json:"median_avg_latency_ms"`
	LostShare      float64   `json:"lost_share"` // all runs pooled
	ResponseBytes  float64   `json:"avg_response_bytes"`
	ResponseRcodes string    `json:"response_codes"` // of the first run
}

type runJSON struct {
	QPS       float64          `json:"qps"`
	Sent      int64            `json:"sent"`
	Completed int64            `json:"completed"`
	Lost      int64            `json:"lost"`
	Seconds   float64          `json:"seconds"`
	AvgLatMs  float64          `json:"avg_latency_ms"`
	RespBytes float64          `json:"avg_response_bytes"`
	Rcodes    map[string]int64 `json:"response_codes"`
}

// classReport is one class of names alone, one run per server.
type classReport struct {
	Class              class   `json:"class"`
	Names              int     `json:"names"`
	PorticoQPS         float64 `json:"portico_qps"`
	CoreDNSQPS         float64 `json:"coredns_qps"`
	PorticoLost        int64   `json:"portico_lost"`
	CoreDNSLost        int64   `json:"coredns_lost"`
	PorticoOverCoreDNS float64 `json:"portico_over_coredns"`
}

type ratios struct {
	// PorticoOverCoreDNS is a headline: median qps of Portico over that of
	// CoreDNS, on the mix.
	PorticoOverCoreDNS float64   `json:"portico_over_coredns"`
	PerRoundCoreDNS    []float64 `json:"portico_over_coredns_per_round"`
	TargetCoreDNS      float64   `json:"target_over_coredns"`
	MeetsCoreDNS       bool      `json:"meets_target_over_coredns"`
	// PorticoOverMinimal is the other: over the minimal responder.
	PorticoOverMinimal float64   `json:"portico_over_minimal"`
	PerRoundMinimal    []float64 `json:"portico_over_minimal_per_round"`
	TargetMinimal      float64   `json:"target_over_minimal"`
	MeetsMinimal       bool      `json:"meets_target_over_minimal"`
	CoreDNSOverMinimal float64   `json:"coredns_over_minimal"`
}

func toJSON(r perfResult) runJSON {
	return runJSON{QPS: harness.Round(r.QPS, 1), Sent: r.Sent, Completed: r.Completed, Lost: r.Lost,
		Seconds: harness.Round(r.RunTime.Seconds(), 3), AvgLatMs: harness.Ms(r.AvgLatency),
		RespBytes: r.ResponseBytes, Rcodes: r.Rcodes}
}

func summarize(t *target) targetReport {
	tr := targetReport{Name: t.name, Addr: t.addr}
	var qps, lat []float64
	var sent, lost int64
	for _, r := range t.runs {
		tr.Runs = append(tr.Runs, toJSON(r))
		qps = append(qps, r.QPS)
		lat = append(lat, float64(r.AvgLatency))
		sent += r.Sent
		lost += r.Lost
	}
	tr.MedianQPS = harness.Round(harness.Median(qps), 1)
	tr.MedianLatMs = harness.Ms(time.Duration(harness.Median(lat)))
	tr.LostShare = harness.Round(harness.Ratio(float64(lost), float64(sent)), 5)
	if len(t.runs) > 0 {
		tr.ResponseBytes = t.runs[0].ResponseBytes
		tr.ResponseRcodes = fmtRcodes(t.runs[0].Rcodes)
	}
	return tr
}

func newReport(o options, bin, perfVersion, corednsVersion string, c *porticoCluster, z zoneData, mixLen, limited int, targets []*target) *report {
	r := &report{
		Header:  harness.NewHeader(bin),
		DNSPerf: perfVersion,
		CoreDNS: corednsVersion,
		Settings: settings{
			DNSPerf: o.perf, Duration: o.duration.String(), Warmup: warmup.String(), Runs: o.runs,
			ClassDuration: o.classDuration.String(), Mix: mixDescription(), MixLines: mixLen, ZoneRecords: z.records(),
		},
		Cluster:     clusterReport{IPPrefix: c.prefix, Nodes: c.nodes, DNS: c.dns, APIs: c.apis},
		RateLimited: limited,
	}
	byName := map[string]*target{}
	for _, t := range targets {
		byName[t.name] = t
		r.Mix = append(r.Mix, summarize(t))
	}
	med := func(name string) float64 {
		for _, tr := range r.Mix {
			if tr.Name == name {
				return tr.MedianQPS
			}
		}
		return 0
	}
	perRound := func(a, b string) []float64 {
		var out []float64
		ta, tb := byName[a], byName[b]
		for i := range min(len(ta.runs), len(tb.runs)) {
			out = append(out, harness.Round(harness.Ratio(ta.runs[i].QPS, tb.runs[i].QPS), 3))
		}
		return out
	}
	x := &r.Ratios
	x.PorticoOverCoreDNS = harness.Round(harness.Ratio(med(porticoName), med(corednsName)), 3)
	x.PerRoundCoreDNS = perRound(porticoName, corednsName)
	x.TargetCoreDNS, x.MeetsCoreDNS = targetOverCoreDNS, x.PorticoOverCoreDNS >= targetOverCoreDNS
	x.PorticoOverMinimal = harness.Round(harness.Ratio(med(porticoName), med(minimalName)), 3)
	x.PerRoundMinimal = perRound(porticoName, minimalName)
	x.TargetMinimal, x.MeetsMinimal = targetOverMinimal, x.PorticoOverMinimal >= targetOverMinimal
	x.CoreDNSOverMinimal = harness.Round(harness.Ratio(med(corednsName), med(minimalName)), 3)

	p, cd := byName[porticoName], byName[corednsName]
	for _, cl := range classes {
		pr, cr := p.classRuns[cl], cd.classRuns[cl]
		if len(pr) == 0 || len(cr) == 0 {
			continue
		}
		r.Classes = append(r.Classes, classReport{
			Class: cl, Names: len(queryNames(zone, c.apis)[cl]),
			PorticoQPS: harness.Round(pr[0].QPS, 1), CoreDNSQPS: harness.Round(cr[0].QPS, 1),
			PorticoLost: pr[0].Lost, CoreDNSLost: cr[0].Lost,
			PorticoOverCoreDNS: harness.Round(harness.Ratio(pr[0].QPS, cr[0].QPS), 3),
		})
	}
	if limited > 0 && o.perf.Mode == "udp" {
		r.Note = fmt.Sprintf("Portico limited %d of %d UDP probe queries from 127.0.0.1: its response-rate limiter "+
			"(per client /24, default 20 responses/s) is on, so its UDP numbers measure the limiter, not the server; "+
			"turn it off with -portico-dns '{\"rate_limit\":{\"rate\":-1}}' (the default), or measure over TCP with -mode tcp", limited, rrlProbe)
	}
	return r
}

// mixDescription says what the mix data file asks, from mixBlock.
func mixDescription() string {
	n := map[class]int{}
	for _, c := range mixBlock {
		n[c]++
	}
	var parts []string
	for _, c := range classes {
		parts = append(parts, fmt.Sprintf("%d%% %s", 100*n[c]/len(mixBlock), c))
	}
	return strings.Join(parts, ", ") + " (all type A)"
}

// fmtRcodes prints response codes by count, largest first.
func fmtRcodes(m map[string]int64) string {
	var total int64
	for _, n := range m {
		total += n
	}
	var parts []string
	for _, rc := range []string{"NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"} {
		if n, ok := m[rc]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", rc, 100*harness.Ratio(float64(n), float64(total))))
		}
	}
	for rc, n := range m {
		switch rc {
		case "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP":
		default:
			parts = append(parts, fmt.Sprintf("%s %.0f%%", rc, 100*harness.Ratio(float64(n), float64(total))))
		}
	}
	return strings.Join(parts, " ")
}

// Print writes the human-readable tables.
func (r *report) Print(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "\nDNS benchmark: dnsperf -m %s -c %d -T %d -q %d -t %g, %d × %s per server after a %s warm-up, rotating order,\n"+
		"mix %s over %d lines, %d CPUs (dnsperf %s, %s)\n\n",
		s.DNSPerf.Mode, s.DNSPerf.Clients, s.DNSPerf.Threads, s.DNSPerf.Outstanding, s.DNSPerf.TimeoutS, s.Runs, s.Duration, s.Warmup,
		s.Mix, s.MixLines, r.Machine.CPUs, r.DNSPerf, r.CoreDNS)
	tw := harness.Table(w)
	fmt.Fprintln(tw, "server\tqps per run\tmedian qps\tavg latency\tlost\tresponse\tcodes\t")
	for _, t := range r.Mix {
		var runs []string
		for _, run := range t.Runs {
			runs = append(runs, harness.Commas(run.QPS))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f%%\t%.0f B\t%s\t\n", t.Name, strings.Join(runs, "  "), harness.Commas(t.MedianQPS),
			harness.FromMs(t.MedianLatMs).Round(time.Microsecond), 100*t.LostShare, t.ResponseBytes, t.ResponseRcodes)
	}
	tw.Flush()

	if len(r.Classes) > 0 {
		fmt.Fprintf(w, "\nper class, one %s run each:\n\n", s.ClassDuration)
		tw = harness.Table(w)
		fmt.Fprintln(tw, "class\tnames\tportico qps\tcoredns qps\tportico / coredns\tlost (portico, coredns)\t")
		for _, c := range r.Classes {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%d, %d\t\n", c.Class, c.Names, harness.Commas(c.PorticoQPS), harness.Commas(c.CoreDNSQPS),
				c.PorticoOverCoreDNS, c.PorticoLost, c.CoreDNSLost)
		}
		tw.Flush()
	}

	x := r.Ratios
	verdict := func(meets bool) string {
		switch {
		case r.Note != "":
			return "not comparable (rate-limited)"
		case meets:
			return "meets the target"
		}
		return "below the target"
	}
	rounds := func(rs []float64) string {
		var out []string
		for _, v := range rs {
			out = append(out, fmt.Sprintf("%.2f", v))
		}
		return strings.Join(out, " ")
	}
	fmt.Fprintln(w)
	tw = harness.Table(w)
	fmt.Fprintf(tw, "portico / coredns\t%.2f\t(per round: %s) — %s ≥ %.1f\n", x.PorticoOverCoreDNS, rounds(x.PerRoundCoreDNS), verdict(x.MeetsCoreDNS), x.TargetCoreDNS)
	fmt.Fprintf(tw, "portico / minimal\t%.2f\t(per round: %s) — %s ≥ %.1f\n", x.PorticoOverMinimal, rounds(x.PerRoundMinimal), verdict(x.MeetsMinimal), x.TargetMinimal)
	fmt.Fprintf(tw, "coredns / minimal\t%.2f\t(issue #5 on this VM: CoreDNS %s qps, minimal %s)\n", x.CoreDNSOverMinimal, refCoreDNS, refMinimal)
	tw.Flush()
	if r.Note != "" {
		fmt.Fprintf(w, "\nWARNING: %s\n", r.Note)
	}
}
