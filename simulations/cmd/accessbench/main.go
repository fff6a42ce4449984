// Command accessbench measures what the access pipeline costs: requests
// per second through a route with a JWT authorizer and through a route
// that needs an API key on a usage plan, each as a ratio to an open
// route of the same API, measured in the same run with the same load
// tool (wrk) and the same connections.
//
// Usage (from the module root; `make bench` runs it after `make build`):
//
//	go run ./simulations/cmd/accessbench -portico bin/portico [-duration 10s] [-runs 3]
//
// The driver starts, all on 127.0.0.1:
//
//   - a backend: this program re-executed with the hidden -serve-backend
//     flag, answering GET /hello (harness.StartBackend);
//   - an identity provider inside the driver: one 2048-bit RSA key, its
//     JWK Set served over plain HTTP, and one RS256 token (iss, aud, sub,
//     scope, exp ten years ahead) minted with it;
//   - a Portico node (`portico run`) with a temporary data dir and one
//     REST API deployed to stage "bench" whose three GET resources all
//     proxy to the backend's /hello: /open (authorization NONE), /jwt
//     (a JWT authorizer on the provider's JWKS, scope required) and /key
//     (api_key_required);
//   - through the admin API, a usage plan covering the stage, with a
//     throttle and a DAY quota far above what the node can serve, and an
//     API key on it.
//
// Before measuring it checks that each route serves the backend's answer
// with its credential (Authorization: Bearer for /jwt, x-api-key for
// /key) and refuses the request without it, so the benchmark cannot
// measure fast error answers. It then warms each route up for 2 s and
// runs wrk against the three routes in rounds, rotating the order, -runs
// times. Each measured run follows, without a pause, a 1 s unmeasured
// run of the same route (the prime): an API key's quota budget is leased
// per 50 ms round and lapses after 1 s idle, so a key route loaded from
// idle answers 429 THROTTLED until the first lease arrives. The errors
// of the primes are reported (cold_start_errors); a measured run with any
// error status fails the benchmark. It prints rps, p50 and p99 per route
// (medians over the runs) and jwt/open and key/open. Results also go to
// simulations/results/accessbench-<time>.json.
//
// One token serves every request, so after the first one the JWT route
// measures Portico's verified-token cache and the claim checks, not an
// RSA verification per request; the JWKS is fetched once (the report
// counts the fetches).
//
// Every process it starts is stopped when it returns, on an error and on
// Ctrl-C; on Linux the kernel kills them too if the driver itself dies.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

const (
	// warmup is how long each route is loaded before measuring.
	warmup = 2 * time.Second
	// pause separates wrk runs so one run's closing connections and GC
	// tail do not land in the next (as proxybench).
	pause = time.Second
	// prime loads a route, unmeasured, right before each measured run of
	// it. The node leases quota budget for an API key per 50 ms round and
	// a lease lapses after 1 s idle: a key route loaded from idle answers
	// 429 THROTTLED for a round or two while the lease is on its way. The
	// prime takes that start-up (and the previous run's tail); its error
	// statuses are reported as cold_start_errors.
	prime = time.Second
)

// options are the command-line flags.
type options struct {
	harness.WrkOptions
}

// routeCount is the number of routes under load: open, jwt, key.
const routeCount = 3

// expected is roughly how long the load phase takes.
func (o options) expected() time.Duration {
	return routeCount*(warmup+pause) + time.Duration(routeCount*o.Runs)*(pause+prime+o.Duration)
}

// budget bounds the whole benchmark: start-up, the load phase, and every
// wrk run's 30 s allowance for draining.
func (o options) budget() time.Duration { return 2*time.Minute + 2*o.expected() }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	d := harness.Driver{Flags: flag.NewFlagSet("accessbench", flag.ContinueOnError), Backend: harness.HelloHandler(helloBody),
		Usage: "usage: go run ./simulations/cmd/accessbench -portico bin/portico [flags]\n\n" +
			"Benchmarks a JWT route and an API-key route against an open route of the same Portico API (wrk)."}
	return d.WrkMain(args, stdout, stderr, "measured rounds; each loads open, jwt and key once, in rotating order", "node config, logs, raw wrk output",
		func(ctx context.Context, o harness.WrkOptions, log *slog.Logger) error {
			return bench(ctx, options{o}, log, stdout)
		})
}

// bench runs the whole benchmark; every process and server it starts has
// stopped when it returns.
func bench(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) (err error) {
	idp, err := newProvider()
	if err != nil {
		return err
	}
	token, err := idp.mint(tokenClaims(time.Now()))
	if err != nil {
		return err
	}
	jwks, err := serveJWKS(idp.jwks())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := jwks.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	log.Info("jwks serving", "url", jwks.URL)

	ctx, b, err := benchNode.StartBench(ctx, o.WrkOptions, o.budget(), log, apiDefinition(jwks.URL), benchStage)
	if err != nil {
		return err
	}
	defer func() { b.End(err != nil) }()
	wrkPath, bin, dir, gw, client := b.Wrk, b.Bin, b.Dir, b.Gateway, b.Client
	planID, apiKey, err := createKey(ctx, gw)
	if err != nil {
		return fmt.Errorf("portico: %w", err)
	}
	log.Info("api key ready", "plan", planID)

	base := "https://" + gw.Regional + "/" + benchStage
	open := &route{name: "open", url: base + "/open", host: gw.Host}
	jwt := &route{name: "jwt", url: base + "/jwt", host: gw.Host, header: "Authorization: Bearer " + token,
		denied: []int{401, 403}}
	key := &route{name: "key", url: base + "/key", host: gw.Host, header: "x-api-key: " + apiKey,
		denied: []int{401, 403}}
	routes := []*route{open, jwt, key}
	for _, r := range routes {
		// A new deployment, plan or key may take a moment to be served.
		if err := harness.Retry(ctx, 15*time.Second, 100*time.Millisecond, func() error { return r.check(ctx, client) }); err != nil {
			if r == jwt {
				return fmt.Errorf("route %s (the JWKS was fetched %d times): %w", r.name, jwks.Fetches(), err)
			}
			return fmt.Errorf("route %s: %w", r.name, err)
		}
	}
	client.CloseIdleConnections()

	log.Info("load phase", "wrk", wrkPath, "threads", o.Threads, "connections", o.Connections,
		"measured_runs", routeCount*o.Runs, "each", o.Duration, "expected", o.expected().Round(time.Second))
	w := &harness.Wrk{Path: wrkPath, Threads: o.Threads, Connections: o.Connections, Dir: dir, Pause: pause, Log: log}
	for _, r := range routes {
		log.Info("wrk command", "route", r.name, "args", redact(w.Args(r.wrk(), o.Duration)))
		if _, err := measure(ctx, w, r, "warmup", warmup, warmupRun); err != nil {
			return err
		}
	}
	for i := range o.Runs {
		for _, r := range runOrder(routes, i) {
			label := fmt.Sprintf("run%d", i+1)
			p, err := measure(ctx, w, r, label+"-prime", prime, primeRun)
			if err != nil {
				return err
			}
			r.coldErrors = append(r.coldErrors, p.Non2xx)
			res, err := measure(ctx, w, r, label, o.Duration, measuredRun)
			if err != nil {
				return err
			}
			r.runs = append(r.runs, res)
		}
	}

	rep := newReport(o, bin, harness.WrkVersion(ctx, wrkPath), routes, jwks.Fetches())
	return harness.Publish(stdout, b.Results, "accessbench", rep.Time, rep)
}
