package harness

import (
	"strings"
	"testing"
	"time"
)

// TestSummarizeWrkServerCPU checks the server CPU time per request: per
// run where measured, the median over those runs, and the table's
// cpu/req column, and the line telling what it is, only when some target
// has it.
func TestSummarizeWrkServerCPU(t *testing.T) {
	t.Parallel()
	run := func(requests int64, cpu time.Duration, has bool) WrkResult {
		return WrkResult{RPS: float64(requests) / 5, Requests: requests, Elapsed: 5 * time.Second,
			P50: time.Millisecond, P99: 3 * time.Millisecond, ServerCPU: cpu, HasServerCPU: has}
	}
	s := SummarizeWrk(WrkTarget{Name: "edge"}, []WrkResult{
		run(100000, 2340*time.Millisecond, true), // 23.4 µs
		run(100000, 0, false),
		run(200000, 5*time.Second, true), // 25 µs
	})
	if r := s.Runs[0]; r.ServerCPUms == nil || *r.ServerCPUms != 2340 || r.ServerCPUPerRequestUs == nil || *r.ServerCPUPerRequestUs != 23.4 {
		t.Errorf("run 1: server CPU %v ms, %v µs per request; want 2340 and 23.4", r.ServerCPUms, r.ServerCPUPerRequestUs)
	}
	if r := s.Runs[1]; r.ServerCPUms != nil || r.ServerCPUPerRequestUs != nil {
		t.Errorf("run 2 has a server CPU time, but none was measured")
	}
	if m := s.MedianServerCPUPerRequestUs; m == nil || *m != 24.2 {
		t.Errorf("median server CPU per request %v, want 24.2", m)
	}
	plain := SummarizeWrk(WrkTarget{Name: "direct"}, []WrkResult{run(100000, 0, false)})
	if plain.MedianServerCPUPerRequestUs != nil {
		t.Errorf("median server CPU per request %v, want none", *plain.MedianServerCPUPerRequestUs)
	}

	var b strings.Builder
	PrintWrkTable(&b, []WrkSummary{s, plain})
	if out := b.String(); !strings.Contains(out, "cpu/req") || !strings.Contains(out, "24.2µs") || !strings.Contains(out, "—") ||
		!strings.Contains(out, "\ncpu/req: user+system CPU time") {
		t.Errorf("table with server CPU:\n%s", out)
	}
	b.Reset()
	PrintWrkTable(&b, []WrkSummary{plain})
	if out := b.String(); strings.Contains(out, "cpu/req") {
		t.Errorf("table without server CPU has the column:\n%s", out)
	}
}
