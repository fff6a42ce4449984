package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/portico-gw/portico/simulations/harness"
)

// report is what a benchmark prints and writes as JSON.
type report struct {
	harness.Header
	Wrk      string               `json:"wrk"`
	Settings harness.WrkSettings  `json:"settings"`
	Routes   []harness.WrkSummary `json:"routes"`
	// Credentials names the header each route was loaded with.
	Credentials map[string]string `json:"credentials"`
	// ColdStartErrors are, per route, the error statuses of the 1 s
	// unmeasured run before each measured one, which starts from idle.
	ColdStartErrors map[string][]int64 `json:"cold_start_errors"`
	Ratios          ratios             `json:"ratios"`
	Setup           setup              `json:"setup"`
}

// ratios are the access routes' medians over the open route's, from
// the same runs.
type ratios struct {
	JWTOverOpen float64 `json:"jwt_over_open"`
	KeyOverOpen float64 `json:"key_over_open"`
	// PerRound are the same ratios per measured round (each route once,
	// back to back).
	JWTPerRound []float64 `json:"jwt_over_open_per_round"`
	KeyPerRound []float64 `json:"key_over_open_per_round"`
	// Added median p50 over the open route's, in milliseconds.
	JWTAddedP50ms float64 `json:"jwt_added_p50_ms"`
	KeyAddedP50ms float64 `json:"key_added_p50_ms"`
}

// setup records what the access routes checked.
type setup struct {
	JWT         string `json:"jwt"`
	APIKey      string `json:"api_key"`
	JWKSFetches int64  `json:"jwks_fetches"`
}

func newReport(o options, bin, wrkVersion string, routes []*route, jwksFetches int64) *report {
	r := &report{
		Header:          harness.NewHeader(bin),
		Wrk:             wrkVersion,
		Settings:        o.Settings(warmup),
		Credentials:     map[string]string{},
		ColdStartErrors: map[string][]int64{},
		Setup: setup{
			JWT: fmt.Sprintf("RS256 (%d-bit key) from a JWKS on loopback; iss, aud, exp and scope %q checked; one token for every request",
				rsaBits, tokenScope),
			APIKey: fmt.Sprintf("x-api-key on a usage plan covering the stage: throttle %s/s burst %s, quota %s per DAY",
				harness.Commas(planRate), harness.Commas(planBurst), harness.Commas(planQuota)),
			JWKSFetches: jwksFetches,
		},
	}
	for _, rt := range routes {
		r.Routes = append(r.Routes, harness.SummarizeWrk(rt.wrk(), rt.runs))
		r.ColdStartErrors[rt.name] = rt.coldErrors
		if c := rt.credential(); c != "" {
			r.Credentials[rt.name] = c
		}
	}
	open, jwt, key := harness.WrkByName(r.Routes, "open"), harness.WrkByName(r.Routes, "jwt"), harness.WrkByName(r.Routes, "key")
	r.Ratios = ratios{
		JWTOverOpen:   round(ratio(jwt.MedianRPS, open.MedianRPS), 4),
		KeyOverOpen:   round(ratio(key.MedianRPS, open.MedianRPS), 4),
		JWTPerRound:   perRound(jwt, open),
		KeyPerRound:   perRound(key, open),
		JWTAddedP50ms: round(jwt.MedianP50ms-open.MedianP50ms, 3),
		KeyAddedP50ms: round(key.MedianP50ms-open.MedianP50ms, 3),
	}
	return r
}

// perRound is a's rps over b's, run by run.
func perRound(a, b *harness.WrkSummary) []float64 {
	var out []float64
	for i := range min(len(a.Runs), len(b.Runs)) {
		out = append(out, round(ratio(a.Runs[i].RPS, b.Runs[i].RPS), 4))
	}
	return out
}

// Print writes the human-readable table.
func (r *report) Print(w io.Writer) {
	fmt.Fprintf(w, "\naccess pipeline benchmark: wrk -t%d -c%d, %d × %s per route after a %s warm-up, %d CPUs (%s)\n\n",
		r.Settings.Threads, r.Settings.Connections, r.Settings.Runs, r.Settings.Duration, r.Settings.Warmup, r.Machine.CPUs, r.Wrk)
	harness.PrintWrkTable(w, r.Routes)
	fmt.Fprintf(w, "\njwt / open  %.2f  (per round: %s; p50 %+.3f ms)\n", r.Ratios.JWTOverOpen, joinRatios(r.Ratios.JWTPerRound), r.Ratios.JWTAddedP50ms)
	fmt.Fprintf(w, "key / open  %.2f  (per round: %s; p50 %+.3f ms)\n", r.Ratios.KeyOverOpen, joinRatios(r.Ratios.KeyPerRound), r.Ratios.KeyAddedP50ms)
	fmt.Fprintf(w, "jwt: %s; JWKS fetched %d time(s)\nkey: %s\n", r.Setup.JWT, r.Setup.JWKSFetches, r.Setup.APIKey)
	var cold []string
	for _, rt := range r.Routes {
		cold = append(cold, fmt.Sprintf("%s %v", rt.Name, r.ColdStartErrors[rt.Name]))
	}
	fmt.Fprintf(w, "error statuses in the 1 s before each measured run (from idle; not measured): %s\n", strings.Join(cold, ", "))
}

func joinRatios(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, " ")
}

var (
	round = harness.Round
	ratio = harness.Ratio
)
