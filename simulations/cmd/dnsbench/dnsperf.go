package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// perfResult is what one dnsperf run reports.
type perfResult struct {
	Sent, Completed, Lost int64
	QPS                   float64       // "Queries per second:"
	RunTime               time.Duration // "Run time (s):"
	AvgLatency            time.Duration // "Average Latency (s):"
	RequestBytes          float64       // "Average packet size: request N, response M"
	ResponseBytes         float64
	Rcodes                map[string]int64 // "Response codes: NOERROR 9 (90.00%), NXDOMAIN 1 (10.00%)"
}

// LostShare is the share of sent queries that got no answer in time.
func (r perfResult) LostShare() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent)
}

// parseDNSPerf reads the statistics dnsperf 2.x prints at the end of a
// run. Sent, completed, lost and queries per second are required; the
// other fields are filled when present.
func parseDNSPerf(out string) (perfResult, error) {
	r := perfResult{Rcodes: map[string]int64{}}
	var seen struct{ sent, completed, lost, qps bool }
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		first := val
		if f := strings.Fields(val); len(f) > 0 {
			first = f[0]
		}
		var err error
		switch key {
		case "Queries sent":
			r.Sent, err = strconv.ParseInt(first, 10, 64)
			seen.sent = true
		case "Queries completed":
			r.Completed, err = strconv.ParseInt(first, 10, 64)
			seen.completed = true
		case "Queries lost":
			r.Lost, err = strconv.ParseInt(first, 10, 64)
			seen.lost = true
		case "Queries per second":
			r.QPS, err = strconv.ParseFloat(first, 64)
			seen.qps = true
		case "Run time (s)":
			r.RunTime, err = seconds(first)
		case "Average Latency (s)":
			r.AvgLatency, err = seconds(first)
		case "Average packet size":
			// "request 44, response 143"
			f := strings.Fields(strings.ReplaceAll(val, ",", " "))
			for i := 0; i+1 < len(f) && err == nil; i += 2 {
				var v float64
				v, err = strconv.ParseFloat(f[i+1], 64)
				switch f[i] {
				case "request":
					r.RequestBytes = v
				case "response":
					r.ResponseBytes = v
				}
			}
		case "Response codes":
			// "NOERROR 53364 (66.67%), NXDOMAIN 26681 (33.33%)"
			for part := range strings.SplitSeq(val, ",") {
				f := strings.Fields(part)
				if len(f) < 2 {
					continue
				}
				var n int64
				if n, err = strconv.ParseInt(f[1], 10, 64); err != nil {
					break
				}
				r.Rcodes[f[0]] += n
			}
		}
		if err != nil {
			return perfResult{}, fmt.Errorf("dnsperf output: %q: %w", key, err)
		}
	}
	if !seen.sent || !seen.completed || !seen.lost || !seen.qps {
		return perfResult{}, errors.New("dnsperf output has no statistics (Queries sent, completed, lost, per second)")
	}
	return r, nil
}

// seconds parses a number of seconds such as "0.002135".
func seconds(s string) (time.Duration, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(v * float64(time.Second)), nil
}

// perfSettings are dnsperf's client settings, the same for every server.
type perfSettings struct {
	Mode        string  `json:"mode"`        // -m: udp or tcp
	Clients     int     `json:"clients"`     // -c: sockets (TCP connections)
	Threads     int     `json:"threads"`     // -T
	Outstanding int     `json:"outstanding"` // -q: queries in flight at most
	TimeoutS    float64 `json:"timeout_s"`   // -t: a query is lost after this long
}

// args are the dnsperf arguments for a run of d against addr with data
// file data.
func (s perfSettings) args(addr, data string, d time.Duration) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return []string{
		"-m", s.Mode, "-s", host, "-p", port, "-d", data,
		"-l", strconv.Itoa(int(d / time.Second)),
		"-c", strconv.Itoa(s.Clients), "-T", strconv.Itoa(s.Threads), "-q", strconv.Itoa(s.Outstanding),
		"-t", strconv.FormatFloat(s.TimeoutS, 'f', -1, 64),
	}, nil
}

// dnsperf runs dnsperf; each run's output is kept in Dir.
type dnsperf struct {
	Path     string
	Settings perfSettings
	Dir      string
	Pause    time.Duration // before every run, so the previous one's tail does not land in it
	Log      *slog.Logger
}

// measure runs dnsperf for d against addr with the data file data and
// parses its statistics; name and label name the output file.
func (p *dnsperf) measure(ctx context.Context, name, label, addr, data string, d time.Duration) (perfResult, error) {
	select {
	case <-time.After(p.Pause):
	case <-ctx.Done():
		return perfResult{}, context.Cause(ctx)
	}
	args, err := p.Settings.args(addr, data, d)
	if err != nil {
		return perfResult{}, err
	}
	// dnsperf stops sending after d, then waits up to the timeout for the
	// last answers.
	rctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(rctx, p.Path, args...)
	cmd.SysProcAttr = harness.SysProcAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	file := filepath.Join(p.Dir, fmt.Sprintf("dnsperf-%s-%s.txt", name, label))
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		return perfResult{}, err
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return perfResult{}, context.Cause(ctx)
		}
		return perfResult{}, fmt.Errorf("dnsperf against %s (%s): %w: %s", name, label, runErr, harness.Tail(out.String(), 10))
	}
	r, err := parseDNSPerf(out.String())
	if err != nil {
		return perfResult{}, fmt.Errorf("dnsperf against %s (%s): %w: %s", name, label, err, harness.Tail(out.String(), 10))
	}
	if r.Completed == 0 {
		return perfResult{}, fmt.Errorf("dnsperf against %s (%s): no query was answered", name, label)
	}
	p.Log.Info("dnsperf", "target", name, "run", label, "qps", int64(r.QPS), "lost", r.Lost, "avg_latency", r.AvgLatency.Round(time.Microsecond))
	return r, nil
}

// dnsperfVersion is "2.10.0", or "" if dnsperf does not say.
func dnsperfVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Version "); ok {
			return v
		}
	}
	return ""
}

// lookDNSPerf finds the dnsperf binary.
func lookDNSPerf(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("dnsperf not found (-dnsperf %q): run make deps (or apt-get install dnsperf)", name)
	}
	return p, nil
}
