package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk run reports.
type WrkResult struct {
	Requests int64         // "N requests in ..."
	Elapsed  time.Duration // "... in 10.00s"
	RPS      float64       // "Requests/sec:"
	P50      time.Duration // latency distribution (--latency)
	P75      time.Duration
	P90      time.Duration
	P99      time.Duration
	Socket   SocketErrors
	Non2xx   int64 // "Non-2xx or 3xx responses:" (wrk counts status > 399)
	// ServerCPU is the CPU time the server used during the run, when
	// HasServerCPU: Measure read WrkTarget.ServerCPU before and after it.
	ServerCPU    time.Duration
	HasServerCPU bool
}

// ServerCPUPerRequest is ServerCPU divided by the requests completed;
// ok is false when the run has no ServerCPU.
func (r WrkResult) ServerCPUPerRequest() (d time.Duration, ok bool) {
	if !r.HasServerCPU || r.Requests <= 0 {
		return 0, false
	}
	return r.ServerCPU / time.Duration(r.Requests), true
}

// SocketErrors is wrk's "Socket errors:" line; wrk omits it when all are 0.
type SocketErrors struct {
	Connect int64 `json:"connect"`
	Read    int64 `json:"read"`
	Write   int64 `json:"write"`
	Timeout int64 `json:"timeout"`
}

func (s SocketErrors) Total() int64 { return s.Connect + s.Read + s.Write + s.Timeout }

// ParseWrk reads the summary wrk 4.x prints for one run started with
// --latency. It needs the Requests/sec line and the 50% and 99% lines of
// the latency distribution; everything else is optional. It does not judge
// the run (zero requests, errors): the caller does.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	percentiles := map[string]*time.Duration{"50%": &r.P50, "75%": &r.P75, "90%": &r.P90, "99%": &r.P99}
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 0) { // also NaN, which ParseFloat accepts
				return r, fmt.Errorf("wrk output: bad Requests/sec %q", f[1])
			}
			r.RPS = v
			seen["rps"] = true
		case len(f) == 2 && percentiles[f[0]] != nil:
			d, err := parseWrkTime(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk output: %s latency: %w", f[0], err)
			}
			*percentiles[f[0]] = d
			seen[f[0]] = true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "425873 requests in 10.01s, 56.86MB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || n < 0 {
				return r, fmt.Errorf("wrk output: bad request count %q", f[0])
			}
			d, err := parseWrkTime(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk output: run length: %w", err)
			}
			r.Requests, r.Elapsed = n, d
		case strings.HasPrefix(line, "Socket errors:"):
			s := &r.Socket
			if _, err := fmt.Sscanf(line, "Socket errors: connect %d, read %d, write %d, timeout %d",
				&s.Connect, &s.Read, &s.Write, &s.Timeout); err != nil {
				return r, fmt.Errorf("wrk output: bad socket errors line %q: %w", line, err)
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			if _, err := fmt.Sscanf(line, "Non-2xx or 3xx responses: %d", &r.Non2xx); err != nil {
				return r, fmt.Errorf("wrk output: bad non-2xx line %q: %w", line, err)
			}
		}
	}
	if !seen["rps"] {
		return r, errors.New("wrk output has no Requests/sec line")
	}
	if !seen["50%"] || !seen["99%"] {
		return r, errors.New("wrk output has no latency distribution (was --latency given?)")
	}
	return r, nil
}

// parseWrkTime reads a time as wrk prints it: two decimals and one of the
// units us, ms, s, m, h (wrk's src/units.c). Those happen to be units
// time.ParseDuration accepts, so only the sign and NaN need care.
func parseWrkTime(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad wrk time %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative wrk time %q", s)
	}
	return d, nil
}

// WrkTarget is one URL under load.
type WrkTarget struct {
	Name string // names the raw output file and the log lines
	URL  string
	Host string // Host header; empty: the URL's
	// Headers are more request headers ("Name: value"), sent after Host.
	// They may carry credentials: errors then name the URL, not the
	// whole command.
	Headers []string
	// ServerCPU, if set, returns the CPU time the server under load has
	// used so far (TreeCPU of its process); Measure reads it right before
	// and right after the run (WrkResult.ServerCPU).
	ServerCPU func() (time.Duration, error)
}

// Get makes one GET request to t the way wrk will (Host and Headers)
// and returns the status, the header and up to 64 KiB of the body. An
// error that a retry cannot mend (a malformed URL) is Permanent.
func (t WrkTarget) Get(ctx context.Context, c *http.Client) (status int, header http.Header, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", t.URL, nil)
	if err != nil {
		return 0, nil, "", Permanent(err)
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	for _, h := range t.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, nil, "", fmt.Errorf("GET %s: read the answer: %w", t.URL, err)
	}
	return resp.StatusCode, resp.Header, string(b), nil
}

// HeaderNames are the names of t's Headers, never their values (which
// may be credentials).
func (t WrkTarget) HeaderNames() []string {
	var names []string
	for _, h := range t.Headers {
		name, _, _ := strings.Cut(h, ":")
		names = append(names, strings.TrimSpace(name))
	}
	return names
}

// CheckHello makes one request to t the way wrk will (Get) and wants 200
// with body want, the backend's hello: a target answering errors would
// otherwise be measured as a fast one. The error names the headers sent,
// not their values.
func CheckHello(ctx context.Context, c *http.Client, t WrkTarget, want string) error {
	status, _, body, err := t.Get(ctx, c)
	if err != nil {
		return err
	}
	if status != http.StatusOK || body != want {
		var host, with string
		if t.Host != "" {
			host = fmt.Sprintf(" (Host %q)", t.Host)
		}
		if len(t.Headers) > 0 {
			with = " with " + strings.Join(t.HeaderNames(), ", ")
		}
		return fmt.Errorf("GET %s%s%s = %d %q, want 200 %q", t.URL, host, with, status, body, want)
	}
	return nil
}

// Wrk runs wrk with one benchmark's settings, the same for every target,
// and rejects runs that did not measure successful answers. It is not
// safe for concurrent use: runs are meant to follow one another.
type Wrk struct {
	Path        string
	Threads     int
	Connections int
	Dir         string        // each run's raw output goes to Dir/wrk-<target>-<label>.txt
	Pause       time.Duration // before every run but the first
	CPUs        string        // when set, wrk runs pinned to this CPU list (see Pin)
	Log         *slog.Logger
	runs        int
}

// Args are the wrk arguments for a run of d against t, as the research
// note's appendix runs it: wrk -t2 -c64 -d10s --latency URL.
func (w *Wrk) Args(t WrkTarget, d time.Duration) []string {
	a := []string{
		fmt.Sprintf("-t%d", w.Threads),
		fmt.Sprintf("-c%d", w.Connections),
		fmt.Sprintf("-d%ds", int(d/time.Second)),
		"--latency",
	}
	if t.Host != "" {
		a = append(a, "-H", "Host: "+t.Host)
	}
	for _, h := range t.Headers {
		a = append(a, "-H", h)
	}
	return append(a, t.URL)
}

// Measure waits Pause (unless it is the first run), then loads t for d
// (whole seconds, at least 1s) and returns wrk's summary. A run that
// completed no request or got any status of 400 or more is an error;
// socket errors are logged, and so is a failure to read t.ServerCPU,
// which leaves the result without it. It blocks for the run (plus wrk's
// own drain); wrk is killed 30 s after d is up, or when ctx ends.
func (w *Wrk) Measure(ctx context.Context, t WrkTarget, label string, d time.Duration) (WrkResult, error) {
	if err := w.Wait(ctx); err != nil {
		return WrkResult{}, err
	}
	before, hasBefore := w.serverCPU(t, label)
	r, _, err := w.Run(ctx, t, label, d)
	if err != nil {
		return r, err
	}
	if after, ok := w.serverCPU(t, label); ok && hasBefore {
		r.ServerCPU, r.HasServerCPU = after-before, true
	}
	if r.Non2xx > 0 {
		return r, fmt.Errorf("%s %s: %d of %d responses had status ≥ 400, so the numbers would not measure successful answers", t.Name, label, r.Non2xx, r.Requests)
	}
	w.LogSocketErrors(t, label, r)
	w.LogResult(t, label, r)
	return r, nil
}

// Wait waits Pause unless no run has been made yet; it returns ctx's
// cause if ctx ends first. Measure calls it; a caller of Run calls it
// before the runs that want the pause.
func (w *Wrk) Wait(ctx context.Context) error {
	if w.runs == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(w.Pause):
		return nil
	}
}

// Run loads t for d (whole seconds, at least 1s) at once and returns
// wrk's summary and the file holding its raw output. A run that
// completed no request is an error; the statuses are the caller's to
// judge, and to log with LogSocketErrors and LogResult. It blocks for the
// run; wrk is killed 30 s after d is up, or when ctx ends.
func (w *Wrk) Run(ctx context.Context, t WrkTarget, label string, d time.Duration) (WrkResult, string, error) {
	w.runs++
	raw := filepath.Join(w.Dir, fmt.Sprintf("wrk-%s-%s.txt", t.Name, label))
	args := w.Args(t, d)
	cmdline := strings.Join(args, " ")
	if len(t.Headers) > 0 {
		cmdline = t.URL
	}
	r, err := w.run(ctx, args, cmdline, d, raw)
	if err != nil {
		return r, raw, fmt.Errorf("%s %s: %w", t.Name, label, err)
	}
	if r.Requests == 0 {
		return r, raw, fmt.Errorf("%s %s: wrk completed no requests", t.Name, label)
	}
	return r, raw, nil
}

// serverCPU reads t.ServerCPU, if set; a failure is logged.
func (w *Wrk) serverCPU(t WrkTarget, label string) (time.Duration, bool) {
	if t.ServerCPU == nil {
		return 0, false
	}
	cpu, err := t.ServerCPU()
	if err != nil {
		w.Log.Warn("cannot read the server's CPU time", "target", t.Name, "run", label, "err", err)
		return 0, false
	}
	return cpu, true
}

// LogSocketErrors logs a warning if the run had socket errors.
func (w *Wrk) LogSocketErrors(t WrkTarget, label string, r WrkResult) {
	if n := r.Socket.Total(); n > 0 {
		w.Log.Warn("socket errors", "target", t.Name, "run", label, "connect", r.Socket.Connect,
			"read", r.Socket.Read, "write", r.Socket.Write, "timeout", r.Socket.Timeout)
	}
}

// LogResult logs the run's rate and latencies, and its server CPU time
// per request if it has it.
func (w *Wrk) LogResult(t WrkTarget, label string, r WrkResult) {
	args := []any{"target", t.Name, "run", label, "rps", int64(r.RPS + 0.5), "p50", FmtLatency(r.P50), "p99", FmtLatency(r.P99)}
	if cpu, ok := r.ServerCPUPerRequest(); ok {
		args = append(args, "cpu_per_req", FmtMicros(Micros(cpu)))
	}
	w.Log.Info("wrk", args...)
}

// run runs wrk with args for a run of d, writes its output to rawFile and
// parses the summary. Errors name the command as cmdline.
func (w *Wrk) run(ctx context.Context, args []string, cmdline string, d time.Duration, rawFile string) (WrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, w.Path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = SysProcAttr()
	if err := Pin(cmd, w.CPUs); err != nil {
		return WrkResult{}, err
	}
	err := cmd.Run()
	if werr := os.WriteFile(rawFile, out.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	if ctx.Err() != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w", cmdline, context.Cause(ctx))
	}
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w\n%s", cmdline, err, Tail(out.String(), 10))
	}
	r, err := ParseWrk(out.String())
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, Tail(out.String(), 10))
	}
	return r, nil
}

// LookWrk finds the wrk binary (the -wrk option).
func LookWrk(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("wrk not found (-wrk %q): run make deps (or apt-get install wrk)", name)
	}
	return path, nil
}

// WrkVersion returns wrk's banner ("wrk 4.1.0 [epoll]"), or "" if it
// cannot tell. wrk -v prints it and exits with status 1.
func WrkVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	first, _, _ = strings.Cut(first, " Copyright")
	if !strings.HasPrefix(first, "wrk ") {
		return ""
	}
	return strings.TrimSpace(first)
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
