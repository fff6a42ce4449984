package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// The node's identity: invoke hosts are {apiId}.{region}.{zone}, and the
// node's generated certificate covers *.{region}.{zone} and 127.0.0.1.
const (
	nodeRegion = "us-east-1"
	nodeZone   = "portico.localhost"
	benchStage = "bench"
)

// The usage plan of the API key route: limits so far above what one
// node can serve that they never refuse a request, so the route measures
// the cost of checking them, not their effect.
const (
	planRate  = 1e6 // requests per second
	planBurst = 1e6
	planQuota = 1e9 // requests per DAY
)

// nodePorts are the addresses of the node's listeners.
type nodePorts struct {
	admin, regional, raft, internal, gossip string
}

// nodeConfig is the config of the benchmark's single control+regional
// node, as proxybench writes it, except that the internal and gossip
// listeners get free ports too rather than their fixed defaults (9183,
// 9182), so that the driver can run beside another node on the machine.
// The data directory is dir/data.
func nodeConfig(dir string, p nodePorts) string {
	return fmt.Sprintf(`name: accessbench-1
region: %s
roles: [control, regional]
zone: %s
data_dir: %q
admin: {listen: %q}
regional: {listen: %q}
raft: {listen: %q}
internal: {listen: %q}
gossip: {listen: %q}
access_log: "off"
# The node group default (10,000 rps) would cap the measurement.
default_throttle: {rate_limit: 10000000, burst_limit: 10000000}
`, nodeRegion, nodeZone, filepath.Join(dir, "data"), p.admin, p.regional, p.raft, p.internal, p.gossip)
}

// apiDefinition is the API under test: three GET resources proxying to
// the same backend route, one per access mode. /jwt needs a token from
// the benchmark's provider (whose JWKS is at jwksURL) carrying
// tokenScope; /key needs an API key whose usage plan covers the stage.
func apiDefinition(jwksURL string) string {
	const integration = `
        integration:
          type: HTTP_PROXY
          uri: http://${stageVariables.backend}/hello
          timeout: 5s`
	return `name: accessbench
description: access pipeline benchmark (simulations/cmd/accessbench)
authorizers:
  - name: jwt
    type: JWT
    issuer: ` + strconv.Quote(tokenIssuer) + `
    audiences: [` + strconv.Quote(tokenAudience) + `]
    jwks_uri: ` + strconv.Quote(jwksURL) + `
resources:
  - path: /open
    methods:
      GET:
        authorization: NONE` + integration + `
  - path: /jwt
    methods:
      GET:
        authorization: JWT
        authorizer: jwt
        authorization_scopes: [` + strconv.Quote(tokenScope) + `]` + integration + `
  - path: /key
    methods:
      GET:
        api_key_required: true` + integration + `
`
}

// planRequest is the body of POST /v1/plans (node/admin_access.go).
type planRequest struct {
	Name     string      `json:"name"`
	Throttle throttle    `json:"throttle"`
	Quota    quota       `json:"quota"`
	Stages   []planStage `json:"stages"`
}

type throttle struct {
	RateLimit  float64 `json:"rate_limit"`
	BurstLimit int     `json:"burst_limit"`
}

type quota struct {
	Limit  int64  `json:"limit"`
	Period string `json:"period"`
}

type planStage struct {
	APIID string `json:"api_id"`
	Stage string `json:"stage"`
}

// benchPlan is the usage plan that covers the bench stage of apiID.
func benchPlan(apiID string) planRequest {
	return planRequest{
		Name:     "accessbench",
		Throttle: throttle{RateLimit: planRate, BurstLimit: planBurst},
		Quota:    quota{Limit: planQuota, Period: "DAY"},
		Stages:   []planStage{{APIID: apiID, Stage: benchStage}},
	}
}

// gateway is a running Portico node.
type gateway struct {
	admin    string // admin API address (plain HTTP)
	regional string // regional listener address (HTTPS)
	caFile   string // CA of the node's generated certificate
	apiID    string
	host     string // invoke host: {apiId}.{region}.{zone}
	http     *http.Client
}

// startPortico writes a node config into dir, starts `portico run` and
// waits for /healthz. The node's output goes to dir/portico.log.
func startPortico(ctx context.Context, g *harness.Group, bin, dir string) (*gateway, error) {
	ports, err := harness.FreePorts(5)
	if err != nil {
		return nil, err
	}
	np := nodePorts{admin: ports[0], regional: ports[1], raft: ports[2], internal: ports[3], gossip: ports[4]}
	gw := &gateway{
		admin:    np.admin,
		regional: np.regional,
		caFile:   filepath.Join(dir, "data", "tls", "ca.pem"),
		http:     &http.Client{Timeout: 10 * time.Second},
	}
	cfgFile := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfgFile, []byte(nodeConfig(dir, np)), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "portico.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "run", "--config", cfgFile)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := g.Start("portico", cmd)
	if err != nil {
		return nil, err
	}
	err = harness.Retry(ctx, 60*time.Second, 100*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("portico exited (%v)", p.Err()))
		}
		return gw.adminDo(ctx, "GET", "/healthz", nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("wait for portico: %w; its log:%s", err, harness.ReadTail(logPath))
	}
	return gw, nil
}

// deploy applies def and deploys it to benchStage with backend as the
// upstream.
func (gw *gateway) deploy(ctx context.Context, def, backend string) error {
	var applied struct {
		API struct {
			ID string `json:"id"`
		} `json:"api"`
	}
	if err := gw.adminDo(ctx, "POST", "/v1/apply", []byte(def), &applied); err != nil {
		return err
	}
	if applied.API.ID == "" {
		return errors.New("POST /v1/apply: the answer has no api.id")
	}
	gw.apiID = applied.API.ID
	gw.host = gw.apiID + "." + nodeRegion + "." + nodeZone
	body, _ := json.Marshal(map[string]any{
		"stage":       benchStage,
		"description": "accessbench",
		"variables":   map[string]string{"backend": backend},
	})
	return gw.adminDo(ctx, "POST", "/v1/apis/"+gw.apiID+"/deployments", body, nil)
}

// createKey creates benchPlan and an API key on it and returns the key's
// value, which only this answer carries.
func (gw *gateway) createKey(ctx context.Context) (planID, value string, err error) {
	planBody, _ := json.Marshal(benchPlan(gw.apiID))
	var plan struct {
		ID string `json:"id"`
	}
	if err := gw.adminDo(ctx, "POST", "/v1/plans", planBody, &plan); err != nil {
		return "", "", err
	}
	if plan.ID == "" {
		return "", "", errors.New("POST /v1/plans: the answer has no id")
	}
	keyBody, _ := json.Marshal(map[string]string{"name": "accessbench", "plan_id": plan.ID})
	var key struct {
		Value string `json:"value"`
	}
	if err := gw.adminDo(ctx, "POST", "/v1/keys", keyBody, &key); err != nil {
		return "", "", err
	}
	if key.Value == "" {
		return "", "", errors.New("POST /v1/keys: the answer has no value")
	}
	return plan.ID, key.Value, nil
}

// adminDo calls the admin API and decodes a 2xx JSON answer into out.
func (gw *gateway) adminDo(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+gw.admin+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := gw.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// client returns an HTTPS client for the regional listener that trusts
// the node's CA and checks the certificate for 127.0.0.1, the name wrk
// connects to.
func (gw *gateway) client() (*http.Client, error) {
	pem, err := os.ReadFile(gw.caFile)
	if err != nil {
		return nil, fmt.Errorf("read portico CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", gw.caFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}
