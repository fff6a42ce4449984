package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/simulations/harness"
)

const testJWKSURL = "http://127.0.0.1:40000/.well-known/jwks.json"

// TestAPIDefinition checks that the API the driver applies decodes
// strictly and validates, and that its three routes carry the access
// settings the benchmark means to compare.
func TestAPIDefinition(t *testing.T) {
	t.Parallel()
	a, err := configs.ParseAPI([]byte(apiDefinition(testJWKSURL)))
	if err != nil {
		t.Fatalf("ParseAPI: %v\n%s", err, apiDefinition(testJWKSURL))
	}
	a.ApplyDefaults(nodeRegion)
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	az := a.FindAuthorizer("jwt")
	if az == nil || az.Type != configs.AuthorizerJWT || az.Issuer != tokenIssuer ||
		!slices.Equal(az.Audiences, []string{tokenAudience}) || az.JWKSURI != testJWKSURL {
		t.Errorf("authorizer jwt = %+v", az)
	}
	got := map[string]configs.Access{}
	for _, op := range a.Operations() {
		if op.Method != "GET" {
			t.Errorf("%s %s: want GET only", op.Method, op.Path)
		}
		if op.Integration.Type != "HTTP_PROXY" || op.Integration.URI != "http://${stageVariables.backend}/hello" {
			t.Errorf("%s: integration %s %s, want HTTP_PROXY to the backend's /hello", op.Path, op.Integration.Type, op.Integration.URI)
		}
		got[op.Path] = op.Access
	}
	want := map[string]configs.Access{
		"/open": {Authorization: configs.AuthNone},
		"/jwt":  {Authorization: configs.AuthJWT, Authorizer: "jwt", AuthorizationScopes: []string{tokenScope}},
		"/key":  {APIKeyRequired: true},
	}
	if len(got) != len(want) {
		t.Fatalf("operations %v, want %d", got, len(want))
	}
	for path, w := range want {
		g, ok := got[path]
		if !ok || g.Authorization != w.Authorization || g.Authorizer != w.Authorizer ||
			!slices.Equal(g.AuthorizationScopes, w.AuthorizationScopes) || g.APIKeyRequired != w.APIKeyRequired {
			t.Errorf("%s access = %+v, want %+v", path, g, w)
		}
	}
}

// TestNodeConfig checks that the node's config decodes strictly as the
// node reads it, with the driver's identity. (That every listener is on
// the address given is harness.SingleNode's to assert: see
// TestSingleNodeConfig there.)
func TestNodeConfig(t *testing.T) {
	t.Parallel()
	addrs := []string{"127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003", "127.0.0.1:40004", "127.0.0.1:40005"}
	b, err := json.Marshal(benchNode.Config(t.TempDir(), addrs))
	if err != nil {
		t.Fatal(err)
	}
	n, err := configs.LoadNode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !n.HasRole("control") || !n.HasRole("regional") || n.Region != nodeRegion || n.Zone != nodeZone || n.Name != "accessbench-1" {
		t.Errorf("node config %+v", n)
	}
}

// TestToken checks that Portico's own JWT verifier, set up as the
// authorizer in apiDefinition, accepts the token the driver mints with
// the key its JWKS publishes, and that the route's scope is on it.
func TestToken(t *testing.T) {
	t.Parallel()
	p, err := newProvider()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := p.mint(tokenClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewJWT(auth.JWTConfig{Issuer: tokenIssuer, Audiences: []string{tokenAudience}, JWKS: p.jwks(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.Principal != tokenSubject {
		t.Errorf("principal %q, want %q", id.Principal, tokenSubject)
	}
	if err := v.CheckScopes(id, []string{tokenScope}); err != nil {
		t.Errorf("CheckScopes: %v", err)
	}

	// The same claims signed by another key are refused: the check is
	// the signature, not only the claims.
	other, err := newProvider()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.mint(tokenClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), forged); err == nil {
		t.Error("a token signed with another key was accepted")
	}
	// An expired token (exp in the past) is refused, so the long
	// lifetime is what keeps the benchmark's token valid.
	old, err := p.mint(tokenClaims(now.Add(-tokenLifetime - time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), old); err == nil {
		t.Error("an expired token was accepted")
	}
}

// TestBenchPlan checks the usage plan body against Portico's own plan
// type and validation, and that it covers the bench stage.
func TestBenchPlan(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(benchPlan("a1b2c3d4e5"))
	if err != nil {
		t.Fatal(err)
	}
	var p configs.UsagePlan
	if err := configs.DecodeStrict(b, &p); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate %s: %v", b, err)
	}
	if !p.Covers("a1b2c3d4e5", benchStage) {
		t.Errorf("plan %s does not cover the bench stage", b)
	}
	if p.Throttle == nil || p.Throttle.RateLimit < 1e5 || p.Quota == nil || p.Quota.Period != configs.QuotaDay || p.Quota.Limit < 1e8 {
		t.Errorf("plan %s: throttle and quota must be far above one node's rate", b)
	}
}

func TestWrkArgs(t *testing.T) {
	t.Parallel()
	w := &harness.Wrk{Threads: 2, Connections: 64}
	r := &route{name: "key", url: "https://127.0.0.1:1/bench/key", host: "a1b2c3d4e5.us-east-1.portico.localhost", header: "x-api-key: s3cret"}
	args := w.Args(r.wrk(), 5*time.Second)
	want := []string{"-t2", "-c64", "-d5s", "--latency", "-H", "Host: a1b2c3d4e5.us-east-1.portico.localhost",
		"-H", "x-api-key: s3cret", "https://127.0.0.1:1/bench/key"}
	if !slices.Equal(args, want) {
		t.Errorf("wrk args = %q, want %q", args, want)
	}
	if got := redact(args); strings.Contains(got, "s3cret") || !strings.Contains(got, "Host: a1b2c3d4e5") || !strings.Contains(got, "x-api-key: …") {
		t.Errorf("redact = %q", got)
	}
	open := &route{name: "open", url: "https://127.0.0.1:1/bench/open", host: "a1b2c3d4e5.us-east-1.portico.localhost"}
	if got := open.wrk(); len(got.Headers) != 0 {
		t.Errorf("the open route sends headers %q", got.Headers)
	}
}

func TestRouteCredential(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		header, want string
		headers      int
	}{
		{"", "", 0},
		{"Authorization: Bearer eyJ.x.y", "Authorization", 1},
		{"x-api-key: abc", "x-api-key", 1},
	} {
		r := &route{header: tt.header}
		if got := r.credential(); got != tt.want {
			t.Errorf("credential(%q) = %q, want %q", tt.header, got, tt.want)
		}
		if got := len(r.headers()); got != tt.headers {
			t.Errorf("headers(%q) has %d, want %d", tt.header, got, tt.headers)
		}
	}
}

// TestRunOrder checks that over as many rounds as routes each route
// takes every position once.
func TestRunOrder(t *testing.T) {
	t.Parallel()
	names := []string{"open", "jwt", "key"}
	if got := runOrder(names, 0); !slices.Equal(got, names) {
		t.Errorf("round 0 = %v", got)
	}
	if got := runOrder(names, 4); !slices.Equal(got, []string{"jwt", "key", "open"}) {
		t.Errorf("round 4 = %v", got)
	}
	for pos := range names {
		seen := map[string]bool{}
		for i := range names {
			seen[runOrder(names, i)[pos]] = true
		}
		if len(seen) != len(names) {
			t.Errorf("position %d held by %v over %d rounds", pos, seen, len(names))
		}
	}
	if !slices.Equal(names, []string{"open", "jwt", "key"}) {
		t.Error("runOrder changed its argument")
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	run := func(rps float64, p50 time.Duration) harness.WrkResult {
		return harness.WrkResult{RPS: rps, Requests: int64(rps * 5), Elapsed: 5 * time.Second, P50: p50, P99: 4 * p50}
	}
	open := &route{name: "open", url: "https://x/bench/open", runs: []harness.WrkResult{run(10000, time.Millisecond), run(12000, time.Millisecond)}, coldErrors: []int64{0, 0}}
	jwt := &route{name: "jwt", url: "https://x/bench/jwt", header: "Authorization: Bearer t",
		runs: []harness.WrkResult{run(9000, 1200*time.Microsecond), run(9600, 1200*time.Microsecond)}, coldErrors: []int64{0, 0}}
	key := &route{name: "key", url: "https://x/bench/key", header: "x-api-key: k",
		runs: []harness.WrkResult{run(8000, 1500*time.Microsecond), run(10800, 1500*time.Microsecond)}, coldErrors: []int64{1300, 1400}}
	o := options{harness.WrkOptions{Duration: 5 * time.Second, Runs: 2, Threads: 2, Connections: 64}}
	r := newReport(o, "/bin/portico", "wrk 4.1.0", []*route{open, jwt, key}, 1)

	want := ratios{
		JWTOverOpen: 0.8455, KeyOverOpen: 0.8545, // medians 9300, 9400 over 11000
		JWTPerRound: []float64{0.9, 0.8}, KeyPerRound: []float64{0.8, 0.9},
		JWTAddedP50ms: 0.2, KeyAddedP50ms: 0.5,
	}
	g, _ := json.Marshal(r.Ratios)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("ratios\n got %s\nwant %s", g, w)
	}
	if r.Credentials["jwt"] != "Authorization" || r.Credentials["key"] != "x-api-key" || r.Credentials["open"] != "" {
		t.Errorf("credentials %v", r.Credentials)
	}
	if !slices.Equal(r.ColdStartErrors["key"], []int64{1300, 1400}) {
		t.Errorf("cold start errors %v", r.ColdStartErrors)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Bearer t") || strings.Contains(string(b), `"k"`) {
		t.Errorf("the report carries a credential: %s", b)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, s := range []string{"jwt / open  0.85", "key / open  0.85", "key [1300 1400]"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("printed report lacks %q:\n%s", s, out.String())
		}
	}
}
