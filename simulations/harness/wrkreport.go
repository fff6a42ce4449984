package harness

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// WrkSummary is one target's wrk runs as the drivers report them: every
// run and the medians over the runs. Latencies are in milliseconds.
type WrkSummary struct {
	Name        string       `json:"name"`
	URL         string       `json:"url"`
	Host        string       `json:"host,omitempty"`
	Runs        []WrkRunJSON `json:"runs"`
	MedianRPS   float64      `json:"median_rps"`
	MedianP50ms float64      `json:"median_p50_ms"`
	MedianP99ms float64      `json:"median_p99_ms"`
	// MedianServerCPUPerRequestUs is the median over the runs that have
	// it of WrkRunJSON.ServerCPUPerRequestUs; absent if none has.
	MedianServerCPUPerRequestUs *float64 `json:"median_server_cpu_per_request_us,omitempty"`
}

// WrkRunJSON is one wrk run in a report.
type WrkRunJSON struct {
	RPS          float64      `json:"rps"`
	Requests     int64        `json:"requests"`
	Seconds      float64      `json:"seconds"`
	P50ms        float64      `json:"p50_ms"`
	P75ms        float64      `json:"p75_ms"`
	P90ms        float64      `json:"p90_ms"`
	P99ms        float64      `json:"p99_ms"`
	SocketErrors SocketErrors `json:"socket_errors"`
	// ServerCPUms and ServerCPUPerRequestUs are the CPU time the server
	// used during the run and that over the requests completed
	// (WrkResult.ServerCPU); absent when it was not measured.
	ServerCPUms           *float64 `json:"server_cpu_ms,omitempty"`
	ServerCPUPerRequestUs *float64 `json:"server_cpu_per_request_us,omitempty"`
}

// SummarizeWrk reports t's runs, in the order they ran.
func SummarizeWrk(t WrkTarget, runs []WrkResult) WrkSummary {
	s := WrkSummary{Name: t.Name, URL: t.URL, Host: t.Host}
	var rps []float64
	var p50, p99 []time.Duration
	var cpu []float64
	for _, w := range runs {
		run := WrkRunJSON{
			RPS: w.RPS, Requests: w.Requests, Seconds: w.Elapsed.Seconds(),
			P50ms: Ms(w.P50), P75ms: Ms(w.P75), P90ms: Ms(w.P90), P99ms: Ms(w.P99),
			SocketErrors: w.Socket,
		}
		if perReq, ok := w.ServerCPUPerRequest(); ok {
			run.ServerCPUms, run.ServerCPUPerRequestUs = new(Ms(w.ServerCPU)), new(Micros(perReq))
			cpu = append(cpu, *run.ServerCPUPerRequestUs)
		}
		s.Runs = append(s.Runs, run)
		rps = append(rps, w.RPS)
		p50 = append(p50, w.P50)
		p99 = append(p99, w.P99)
	}
	s.MedianRPS = Round(Median(rps), 2)
	s.MedianP50ms = Ms(MedianDuration(p50))
	s.MedianP99ms = Ms(MedianDuration(p99))
	if len(cpu) > 0 {
		s.MedianServerCPUPerRequestUs = new(Round(Median(cpu), 2))
	}
	return s
}

// WrkByName returns the summary named name in ss; an empty one if none.
func WrkByName(ss []WrkSummary, name string) *WrkSummary {
	for i := range ss {
		if ss[i].Name == name {
			return &ss[i]
		}
	}
	return &WrkSummary{Name: name}
}

// PrintWrkTable writes one row per target: rps per run, median rps, p50
// and p99, and the median server CPU time per request (cpu/req) if any
// target has it, with a line under the table telling what that is.
func PrintWrkTable(w io.Writer, ss []WrkSummary) {
	withCPU := slices.ContainsFunc(ss, func(s WrkSummary) bool { return s.MedianServerCPUPerRequestUs != nil })
	tw := Table(w)
	fmt.Fprint(tw, "target\trps per run\tmedian rps\tmedian p50\tmedian p99\t")
	if withCPU {
		fmt.Fprint(tw, "cpu/req\t")
	}
	fmt.Fprintln(tw)
	for _, t := range ss {
		var runs []string
		for _, run := range t.Runs {
			runs = append(runs, Commas(run.RPS))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t", t.Name, strings.Join(runs, "  "), Commas(t.MedianRPS),
			FmtLatency(FromMs(t.MedianP50ms)), FmtLatency(FromMs(t.MedianP99ms)))
		if withCPU {
			cpu := "—"
			if t.MedianServerCPUPerRequestUs != nil {
				cpu = FmtMicros(*t.MedianServerCPUPerRequestUs)
			}
			fmt.Fprintf(tw, "%s\t", cpu)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if withCPU {
		fmt.Fprintln(w, "cpu/req: user+system CPU time the serving processes used per request wrk completed (median over runs)")
	}
}
