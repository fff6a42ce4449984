// Command edgebench measures Portico's edge tier on a loopback cluster of
// real `portico run` processes, one region (us-east-1) with one
// control+regional node and one edge node:
//
//   - cache hits: wrk against GETs of a 1 KiB JSON answer cached at the
//     edge (every answer verified "X-Cache: Hit from edge" first), against
//     nginx proxy_cache hits of the same answer (Debian's nginx, the
//     research note's config; "X-Cache-Status: HIT" verified first) over
//     HTTPS and over plain HTTP, and against the Go backend hit directly
//     over HTTPS and plain HTTP. The headline is edge hit / nginx HTTPS hit
//     (target ≥ 1.0): both pay TLS, as Portico's edges serve HTTPS only.
//     nginx plain hit / direct plain is the research note's anchor
//     (performance-anchors.md §0 and §3.1: 1.21 and 1.03 in two sessions).
//   - the edge miss path: sequential GETs at a fixed rate over one
//     keep-alive HTTPS connection of a route whose caching is off, through
//     the edge (edge → regional over HTTP/3 with mutual TLS → backend),
//     through the regional endpoint (regional → backend) and to the
//     backend directly; the difference edge − regional at p50 and p99 is
//     what the edge hop adds.
//
// Usage (from the module root; `make bench` runs it both ways after
// `make build`):
//
//	go run ./simulations/cmd/edgebench -portico bin/portico [-pin] [-duration 5s] [-runs 5]
//
// By default every process shares every CPU, as the research note's
// headline ratios were measured; on a 2-core machine wrk itself then uses
// over a third of the CPU time, so rps moves with how the scheduler
// splits the cores between wrk and the server. With -pin the servers
// under test (the edge node, nginx with worker_processes 1, the backend)
// run on one CPU (the first the driver may use), so a Go server has
// GOMAXPROCS 1, and wrk (-threads 1 unless given) and the regional node
// on the others: each server then saturates its one core and rps is its
// per-core throughput, the note's method for per-core figures
// (performance-anchors.md §2).
//
// wrk runs with the same threads, connections and duration against every
// target, each warmed up for 2 s first; every round measures each target
// once, in an order that rotates from round to round so that the shared
// machine's drift hits all of them. wrk connects to the listener's IP
// address (which is also the TLS SNI; the certificates cover it) and sends
// the API's invoke host as the Host header, which is what Portico routes
// by.
//
// Beside rps, which wrk's own share of the CPUs makes noisy, every
// cache-hit target reports a steadier diagnostic figure: the user+system
// CPU time the serving processes used during each measured run (read
// from /proc right before and after it; Linux only) over the requests wrk
// completed. They are the edge node's `portico run`, nginx's master and
// workers, and the backend. The headline stays the rps ratio.
//
// Everything runs on loopback: the nodes on a random 127.x.y.0/24 (x in
// 100–149), the backend (this program re-executed with a hidden flag) and
// nginx on 127.0.0.1. Node configs, logs, the nginx config and cache and
// the raw wrk output live in a temporary directory (-keep keeps it). It
// prints tables and writes simulations/results/edgebench-<time>.json.
// Every process it starts is stopped when it returns, on an error and on
// Ctrl-C; on Linux the kernel stops them too if the driver itself dies
// (nginx's workers included: it runs under harness.Group.StartTree).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

const (
	// warmup is how long each wrk target is loaded before measuring.
	warmup = 2 * time.Second
	// missWarmup is how long each miss-path target is sent requests before
	// measuring (connections, the edge's HTTP/3 session to the regional
	// node).
	missWarmup = time.Second
	// pause separates wrk runs so one run's closing connections and GC
	// tail do not land in the next (the research note's script sleeps 1 s).
	pause = time.Second
)

// options are the command-line flags.
type options struct {
	harness.WrkOptions
	missRate int
	nginx    string
	ipPrefix string
	pin      bool
	place    placement // chosen from pin (choosePlacement)
}

func (o options) validate() error {
	problems := o.Problems()
	if o.missRate < 1 || o.missRate > 10000 {
		problems = append(problems, errors.New("-miss-rate must be between 1 and 10000 requests per second"))
	}
	return errors.Join(problems...)
}

// placement is where the processes run: with -pin, the servers under
// test (the edge node, nginx, the backend) on the first CPU the driver
// may use and wrk and the regional node on the others, the research
// note's per-core method (performance-anchors.md §2: server side on one
// vCPU, with GOMAXPROCS=1 and nginx worker_processes 1, wrk -t1 on the
// other). The driver itself and the rest run anywhere. Without -pin,
// everything shares every CPU.
type placement struct {
	server, rest string // CPU lists (harness.Pin); both empty when shared
}

// choosePlacement settles o.place from -pin and the CPUs the driver may
// use, and gives a pinned run one wrk thread, for the one CPU wrk has on
// a 2-core machine (the research note's pinned runs use -t1), unless the
// command line (parsed into fs) chose -threads.
func (o *options) choosePlacement(fs *flag.FlagSet) error {
	o.place = placement{}
	if !o.pin {
		return nil
	}
	cpus, err := harness.AllowedCPUs()
	if err != nil {
		return fmt.Errorf("-pin: %w", err)
	}
	if len(cpus) < 2 {
		return fmt.Errorf("-pin needs at least 2 CPUs (one for the servers, one for wrk); the driver may use %d", len(cpus))
	}
	rest := make([]string, len(cpus)-1)
	for i, c := range cpus[1:] {
		rest[i] = strconv.Itoa(c)
	}
	o.place = placement{server: strconv.Itoa(cpus[0]), rest: strings.Join(rest, ",")}
	chosen := false
	fs.Visit(func(f *flag.Flag) { chosen = chosen || f.Name == "threads" })
	if !chosen {
		o.Threads = 1
	}
	return nil
}

func (p placement) pinned() bool { return p.server != "" }

// String describes the placement for the report.
func (p placement) String() string {
	if !p.pinned() {
		return "shared: servers and wrk on every CPU"
	}
	return "pinned: servers on CPU " + p.server + ", wrk and the regional node on CPU " + p.rest
}

// nginxWorkers is worker_processes: the research note's 2, or 1 for a
// server pinned to one CPU.
func (p placement) nginxWorkers() int {
	if p.pinned() {
		return 1
	}
	return 2
}

// expected is roughly how long the load phases take.
func (o options) expected() time.Duration {
	hits := time.Duration(len(hitNames)) * (warmup + pause + time.Duration(o.Runs)*(o.Duration+pause))
	misses := time.Duration(len(missNames)) * (missWarmup + time.Duration(o.Runs)*o.Duration)
	return hits + misses
}

// budget bounds the whole benchmark: start-up, the load phases, and every
// wrk run's 30 s allowance for draining.
func (o options) budget() time.Duration { return 3*time.Minute + 2*o.expected() }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	o := newOptions(fs)
	d := harness.Driver{Flags: fs, Backend: backendHandler(),
		Usage: "usage: go run ./simulations/cmd/edgebench -portico bin/portico [flags]\n\n" +
			"Benchmarks Portico's edge cache hits against nginx proxy_cache and a Go backend (wrk),\n" +
			"and the latency the edge hop adds on a miss."}
	return d.Main(args, stdout, stderr, func() error {
		return errors.Join(o.choosePlacement(fs), o.validate())
	}, func(ctx context.Context, log *slog.Logger) error {
		return bench(ctx, *o, log, stdout)
	})
}

// newOptions registers the flags on fs, into the options it returns.
func newOptions(fs *flag.FlagSet) *options {
	o := &options{WrkOptions: harness.WrkOptions{Duration: 5 * time.Second, Runs: 5}}
	o.Register(fs, "measured rounds; each measures every target once, in rotating order (wrk for the cache hits)",
		"node configs and logs, nginx config, raw wrk output")
	fs.IntVar(&o.missRate, "miss-rate", 500, "requests per second, sent one after another, on each miss-path target")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx `binary` (make deps installs nginx-light)")
	fs.StringVar(&o.ipPrefix, "ip-prefix", "", "first three octets of the nodes' loopback addresses (default: a random free 127.x.y)")
	fs.BoolVar(&o.pin, "pin", false, "run the servers under test on one CPU and wrk (-threads 1 unless given) and the regional node on the others, for per-core figures")
	return o
}

// bench runs the whole benchmark; every process it starts has stopped
// when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	wrkPath, bin, err := o.Binaries()
	if err != nil {
		return err
	}
	nginxPath, err := findNginx(o.nginx)
	if err != nil {
		return err
	}
	resultsDir := harness.ResultsDir(o.Results)
	// 127.100-149.*, apart from clusterbench's and the node tests' ranges.
	prefix, err := harness.ChoosePrefix(o.ipPrefix, 100, layout.Nodes())
	if err != nil {
		return err
	}

	ctx, sess, err := harness.Begin(ctx, "edgebench", o.budget(), o.Keep, log, "rerun with -keep to keep the node configs and logs, the nginx config and the raw wrk output")
	if err != nil {
		return err
	}
	defer func() { sess.End(err != nil) }()
	dir, procs := sess.Dir, sess.Procs
	place := o.place
	procs.Place(place.server, harness.BackendProc, nginxProc)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	be, err := harness.StartBackend(ctx, procs, dir)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	start := time.Now()
	c, err := startCluster(ctx, procs, bin, dir, prefix, place)
	if err != nil {
		return err
	}
	if err := c.deployAPI(ctx, be.Plain); err != nil {
		return err
	}
	log.Info("cluster up, API deployed", "nodes", c.nodes, "ip_prefix", prefix, "api", c.apiID, "after", time.Since(start).Round(time.Millisecond))
	ca, err := layout.CA(dir)
	if err != nil {
		return err
	}
	ngx, err := startNginx(ctx, procs, nginxPath, dir, be.Plain, ca, place.nginxWorkers())
	if err != nil {
		return err
	}
	log.Info("nginx listening", "version", ngx.version, "plain", ngx.plain, "tls", ngx.tls)

	hits, err := hitTargets(c, ngx, be.BackendAddrs)
	if err != nil {
		return err
	}
	if err := watchServerCPU(hits, c, ngx, be, log); err != nil {
		return err
	}
	for _, t := range hits {
		// The first answer fills the cache; a new deployment and its cache
		// settings may take a moment to reach the edge.
		if err := harness.Retry(ctx, 30*time.Second, 100*time.Millisecond, func() error { return t.check(ctx) }); err != nil {
			return fmt.Errorf("%s is not answering cache hits: %w", t.wrk.Name, err)
		}
		t.probe.CloseIdleConnections()
	}
	w := &harness.Wrk{Path: wrkPath, Threads: o.Threads, Connections: o.Connections, Dir: dir, Pause: pause, CPUs: place.rest, Log: log}
	log.Info("cache-hit phase", "wrk", wrkPath, "threads", o.Threads, "connections", o.Connections, "rounds", o.Runs, "cpus", place.String(),
		"each", o.Duration, "expected", o.expected().Round(time.Second))
	before, err := c.edgeCacheCounts(ctx)
	if err != nil {
		return err
	}
	if err := measureHits(ctx, w, hits, o); err != nil {
		return err
	}
	after, err := c.edgeCacheCounts(ctx)
	if err != nil {
		return err
	}
	// Every request wrk sent the edge was a hit: its cache counted no miss,
	// and still answers hits (nothing expired or was evicted meanwhile).
	if misses := after.misses - before.misses; misses > 0 {
		return fmt.Errorf("the edge counted %.0f cache misses during the cache-hit runs, so its numbers are not all hits", misses)
	}
	for _, t := range hits {
		if err := t.check(ctx); err != nil {
			return fmt.Errorf("after the cache-hit runs: %w", err)
		}
	}
	edgeHits := after.hits - before.hits

	misses, err := missTargets(c, be.BackendAddrs)
	if err != nil {
		return err
	}
	log.Info("miss phase", "rate", o.missRate, "rounds", o.Runs, "each", o.Duration)
	if err := measureMisses(ctx, misses, o, log); err != nil {
		return err
	}

	rep := newReport(o, bin, harness.WrkVersion(ctx, wrkPath), ngx.version, c, hits, edgeHits, misses)
	return harness.Publish(stdout, resultsDir, "edgebench", rep.Time, rep)
}
