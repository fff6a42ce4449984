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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
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
	harness.WrkOptions
}

// wrkRuns is how many wrk runs a benchmark makes: warm-ups, the measured
// pairs and the plain-HTTP reference run.
func (o options) wrkRuns() (warmups, measured int) { return 3, 2*o.Runs + 1 }

// expected is roughly how long the load phase takes.
func (o options) expected() time.Duration {
	w, m := o.wrkRuns()
	return time.Duration(w)*(warmup+pause) + time.Duration(m)*(o.Duration+pause)
}

// budget bounds the whole benchmark: start-up, the load phase, and every
// wrk run's 30 s allowance for draining.
func (o options) budget() time.Duration { return 2*time.Minute + 2*o.expected() }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	d := harness.Driver{Flags: flag.NewFlagSet("proxybench", flag.ContinueOnError), Backend: harness.HelloHandler(helloBody),
		Usage: "usage: go run ./simulations/cmd/proxybench -portico bin/portico [flags]\n\n" +
			"Benchmarks Portico's regional proxy against a minimal Go backend hit directly (wrk)."}
	return d.WrkMain(args, stdout, stderr, "measured runs per target; direct-tls and portico alternate", "node config, logs, raw wrk output",
		func(ctx context.Context, o harness.WrkOptions, log *slog.Logger) error {
			return bench(ctx, options{o}, log, stdout)
		})
}

// target is one URL under load.
type target struct {
	name  string
	url   string
	host  string // Host header; empty: the URL's
	probe *http.Client
	runs  []harness.WrkResult
}

// wrk is the target as wrk loads it.
func (t *target) wrk() harness.WrkTarget {
	return harness.WrkTarget{Name: t.name, URL: t.url, Host: t.host}
}

// bench runs the whole benchmark; every process it starts has stopped
// when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	ctx, b, err := benchNode.StartBench(ctx, o.WrkOptions, o.budget(), log, benchDefinition, benchStage)
	if err != nil {
		return err
	}
	defer func() { b.End(err != nil) }()
	wrkPath, bin, dir, be, gw := b.Wrk, b.Bin, b.Dir, b.Backend, b.Gateway

	// The direct HTTPS port has a throwaway self-signed certificate.
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	plain := &http.Client{Timeout: 10 * time.Second}
	direct := &target{name: "direct-tls", url: "https://" + be.TLS + "/hello", probe: insecure}
	portico := &target{name: "portico", url: "https://" + gw.Regional + "/" + benchStage + "/hello", host: gw.Host, probe: b.Client}
	directPlain := &target{name: "direct-plain", url: "http://" + be.Plain + "/hello", probe: plain}
	targets := []*target{direct, portico, directPlain}
	for _, t := range targets {
		// A new deployment may take a moment to be served.
		if err := harness.Retry(ctx, 15*time.Second, 100*time.Millisecond, func() error {
			return harness.CheckHello(ctx, t.probe, t.wrk(), helloBody)
		}); err != nil {
			return fmt.Errorf("%s does not serve the backend's answer: %w", t.name, err)
		}
		t.probe.CloseIdleConnections()
	}

	_, measured := o.wrkRuns()
	log.Info("load phase", "wrk", wrkPath, "threads", o.Threads, "connections", o.Connections,
		"measured_runs", measured, "each", o.Duration, "expected", o.expected().Round(time.Second))
	m := &harness.Wrk{Path: wrkPath, Threads: o.Threads, Connections: o.Connections, Dir: dir, Pause: pause, Log: log}
	for _, t := range targets {
		if _, err := m.Measure(ctx, t.wrk(), "warmup", warmup); err != nil {
			return err
		}
	}
	for i := range o.Runs {
		// ABBA order: drift of the shared machine hits both targets alike.
		pair := []*target{direct, portico}
		if i%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, t := range pair {
			r, err := m.Measure(ctx, t.wrk(), fmt.Sprintf("run%d", i+1), o.Duration)
			if err != nil {
				return err
			}
			t.runs = append(t.runs, r)
		}
	}
	r, err := m.Measure(ctx, directPlain.wrk(), "run1", o.Duration)
	if err != nil {
		return err
	}
	directPlain.runs = append(directPlain.runs, r)

	rep := newReport(o, bin, harness.WrkVersion(ctx, wrkPath), targets)
	return harness.Publish(stdout, b.Results, "proxybench", rep.Time, rep)
}
