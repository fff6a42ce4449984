package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// runKind is what a wrk run is for. A warm-up or a prime tolerates error
// statuses (it logs and returns them), a measured run fails on any; a
// measured run follows its prime without the pause.
type runKind int

const (
	warmupRun runKind = iota
	primeRun
	measuredRun
)

// measure waits w.Pause (unless it is the first run or a measured run),
// then loads r for d (whole seconds) and returns wrk's summary. A run
// that completed no request is an error, and so is a measured run with
// any error status (wrk counts statuses of 400 and above). It blocks for
// the run; wrk is killed 30 s after d is up, or when ctx ends.
func measure(ctx context.Context, w *harness.Wrk, r *route, label string, d time.Duration, kind runKind) (harness.WrkResult, error) {
	if kind != measuredRun {
		if err := w.Wait(ctx); err != nil {
			return harness.WrkResult{}, err
		}
	}
	t := r.wrk()
	res, raw, err := w.Run(ctx, t, label, d)
	if err != nil {
		return res, err
	}
	switch {
	case res.Non2xx > 0 && kind == measuredRun:
		return res, fmt.Errorf("%s %s: %d of %d responses had status ≥ 400 (raw output: %s, kept with -keep), so the numbers would not measure successful answers",
			t.Name, label, res.Non2xx, res.Requests, filepath.Base(raw))
	case res.Non2xx > 0:
		w.Log.Info("error statuses before measuring", "target", t.Name, "run", label, "errors", res.Non2xx, "requests", res.Requests)
	}
	w.LogSocketErrors(t, label, res)
	if kind != primeRun {
		w.LogResult(t, label, res)
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
