// Command clusterbench measures the cluster numbers the project tracks on
// a 3-region cluster of real `portico run` processes on loopback:
//
//   - config propagation: for each of -deploys deployments, sent to the
//     leader one after the other, the time from the admin API's answer
//     (the entry is committed and applied on the leader) until every node —
//     control, regional and edge — reports a served config index
//     (GET /v1/status state_index, polled every 2 ms) at least the
//     deployment's. Target: p99 ≤ 1 s on loopback.
//   - leader failover: -kills times, SIGKILL the Raft leader and time until
//     a write (a stage-variables PUT) is accepted through a surviving
//     control node; then restart the killed node on its data directory and
//     wait until the cluster has settled before the next kill. For
//     reference, hashicorp/raft's default timeouts give 2–2.9 s here.
//
// Usage (from the module root):
//
//	go build -o bin/portico . && go run ./simulations/cmd/clusterbench -portico bin/portico [-deploys 20] [-kills 5]
//
// The cluster is `portico dev --regions 3 --edges 1` laid out as separate
// processes, so a leader can be killed: in each of us-east-1, eu-west-1
// and ap-southeast-1 one control+regional node and one edge node, each on
// its own address of a random 127.x.y.0/24 (the dev ports, a shared CA and
// gossip key, Raft heartbeat and election timeouts of 500 ms). Node
// configs and logs live in a temporary directory (-keep keeps it).
//
// It prints a table and writes simulations/results/clusterbench-<time>.json.
// Every process it starts is stopped when it returns, on an error and on
// Ctrl-C; on Linux the kernel kills them too if the driver itself dies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// options are the command-line flags.
type options struct {
	portico  string
	deploys  int
	kills    int
	ipPrefix string
	keep     bool
	results  string
}

func (o options) validate() error {
	var problems []error
	if o.portico == "" {
		problems = append(problems, errors.New("-portico is required (the binary to run, e.g. bin/portico from make build)"))
	}
	if o.deploys < 1 {
		problems = append(problems, errors.New("-deploys must be at least 1"))
	}
	if o.kills < 0 {
		problems = append(problems, errors.New("-kills must not be negative"))
	}
	return errors.Join(problems...)
}

// budget bounds the whole run: start-up, each deploy's 30 s allowance and
// each kill's election, restart and settling.
func (o options) budget() time.Duration {
	return 3*time.Minute + time.Duration(o.deploys)*30*time.Second + time.Duration(o.kills)*4*time.Minute
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clusterbench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.portico, "portico", "", "`path` of the portico binary (required), e.g. bin/portico")
	fs.IntVar(&o.deploys, "deploys", 20, "deploys whose propagation is timed")
	fs.IntVar(&o.kills, "kills", 5, "leader SIGKILLs whose failover is timed")
	fs.StringVar(&o.ipPrefix, "ip-prefix", "", "first three octets of the nodes' loopback addresses (default: a random free 127.x.y)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (node configs, data, logs)")
	fs.StringVar(&o.results, "results", "", "`dir`ectory for the JSON results (default: simulations/results in the module root)")
	d := harness.Driver{Flags: fs,
		Usage: "usage: go run ./simulations/cmd/clusterbench -portico bin/portico [flags]\n\n" +
			"Measures config propagation and leader failover on a 3-region cluster of portico processes."}
	return d.Main(args, stdout, stderr, func() error { return o.validate() }, func(ctx context.Context, log *slog.Logger) error {
		return bench(ctx, o, log, stdout)
	})
}

// bench runs the whole benchmark; every process it starts has stopped
// when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	bin, err := harness.Executable(o.portico)
	if err != nil {
		return err
	}
	resultsDir := harness.ResultsDir(o.results)
	// 127.50-99.*, apart from the ranges the node tests and edgebench draw from.
	prefix, err := harness.ChoosePrefix(o.ipPrefix, 50, benchLayout.Nodes())
	if err != nil {
		return err
	}
	ctx, sess, err := harness.Begin(ctx, "clusterbench", o.budget(), o.keep, log, "rerun with -keep to keep the node configs, data and logs")
	if err != nil {
		return err
	}
	defer func() { sess.End(err != nil) }()
	dir := sess.Dir
	c, err := newCluster(bin, dir, prefix, sess.Procs, log)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.startAll(ctx); err != nil {
		return err
	}
	if err := c.settled(ctx, 2*time.Minute, true); err != nil {
		return fmt.Errorf("cluster did not form: %w", err)
	}
	leader, _, err := c.leader(ctx)
	if err != nil {
		return err
	}
	log.Info("cluster formed", "nodes", len(c.nodes), "leader", leader.name(), "ip_prefix", prefix, "after", time.Since(start).Round(time.Millisecond))

	var applied struct {
		API struct {
			ID string `json:"id"`
		} `json:"api"`
	}
	actx, acancel := context.WithTimeout(ctx, 15*time.Second)
	err = leader.client.Do(actx, "POST", "/v1/apply", []byte(benchAPI), &applied)
	acancel()
	if err != nil {
		return fmt.Errorf("apply the bench API: %w", err)
	}
	apiID := applied.API.ID
	if apiID == "" {
		return errors.New("POST /v1/apply: the answer has no api.id")
	}
	if _, _, err := deploy(ctx, c, apiID, "clusterbench: first deployment"); err != nil {
		return err
	}
	if err := c.settled(ctx, time.Minute, true); err != nil {
		return err
	}

	props, err := measurePropagation(ctx, c, apiID, o.deploys, log)
	if err != nil {
		return fmt.Errorf("propagation: %w", err)
	}
	var fails []failoverRun
	for k := range o.kills {
		run, err := measureFailover(ctx, c, apiID, k+1, log)
		if err != nil {
			return fmt.Errorf("failover %d: %w", k+1, err)
		}
		fails = append(fails, run)
	}

	rep := newReport(bin, prefix, c, props, fails)
	rep.print(stdout)
	path, err := rep.write(resultsDir)
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	return nil
}
