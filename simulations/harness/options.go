package harness

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"time"
)

// WrkOptions are the command-line options every driver that loads
// targets with wrk has: the binary under test, wrk's settings, and where
// the driver's files go. Drivers embed it in their own options.
type WrkOptions struct {
	Portico     string
	Duration    time.Duration
	Connections int
	Threads     int
	Runs        int
	Wrk         string
	Keep        bool
	Results     string
}

// Register adds -portico, -duration, -connections, -threads, -runs, -wrk,
// -keep and -results to fs. The defaults of -duration and -runs are the
// values o holds; runsHelp and keepHelp say what a run is and what the
// temporary directory holds for this driver.
func (o *WrkOptions) Register(fs *flag.FlagSet, runsHelp, keepHelp string) {
	fs.StringVar(&o.Portico, "portico", "", "`path` of the portico binary to benchmark (required), e.g. bin/portico")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of each measured run, whole seconds")
	fs.IntVar(&o.Connections, "connections", 64, "wrk connections (-c)")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.Runs, "runs", o.Runs, runsHelp)
	fs.StringVar(&o.Wrk, "wrk", "wrk", "wrk `binary` (make deps installs it)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory ("+keepHelp+")")
	fs.StringVar(&o.Results, "results", "", "`dir`ectory for the JSON results (default: simulations/results in the module root)")
}

// WrkMain is Main for a driver whose options are WrkOptions alone: it
// registers them on d.Flags with the defaults -duration 10s and -runs 3
// (see Register for runsHelp and keepHelp), checks them and calls bench
// with them.
func (d Driver) WrkMain(args []string, stdout, stderr io.Writer, runsHelp, keepHelp string, bench func(context.Context, WrkOptions, *slog.Logger) error) int {
	o := WrkOptions{Duration: 10 * time.Second, Runs: 3}
	o.Register(d.Flags, runsHelp, keepHelp)
	return d.Main(args, stdout, stderr, func() error { return errors.Join(o.Problems()...) }, func(ctx context.Context, log *slog.Logger) error {
		return bench(ctx, o, log)
	})
}

// Problems lists what is wrong with the options, each naming its flag.
func (o WrkOptions) Problems() []error {
	var problems []error
	if o.Portico == "" {
		problems = append(problems, errors.New("-portico is required (the binary to benchmark, e.g. bin/portico from make build)"))
	}
	if o.Duration < time.Second || o.Duration%time.Second != 0 {
		problems = append(problems, errors.New("-duration must be a whole number of seconds, at least 1s (wrk's unit)"))
	}
	if o.Threads < 1 {
		problems = append(problems, errors.New("-threads must be at least 1"))
	}
	if o.Connections < o.Threads {
		problems = append(problems, errors.New("-connections must be at least -threads (each wrk thread needs one)"))
	}
	if o.Runs < 1 {
		problems = append(problems, errors.New("-runs must be at least 1"))
	}
	return problems
}

// Binaries finds wrk and the portico binary the options name.
func (o WrkOptions) Binaries() (wrk, portico string, err error) {
	if wrk, err = LookWrk(o.Wrk); err != nil {
		return "", "", err
	}
	if portico, err = Executable(o.Portico); err != nil {
		return "", "", err
	}
	return wrk, portico, nil
}

// WrkSettings are the wrk settings as a report states them.
type WrkSettings struct {
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Threads     int    `json:"threads"`
	Connections int    `json:"connections"`
	Runs        int    `json:"runs"`
}

// Settings states o's wrk settings, with the warm-up the driver uses.
func (o WrkOptions) Settings(warmup time.Duration) WrkSettings {
	return WrkSettings{Duration: o.Duration.String(), Warmup: warmup.String(), Threads: o.Threads, Connections: o.Connections, Runs: o.Runs}
}
