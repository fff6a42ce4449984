// Command proxybench is the regional-proxy benchmark: Portico proxying to
// a minimal local Go backend, measured against that backend hit directly,
// with the same load tool (wrk) and the same connections, back to back.
// It prints requests per second, p50 and p99 per target and the ratio
// gateway/direct, the number the project's performance research note
// anchors (performance-anchors.md §0 and §3.1: on the project's 2-vCPU
// machine a tuned standard-library proxy reached about 0.33 of direct and
// nginx about 0.54).
//
// Usage (from the module root; `make bench` runs it after `make build`):
//
//	go run ./simulations/cmd/proxybench -portico bin/portico [-duration 10s] [-runs 3]
//
// The driver starts, all on 127.0.0.1:
//
//   - a backend: this program re-executed with the hidden -serve-backend
//     flag, answering GET /hello on a plain HTTP port (Portico's upstream)
//     and on an HTTPS port with a throwaway certificate;
//   - a Portico node (`portico run`) with a temporary data dir, an API
//     whose GET /hello is an HTTP_PROXY to the backend's plain port,
//     deployed to stage "bench".
//
// It then warms each target up for 2 s and runs wrk against the backend
// over HTTPS ("direct-tls") and against Portico (HTTPS, by Host header),
// alternating, -runs times, plus one run against the backend's plain port
// ("direct-plain"). The headline is portico/direct-tls: the client pays TLS
// on both paths. The research note's 0.33 and 0.54 were measured with a
// plain-HTTP client on both sides, so portico/direct-plain is printed too.
// Results also go to simulations/results/proxybench-<time>.json.
//
// Every process it starts is stopped when it returns, on an error and on
// Ctrl-C; on Linux the kernel kills them too if the driver itself dies.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

const (
	// warmup is how long each target is loaded before measuring.
	warmup = 2 * time.Second
	// pause separates wrk runs so one run's closing connections and GC
	// tail do not land in the next (the research note's script sleeps 1 s).
	pause = time.Second
)

// options are the command-line flags.
type options struct {
	portico     string
	duration    time.Duration
	connections int
	threads     int
	runs        int
	wrk         string
	keep        bool
	results     string
}

func (o options) validate() error {
	var problems []string
	if o.portico == "" {
		problems = append(problems, "-portico is required (the binary to benchmark, e.g. bin/portico from make build)")
	}
	if o.duration < time.Second || o.duration%time.Second != 0 {
		problems = append(problems, "-duration must be a whole number of seconds, at least 1s (wrk's unit)")
	}
	if o.threads < 1 {
		problems = append(problems, "-threads must be at least 1")
	}
	if o.connections < o.threads {
		problems = append(problems, "-connections must be at least -threads (each wrk thread needs one)")
	}
	if o.runs < 1 {
		problems = append(problems, "-runs must be at least 1")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// wrkRuns is how many wrk runs a benchmark makes: warm-ups, the measured
// pairs and the plain-HTTP reference run.
func (o options) wrkRuns() (warmups, measured int) { return 3, 2*o.runs + 1 }

// expected is roughly how long the load phase takes.
func (o options) expected() time.Duration {
	w, m := o.wrkRuns()
	return time.Duration(w)*(warmup+pause) + time.Duration(m)*(o.duration+pause)
}

// budget bounds the whole benchmark: start-up, the load phase, and every
// wrk run's 30 s allowance for draining.
func (o options) budget() time.Duration { return 2*time.Minute + 2*o.expected() }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.portico, "portico", "", "`path` of the portico binary to benchmark (required), e.g. bin/portico")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured wrk run, whole seconds")
	fs.IntVar(&o.connections, "connections", 64, "wrk connections (-c)")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.runs, "runs", 3, "measured runs per target; direct-tls and portico alternate")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk `binary` (make deps installs it)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (node config, logs, raw wrk output)")
	fs.StringVar(&o.results, "results", "", "`dir`ectory for the JSON results (default: simulations/results in the module root)")
	serve := fs.String("serve-backend", "", "hidden: run as the backend on PLAIN_ADDR,TLS_ADDR")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./simulations/cmd/proxybench -portico bin/portico [flags]\n\n")
		fmt.Fprintf(fs.Output(), "Benchmarks Portico's regional proxy against a minimal Go backend hit directly (wrk).\n\nflags:\n")
		visible := flag.NewFlagSet("", flag.ContinueOnError)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "serve-backend" {
				visible.Var(f.Value, f.Name, f.Usage)
			}
		})
		visible.SetOutput(fs.Output())
		visible.PrintDefaults()
	}
	if code, ok := harness.ParseFlags(fs, args); !ok {
		return code
	}

	ctx, stop := harness.NotifyContext()
	defer stop()
	if *serve != "" {
		if err := serveBackend(ctx, *serve, stdout); err != nil {
			fmt.Fprintf(stderr, "proxybench backend: %v\n", err)
			return 1
		}
		return 0
	}
	harness.SecondSignalKills(ctx, stop)

	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "proxybench: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "proxybench")
	if err := bench(ctx, o, log, stdout); err != nil {
		fmt.Fprintf(stderr, "proxybench: %v\n", err)
		return 1
	}
	return 0
}

// target is one URL under load.
type target struct {
	name  string
	url   string
	host  string // Host header; empty: the URL's
	probe *http.Client
	runs  []wrkResult
}

// check makes one request the way wrk will and wants the backend's answer.
func (t *target) check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", t.url, nil)
	if err != nil {
		return harness.Permanent(err)
	}
	if t.host != "" {
		req.Host = t.host
	}
	resp, err := t.probe.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != helloBody {
		return fmt.Errorf("GET %s (Host %q) = %d %q, want 200 %q", t.url, req.Host, resp.StatusCode, body, helloBody)
	}
	return nil
}

// bench runs the whole benchmark; every process it starts has stopped
// when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	wrkPath, err := exec.LookPath(o.wrk)
	if err != nil {
		return fmt.Errorf("wrk not found (-wrk %q): run make deps (or apt-get install wrk)", o.wrk)
	}
	bin, err := harness.Executable(o.portico)
	if err != nil {
		return err
	}
	resultsDir := harness.ResultsDir(o.results)

	ctx, cancel := context.WithTimeoutCause(ctx, o.budget(), fmt.Errorf("benchmark took longer than its %v budget", o.budget()))
	defer cancel()

	dir, cleanup, err := harness.TempDir("proxybench-", o.keep, log, "rerun with -keep to keep the node config, logs and raw wrk output")
	if err != nil {
		return err
	}
	defer func() { cleanup(err != nil) }()
	var procs harness.Group
	defer procs.Stop(5 * time.Second) // runs before the directory is removed

	be, err := startBackend(ctx, &procs, dir)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	log.Info("backend listening", "plain", be.Plain, "tls", be.TLS)
	gw, err := startPortico(ctx, &procs, bin, dir, be.Plain)
	if err != nil {
		return fmt.Errorf("portico: %w", err)
	}
	log.Info("portico ready", "regional", gw.regional, "api", gw.apiID, "host", gw.host)

	gwClient, err := gw.client()
	if err != nil {
		return err
	}
	// The direct HTTPS port has a throwaway self-signed certificate.
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	plain := &http.Client{Timeout: 10 * time.Second}
	direct := &target{name: "direct-tls", url: "https://" + be.TLS + "/hello", probe: insecure}
	portico := &target{name: "portico", url: "https://" + gw.regional + "/" + benchStage + "/hello", host: gw.host, probe: gwClient}
	directPlain := &target{name: "direct-plain", url: "http://" + be.Plain + "/hello", probe: plain}
	targets := []*target{direct, portico, directPlain}
	for _, t := range targets {
		// A new deployment may take a moment to be served.
		if err := harness.Retry(ctx, 15*time.Second, 100*time.Millisecond, func() error { return t.check(ctx) }); err != nil {
			return fmt.Errorf("%s does not serve the backend's answer: %w", t.name, err)
		}
		t.probe.CloseIdleConnections()
	}

	_, measured := o.wrkRuns()
	log.Info("load phase", "wrk", wrkPath, "threads", o.threads, "connections", o.connections,
		"measured_runs", measured, "each", o.duration, "expected", o.expected().Round(time.Second))
	m := &measurer{o: o, wrk: wrkPath, dir: dir, log: log}
	for _, t := range targets {
		if _, err := m.measure(ctx, t, "warmup", warmup); err != nil {
			return err
		}
	}
	for i := range o.runs {
		// ABBA order: drift of the shared machine hits both targets alike.
		pair := []*target{direct, portico}
		if i%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, t := range pair {
			r, err := m.measure(ctx, t, fmt.Sprintf("run%d", i+1), o.duration)
			if err != nil {
				return err
			}
			t.runs = append(t.runs, r)
		}
	}
	r, err := m.measure(ctx, directPlain, "run1", o.duration)
	if err != nil {
		return err
	}
	directPlain.runs = append(directPlain.runs, r)

	rep := newReport(o, bin, wrkVersion(ctx, wrkPath), targets)
	rep.print(stdout)
	path, err := rep.write(resultsDir)
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	return nil
}

// measurer runs wrk with the benchmark's settings and rejects runs that
// did not measure successful proxying.
type measurer struct {
	o    options
	wrk  string
	dir  string
	log  *slog.Logger
	runs int
}

func (m *measurer) measure(ctx context.Context, t *target, label string, d time.Duration) (wrkResult, error) {
	if m.runs > 0 {
		select {
		case <-ctx.Done():
			return wrkResult{}, context.Cause(ctx)
		case <-time.After(pause):
		}
	}
	m.runs++
	w := wrkRun{path: m.wrk, threads: m.o.threads, connections: m.o.connections, duration: d, url: t.url, host: t.host}
	raw := filepath.Join(m.dir, fmt.Sprintf("wrk-%s-%s.txt", t.name, label))
	r, err := w.run(ctx, raw)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", t.name, label, err)
	}
	switch {
	case r.Requests == 0:
		return r, fmt.Errorf("%s %s: wrk completed no requests", t.name, label)
	case r.Non2xx > 0:
		return r, fmt.Errorf("%s %s: %d of %d responses had status ≥ 400, so the numbers would not measure proxying", t.name, label, r.Non2xx, r.Requests)
	}
	if n := r.Socket.total(); n > 0 {
		m.log.Warn("socket errors", "target", t.name, "run", label, "connect", r.Socket.Connect,
			"read", r.Socket.Read, "write", r.Socket.Write, "timeout", r.Socket.Timeout)
	}
	m.log.Info("wrk", "target", t.name, "run", label, "rps", int64(r.RPS+0.5), "p50", fmtLatency(r.P50), "p99", fmtLatency(r.P99))
	return r, nil
}
