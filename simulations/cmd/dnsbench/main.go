// Command dnsbench measures the queries per second Portico's built-in DNS
// answers, with dnsperf (Debian's), against two references run in the
// same benchmark with the same client settings and the same query file:
//
//   - CoreDNS serving an equivalent zone file with its file plugin: the
//     same names with the same A records, SOA and NS, written from
//     Portico's own answers and checked name by name before the load.
//     CoreDNS is built once from the Go module proxy (pinned version) into
//     a cache directory outside the repository; none of its code is in
//     this one.
//   - a minimal miekg/dns responder that answers every A question with
//     one fixed record: this program re-executed with a hidden flag.
//
// The targets are those of issue #5: Portico at least 2× CoreDNS and at
// least 0.8× the minimal responder, so that choosing answers by latency
// is nearly free. Missing them is reported, not an error.
//
// Usage (from the module root; `make bench` runs it after `make build`):
//
//	go run ./simulations/cmd/dnsbench -portico bin/portico [-duration 10s] [-runs 3]
//
// Portico runs as a loopback cluster of real `portico run` processes on a
// random 127.x.y.0/24 (x in 150–199): two regions, each with one
// control+regional node and one edge node; the first node also has the
// dns role. Eight APIs (four homed in each region) are published on edges
// and regionally. The query mix asks for {apiId}.{region}.{zone} (the
// regional nodes of the home region), {apiId}.edge.{zone} (the nearest
// healthy edges, ranked by latency) and names that do not exist, all type
// A; each class is also measured alone, once per server. CoreDNS and the
// responder listen on 127.0.0.1.
//
// Every round runs dnsperf once against each server, in an order that
// rotates from round to round so that the shared machine's drift hits all
// of them; the report gives medians. Before the load the driver checks
// whether Portico limits UDP responses per client network (its default
// response-rate limiting): a limited server would be measuring its
// limiter, and the report says so. -mode tcp measures over TCP instead,
// which the limiter leaves alone (for every server alike).
//
// Node configs, logs, the zone file, the Corefile, the data files and the
// raw dnsperf output live in a temporary directory (-keep keeps it). It
// prints tables and writes simulations/results/dnsbench-<time>.json.
// Every process it starts is stopped when it returns, on an error and on
// Ctrl-C; on Linux the kernel stops them too if the driver itself dies.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

const (
	// warmup is how long each server is loaded before measuring.
	warmup = 2 * time.Second
	// pause separates dnsperf runs so one run's tail (its last answers,
	// the server's GC) does not land in the next.
	pause = time.Second
)

// options are the command-line flags.
type options struct {
	portico        string
	duration       time.Duration
	runs           int
	classDuration  time.Duration
	perf           perfSettings
	dnsperf        string
	coredns        string
	corednsVersion string
	porticoDNS     string
	ipPrefix       string
	keep           bool
	results        string
}

func (o options) validate() error {
	var problems []error
	if o.portico == "" {
		problems = append(problems, errors.New("-portico is required (the binary to benchmark, e.g. bin/portico from make build)"))
	}
	if o.duration < time.Second || o.duration%time.Second != 0 {
		problems = append(problems, errors.New("-duration must be a whole number of seconds, at least 1s (dnsperf's unit)"))
	}
	if o.classDuration < 0 || o.classDuration%time.Second != 0 {
		problems = append(problems, errors.New("-class-duration must be a whole number of seconds, 0 to skip the per-class runs"))
	}
	if o.runs < 1 {
		problems = append(problems, errors.New("-runs must be at least 1"))
	}
	if o.perf.Mode != "udp" && o.perf.Mode != "tcp" {
		problems = append(problems, errors.New("-mode must be udp or tcp"))
	}
	if o.perf.Clients < 1 || o.perf.Threads < 1 || o.perf.Outstanding < 1 {
		problems = append(problems, errors.New("-clients, -threads and -outstanding must be at least 1"))
	}
	if o.perf.Threads > o.perf.Clients {
		problems = append(problems, errors.New("-threads must be at most -clients (each dnsperf thread needs a client)"))
	}
	if o.perf.TimeoutS <= 0 {
		problems = append(problems, errors.New("-timeout must be positive"))
	}
	if _, err := o.dnsExtra(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// dnsExtra is -portico-dns decoded: fields set in the dns node's dns
// config section.
func (o options) dnsExtra() (map[string]any, error) {
	if o.porticoDNS == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(o.porticoDNS), &m); err != nil || m == nil {
		return nil, fmt.Errorf("-portico-dns must be a JSON object, such as '{\"explore\": -1}'")
	}
	return m, nil
}

// servers is how many servers are measured: portico, coredns, minimal.
const servers = 3

// expected is roughly how long the load phase takes.
func (o options) expected() time.Duration {
	d := servers * (warmup + pause)
	d += time.Duration(o.runs*servers) * (o.duration + pause)
	if o.classDuration > 0 {
		d += time.Duration(len(classes)*2) * (o.classDuration + pause) // portico and coredns
	}
	return d
}

// budget bounds the benchmark after CoreDNS is built: start-up, the load
// phase, and every dnsperf run's allowance for its last answers.
func (o options) budget() time.Duration { return 2*time.Minute + 2*o.expected() }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "-"+responderFlag {
		ctx, stop := harness.NotifyContext()
		defer stop()
		if err := serveResponder(ctx, args[1], stderr); err != nil {
			fmt.Fprintf(stderr, "dnsbench responder: %v\n", err)
			return 1
		}
		return 0
	}

	fs := flag.NewFlagSet("dnsbench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.portico, "portico", "", "`path` of the portico binary to benchmark (required), e.g. bin/portico")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured run of the query mix, whole seconds")
	fs.IntVar(&o.runs, "runs", 3, "measured rounds; each runs the mix once against every server, in rotating order")
	fs.DurationVar(&o.classDuration, "class-duration", 5*time.Second, "length of the one run per class of names (regional, edge, nxdomain) against portico and coredns; 0 skips them")
	// The defaults saturate the 2-core VM: the server and dnsperf each get
	// about one core. One client socket and one thread keep dnsperf's own
	// share small: in trials against CoreDNS and the minimal responder,
	// 2–8 sockets and 2 threads measured no more (and noisier), and 500
	// queries in flight lost queries to full socket buffers, where 100
	// keep the server busy without loss. A query unanswered after 1 s is
	// lost, so a dropped packet frees its slot quickly.
	fs.StringVar(&o.perf.Mode, "mode", "udp", "dnsperf transport: udp or tcp (-m)")
	fs.IntVar(&o.perf.Clients, "clients", 1, "dnsperf clients: sockets, or TCP connections (-c)")
	fs.IntVar(&o.perf.Threads, "threads", 1, "dnsperf threads (-T)")
	fs.IntVar(&o.perf.Outstanding, "outstanding", 100, "dnsperf queries in flight at most (-q)")
	fs.Float64Var(&o.perf.TimeoutS, "timeout", 1, "seconds after which dnsperf counts a query lost (-t)")
	fs.StringVar(&o.dnsperf, "dnsperf", "dnsperf", "dnsperf `binary` (make deps installs it)")
	fs.StringVar(&o.coredns, "coredns", "", "CoreDNS `binary` to compare with (default: build -coredns-version once into the user cache directory)")
	fs.StringVar(&o.corednsVersion, "coredns-version", corednsVersion, "CoreDNS version to build from the Go module proxy")
	// dnsperf sends everything from one address: the response-rate
	// limiter (20 answers/s per /24 by default) is turned off, as it would
	// be behind a resolver.
	fs.StringVar(&o.porticoDNS, "portico-dns", `{"rate_limit":{"rate":-1}}`, "`JSON` object of fields set in the dns node's dns config section, e.g. '{\"explore\": -1}'")
	fs.StringVar(&o.ipPrefix, "ip-prefix", "", "first three octets of the nodes' loopback addresses (default: a random free 127.x.y)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (node configs and logs, zone file, Corefile, data files, raw dnsperf output)")
	fs.StringVar(&o.results, "results", "", "`dir`ectory for the JSON results (default: simulations/results in the module root)")
	d := harness.Driver{Flags: fs,
		Usage: "usage: go run ./simulations/cmd/dnsbench -portico bin/portico [flags]\n\n" +
			"Benchmarks Portico's built-in DNS (queries/s, dnsperf) against CoreDNS serving an equivalent zone file\n" +
			"and a minimal miekg/dns responder."}
	return d.Main(args, stdout, stderr, func() error { return o.validate() }, func(ctx context.Context, log *slog.Logger) error {
		return bench(ctx, o, log, stdout)
	})
}

// target is one server under load.
type target struct {
	name      string
	addr      string
	runs      []perfResult // the mix, one per round
	classRuns map[class][]perfResult
}

// bench runs the whole benchmark; every process it starts has stopped
// when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	perfPath, err := lookDNSPerf(o.dnsperf)
	if err != nil {
		return err
	}
	bin, err := harness.Executable(o.portico)
	if err != nil {
		return err
	}
	extra, err := o.dnsExtra()
	if err != nil {
		return err
	}
	corednsBin, err := corednsBinary(ctx, log, o.coredns, o.corednsVersion)
	if err != nil {
		return err
	}
	resultsDir := harness.ResultsDir(o.results)
	// 127.150-199.*, apart from clusterbench's, edgebench's and the node
	// tests' ranges.
	prefix, err := harness.ChoosePrefix(o.ipPrefix, 150, layout.Nodes())
	if err != nil {
		return err
	}

	ctx, sess, err := harness.Begin(ctx, "dnsbench", o.budget(), o.keep, log,
		"rerun with -keep to keep the node configs and logs, the zone file, the Corefile and the raw dnsperf output")
	if err != nil {
		return err
	}
	defer func() { sess.End(err != nil) }()
	dir, procs := sess.Dir, sess.Procs
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}

	start := time.Now()
	c, err := startPortico(ctx, procs, bin, dir, prefix, extra)
	if err != nil {
		return err
	}
	if err := c.createAPIs(ctx); err != nil {
		return err
	}
	names := queryNames(zone, c.apis)
	z, err := c.awaitAnswers(ctx, names)
	if err != nil {
		return err
	}
	log.Info("portico up, APIs created and answered", "nodes", c.nodes, "ip_prefix", prefix, "dns", c.dns,
		"apis", len(c.apis), "after", time.Since(start).Round(time.Millisecond))

	// Two distinct free ports: CoreDNS's and the responder's.
	var addrs []string
	for range 10 {
		a, err := freeDNSAddr("127.0.0.1")
		if err != nil {
			return err
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
		if len(addrs) == 2 {
			break
		}
	}
	if len(addrs) < 2 {
		return errors.New("no two distinct free ports on 127.0.0.1")
	}
	if err := startCoreDNS(ctx, procs, corednsBin, dir, addrs[0], z); err != nil {
		return err
	}
	if err := sameAnswers(ctx, addrs[0], z, names); err != nil {
		return fmt.Errorf("coredns does not serve the same zone as portico: %w", err)
	}
	cdVersion := corednsVersionOf(ctx, corednsBin)
	log.Info("coredns serves the same answers", "addr", addrs[0], "version", cdVersion, "records", z.records())
	if err := startResponder(ctx, procs, dir, addrs[1]); err != nil {
		return err
	}
	log.Info("minimal responder listening", "addr", addrs[1])

	data := map[class]string{}
	mix := mixLines(names)
	mixFile := filepath.Join(dir, "queries-mix.txt")
	if err := writeLines(mixFile, mix); err != nil {
		return err
	}
	for _, cl := range classes {
		data[cl] = filepath.Join(dir, "queries-"+string(cl)+".txt")
		if err := writeLines(data[cl], classLines(names[cl])); err != nil {
			return err
		}
	}

	limited := 0
	if o.perf.Mode == "udp" {
		if limited, err = limitedOverUDP(ctx, c.dns, names[classRegional][0]); err != nil {
			return err
		}
		if limited > 0 {
			log.Warn("portico rate-limits UDP responses to this client: its UDP numbers will measure the limiter, not the server",
				"limited", limited, "of", rrlProbe)
		}
	}

	portico := &target{name: porticoName, addr: c.dns, classRuns: map[class][]perfResult{}}
	coredns := &target{name: corednsName, addr: addrs[0], classRuns: map[class][]perfResult{}}
	minimal := &target{name: minimalName, addr: addrs[1], classRuns: map[class][]perfResult{}}
	all := []*target{portico, coredns, minimal}
	perf := &dnsperf{Path: perfPath, Settings: o.perf, Dir: dir, Pause: pause, Log: log}
	log.Info("load phase", "dnsperf", perfPath, "mode", o.perf.Mode, "clients", o.perf.Clients, "threads", o.perf.Threads,
		"outstanding", o.perf.Outstanding, "rounds", o.runs, "each", o.duration, "expected", o.expected().Round(time.Second))
	for _, t := range all {
		if _, err := perf.measure(ctx, t.name, "warmup", t.addr, mixFile, warmup); err != nil {
			return err
		}
	}
	for i := range o.runs {
		for j := range all {
			t := all[(i+j)%len(all)]
			r, err := perf.measure(ctx, t.name, fmt.Sprintf("run%d", i+1), t.addr, mixFile, o.duration)
			if err != nil {
				return err
			}
			t.runs = append(t.runs, r)
		}
	}
	if o.classDuration > 0 {
		for _, cl := range classes {
			for _, t := range []*target{portico, coredns} {
				r, err := perf.measure(ctx, t.name, string(cl), t.addr, data[cl], o.classDuration)
				if err != nil {
					return err
				}
				t.classRuns[cl] = append(t.classRuns[cl], r)
			}
		}
	}

	rep := newReport(o, bin, dnsperfVersion(ctx, perfPath), cdVersion, c, z, len(mix), limited, all)
	return harness.Publish(stdout, resultsDir, "dnsbench", rep.Time, rep)
}
