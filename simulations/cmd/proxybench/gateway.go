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

// benchDefinition is the API under test: one HTTP_PROXY route to the
// backend named by a stage variable.
const benchDefinition = `
name: proxybench
description: regional-proxy benchmark (simulations/cmd/proxybench)
resources:
  - path: /hello
    methods:
      GET:
        integration:
          type: HTTP_PROXY
          uri: http://${stageVariables.backend}/hello
          timeout: 5s
`

// gateway is a running Portico node with the bench API deployed.
type gateway struct {
	admin    string // admin API address (plain HTTP)
	regional string // regional listener address (HTTPS)
	caFile   string // CA of the node's generated certificate
	apiID    string
	host     string // invoke host: {apiId}.{region}.{zone}
}

// startPortico writes a node config into dir, starts `portico run`, waits
// for /healthz, applies benchDefinition and deploys it to benchStage with
// backend as the upstream. The node's output goes to dir/portico.log.
func startPortico(ctx context.Context, g *harness.Group, bin, dir, backend string) (*gateway, error) {
	ports, err := harness.FreePorts(3)
	if err != nil {
		return nil, err
	}
	gw := &gateway{
		admin:    ports[0],
		regional: ports[1],
		caFile:   filepath.Join(dir, "data", "tls", "ca.pem"),
	}
	cfg := fmt.Sprintf(`name: proxybench-1
region: %s
roles: [control, regional]
zone: %s
data_dir: %q
admin: {listen: %q}
regional: {listen: %q}
raft: {listen: %q}
access_log: "off"
# The node group default (10,000 rps) would cap the measurement.
default_throttle: {rate_limit: 10000000, burst_limit: 10000000}
`, nodeRegion, nodeZone, filepath.Join(dir, "data"), ports[0], ports[1], ports[2])
	cfgFile := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
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

	admin := &http.Client{Timeout: 10 * time.Second}
	err = harness.Retry(ctx, 60*time.Second, 100*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("portico exited (%v)", p.Err()))
		}
		return gw.adminDo(ctx, admin, "GET", "/healthz", nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("wait for portico: %w; its log:%s", err, harness.ReadTail(logPath))
	}

	var applied struct {
		API struct {
			ID string `json:"id"`
		} `json:"api"`
	}
	if err := gw.adminDo(ctx, admin, "POST", "/v1/apply", []byte(benchDefinition), &applied); err != nil {
		return nil, err
	}
	if applied.API.ID == "" {
		return nil, errors.New("POST /v1/apply: the answer has no api.id")
	}
	gw.apiID = applied.API.ID
	gw.host = gw.apiID + "." + nodeRegion + "." + nodeZone
	deploy, _ := json.Marshal(map[string]any{
		"stage":       benchStage,
		"description": "proxybench",
		"variables":   map[string]string{"backend": backend},
	})
	if err := gw.adminDo(ctx, admin, "POST", "/v1/apis/"+gw.apiID+"/deployments", deploy, nil); err != nil {
		return nil, err
	}
	return gw, nil
}

// adminDo calls the admin API and decodes a 2xx JSON answer into out.
func (gw *gateway) adminDo(ctx context.Context, c *http.Client, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+gw.admin+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
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
