package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/simulations/harness"
)

// loader runs wrk with the benchmark's settings, as harness.Wrk does, and
// also sends each route's credential header, which harness.WrkTarget has
// no field for. It is not safe for concurrent use.
type loader struct {
	harness.Wrk // Path, Threads, Connections, Dir, Pause, Log
	runs        int
}

// wrkArgs are harness.Wrk's arguments for a run of d against t, with the
// extra headers before the URL.
func wrkArgs(w *harness.Wrk, t harness.WrkTarget, headers []string, d time.Duration) []string {
	args := w.Args(t, d)
	url := args[len(args)-1]
	args = slices.Clone(args[:len(args)-1])
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	return append(args, url)
}

// runKind is what a wrk run is for. A warm-up or a prime tolerates error
// statuses (it logs and returns them), a measured run fails on any; a
// measured run follows its prime without the pause.
type runKind int

const (
	warmupRun runKind = iota
	primeRun
	measuredRun
)

// measure waits Pause (unless it is the first run or a measured run),
// then loads r for d (whole seconds) and returns wrk's summary. A run
// that completed no request is an error, and so is a measured run with
// any error status (wrk counts statuses of 400 and above). It blocks for
// the run; wrk is killed 30 s after d is up, or when ctx ends.
func (l *loader) measure(ctx context.Context, r *route, label string, d time.Duration, kind runKind) (harness.WrkResult, error) {
	if l.runs > 0 && kind != measuredRun {
		select {
		case <-ctx.Done():
			return harness.WrkResult{}, context.Cause(ctx)
		case <-time.After(l.Pause):
		}
	}
	l.runs++
	t := r.wrk()
	args := wrkArgs(&l.Wrk, t, r.headers(), d)
	raw := filepath.Join(l.Dir, fmt.Sprintf("wrk-%s-%s.txt", t.Name, label))
	res, err := l.run(ctx, args, d, raw)
	if err != nil {
		return res, fmt.Errorf("%s %s: %w", t.Name, label, err)
	}
	switch {
	case res.Requests == 0:
		return res, fmt.Errorf("%s %s: wrk completed no requests", t.Name, label)
	case res.Non2xx > 0 && kind == measuredRun:
		return res, fmt.Errorf("%s %s: %d of %d responses had status ≥ 400 (raw output: %s, kept with -keep), so the numbers would not measure successful answers%s",
			t.Name, label, res.Non2xx, res.Requests, filepath.Base(raw), throttleHint(res))
	case res.Non2xx > 0:
		l.Log.Info("error statuses before measuring", "target", t.Name, "run", label, "errors", res.Non2xx, "requests", res.Requests)
	}
	if n := res.Socket.Total(); n > 0 {
		l.Log.Warn("socket errors", "target", t.Name, "run", label, "connect", res.Socket.Connect,
			"read", res.Socket.Read, "write", res.Socket.Write, "timeout", res.Socket.Timeout)
	}
	if kind != primeRun {
		l.Log.Info("wrk", "target", t.Name, "run", label, "rps", int64(res.RPS+0.5),
			"p50", harness.FmtLatency(res.P50), "p99", harness.FmtLatency(res.P99))
	}
	return res, nil
}

// throttleHint explains a run whose successful answers came at the
// node group's default throttle, which every stage of a cluster shares
// and a node config cannot raise: a closed-loop load above it is
// answered 429 THROTTLED. It is empty for other runs.
func throttleHint(res harness.WrkResult) string {
	if res.Elapsed <= 0 || res.Non2xx <= 0 {
		return ""
	}
	// A full bucket admits its burst on top of the rate once per run.
	ok := float64(res.Requests-res.Non2xx) / res.Elapsed.Seconds()
	rate, burst := float64(configs.DefaultRateLimit), float64(configs.DefaultBurstLimit)
	hi := rate + burst/res.Elapsed.Seconds()
	if ok < 0.9*rate || ok > 1.1*hi {
		return ""
	}
	return fmt.Sprintf("; the %.0f successful answers per second match the node group's default throttle "+
		"(configs.DefaultRateLimit %.0f/s, burst %.0f), so the others were most likely 429 THROTTLED: "+
		"the node serves more than that limit admits", ok, rate, burst)
}

// run runs wrk with args, writes its output to rawFile and parses it.
func (l *loader) run(ctx context.Context, args []string, d time.Duration, rawFile string) (harness.WrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, l.Path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = harness.SysProcAttr()
	err := cmd.Run()
	if werr := os.WriteFile(rawFile, out.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	// The arguments carry the credentials: error messages name the URL only.
	if ctx.Err() != nil {
		return harness.WrkResult{}, fmt.Errorf("wrk %s: %w", args[len(args)-1], context.Cause(ctx))
	}
	if err != nil {
		return harness.WrkResult{}, fmt.Errorf("wrk %s: %w\n%s", args[len(args)-1], err, harness.Tail(out.String(), 10))
	}
	res, err := harness.ParseWrk(out.String())
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, harness.Tail(out.String(), 10))
	}
	return res, nil
}

// redact replaces the values of credential headers in wrk arguments, for
// logs.
func redact(args []string) string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if out[i-1] != "-H" {
			continue
		}
		if name, _, ok := strings.Cut(out[i], ":"); ok && !strings.EqualFold(name, "Host") {
			out[i] = name + ": …"
		}
	}
	return strings.Join(out, " ")
}
