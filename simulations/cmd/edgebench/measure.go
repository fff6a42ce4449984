package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// Target names, in the order the first round measures them and the
// report lists them.
const (
	edgeHit    = "portico-edge-hit"
	nginxTLS   = "nginx-tls-hit"
	directTLS  = "direct-tls"
	nginxPlain = "nginx-plain-hit"
	direct     = "direct-plain"

	edgeMiss     = "portico-edge-miss"
	regionalMiss = "portico-regional"
	directMiss   = "direct-tls"
)

var (
	hitNames  = []string{edgeHit, nginxTLS, directTLS, nginxPlain, direct}
	missNames = []string{edgeMiss, regionalMiss, directMiss}
)

// wrkConns is how many connections a probe keeps to a wrk target.
const wrkConns = 2

// hitTargets are the cache-hit comparison's targets, named as hitNames.
// Probes of Portico's and nginx's TLS ports check the certificate for the
// IP address wrk connects to, as wrk sends it as the SNI.
func hitTargets(c *benchCluster, ngx *nginxServer, be harness.BackendAddrs) ([]*hitTarget, error) {
	edgeIP, _, _ := net.SplitHostPort(c.edge)
	nginxIP, _, _ := net.SplitHostPort(ngx.tls)
	edge, err := newClient(c.caFile, edgeIP, wrkConns)
	if err != nil {
		return nil, err
	}
	nginxTLSClient, err := newClient(c.caFile, nginxIP, wrkConns)
	if err != nil {
		return nil, err
	}
	insecure, err := newClient("", "", wrkConns)
	if err != nil {
		return nil, err
	}
	return []*hitTarget{
		{wrk: harness.WrkTarget{Name: edgeHit, URL: "https://" + c.edge + "/" + stage + cachedPath, Host: c.edgeHost()},
			probe: edge, cacheHeader: "X-Cache", hit: "Hit from edge"},
		{wrk: harness.WrkTarget{Name: nginxTLS, URL: "https://" + ngx.tls + cachedPath},
			probe: nginxTLSClient, cacheHeader: "X-Cache-Status", hit: "HIT"},
		{wrk: harness.WrkTarget{Name: directTLS, URL: "https://" + be.TLS + cachedPath}, probe: insecure},
		{wrk: harness.WrkTarget{Name: nginxPlain, URL: "http://" + ngx.plain + cachedPath},
			probe: insecure, cacheHeader: "X-Cache-Status", hit: "HIT"},
		{wrk: harness.WrkTarget{Name: direct, URL: "http://" + be.Plain + cachedPath}, probe: insecure},
	}, nil
}

// watchServerCPU has wrk read, around every run, the CPU time of the
// processes serving each cache-hit target (harness.TreeCPU): the edge
// node's `portico run`, nginx's supervisor with the master and workers
// under it, the backend. Where the driver cannot read its own CPU time
// (not Linux, no /proc) it logs why and leaves the figure out.
func watchServerCPU(targets []*hitTarget, c *benchCluster, ngx *nginxServer, be *harness.Backend, log *slog.Logger) error {
	if _, err := harness.TreeCPU(os.Getpid()); err != nil {
		log.Warn("server CPU per request will not be reported", "err", err)
		return nil
	}
	servers := map[string]*harness.Proc{
		edgeHit:    c.edgeProc,
		nginxTLS:   ngx.proc,
		nginxPlain: ngx.proc,
		directTLS:  be.Proc,
		direct:     be.Proc,
	}
	for _, t := range targets {
		p := servers[t.wrk.Name]
		if p == nil {
			return fmt.Errorf("%s: found no process serving it to read the CPU time of", t.wrk.Name)
		}
		pid := p.Cmd.Process.Pid
		t.wrk.ServerCPU = func() (time.Duration, error) { return harness.TreeCPU(pid) }
	}
	return nil
}

// measureHits warms every target up, then measures each once per round;
// round i starts at target i, so each target takes every position.
func measureHits(ctx context.Context, w *harness.Wrk, targets []*hitTarget, o options) error {
	for _, t := range targets {
		if _, err := w.Measure(ctx, t.wrk, "warmup", warmup); err != nil {
			return err
		}
	}
	for i := range o.Runs {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			r, err := w.Measure(ctx, t.wrk, fmt.Sprintf("run%d", i+1), o.Duration)
			if err != nil {
				return err
			}
			t.runs = append(t.runs, r)
		}
	}
	return nil
}

// missTargets are the miss-path comparison's targets, named as
// missNames: freshPath through the edge and through the regional
// endpoint, and the backend over HTTPS. Each has one connection whose
// SNI is the invoke host, as a real client's.
func missTargets(c *benchCluster, be harness.BackendAddrs) ([]*missTarget, error) {
	edge, err := newClient(c.caFile, c.edgeHost(), 1)
	if err != nil {
		return nil, err
	}
	regional, err := newClient(c.caFile, c.regionalHost(), 1)
	if err != nil {
		return nil, err
	}
	backend, err := newClient("", "", 1)
	if err != nil {
		return nil, err
	}
	return []*missTarget{
		{name: edgeMiss, url: "https://" + c.edge + "/" + stage + freshPath, host: c.edgeHost(), client: edge},
		{name: regionalMiss, url: "https://" + c.regional + "/" + stage + freshPath, host: c.regionalHost(), client: regional},
		{name: directMiss, url: "https://" + be.TLS + freshPath, client: backend},
	}, nil
}

// measureMisses warms every target up, then paces requests at each for
// the run's duration, once per round, in rotating order.
func measureMisses(ctx context.Context, targets []*missTarget, o options, log *slog.Logger) error {
	for _, t := range targets {
		if _, err := t.pace(ctx, o.missRate, missWarmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	for i := range o.Runs {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			lat, err := t.pace(ctx, o.missRate, o.Duration)
			if err != nil {
				return fmt.Errorf("round %d: %w", i+1, err)
			}
			t.runs = append(t.runs, lat)
			s := summarize(lat)
			log.Info("miss path", "target", t.name, "run", i+1, "requests", s.Requests,
				"p50", harness.FmtLatency(harness.FromMs(s.P50ms)), "p99", harness.FmtLatency(harness.FromMs(s.P99ms)), "x_cache", t.xcache)
		}
	}
	return nil
}
