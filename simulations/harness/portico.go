package harness

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
)

// SingleNode is the one Portico node of a driver that benchmarks a single
// gateway (proxybench, accessbench): control and regional, on 127.0.0.1
// ports picked free, with a temporary data directory.
type SingleNode struct {
	Driver string // names the node (Driver-1) and describes its deployment
	Region string
	Zone   string // invoke hosts are {apiId}.{Region}.{Zone}
	// OwnPorts gives the internal and gossip listeners free ports too,
	// rather than their fixed defaults (9183, 9182), so that the node can
	// run beside another one on the machine.
	OwnPorts bool
}

// NodePorts are the addresses of a SingleNode's listeners; Internal and
// Gossip are empty without OwnPorts.
type NodePorts struct {
	Admin, Regional, Raft, Internal, Gossip string
}

// Config is the node's config with its data directory dir/data.
func (n SingleNode) Config(dir string, p NodePorts) string {
	var own string // the listeners with their own ports
	if p.Internal != "" {
		own += fmt.Sprintf("internal: {listen: %q}\n", p.Internal)
	}
	if p.Gossip != "" {
		own += fmt.Sprintf("gossip: {listen: %q}\n", p.Gossip)
	}
	return fmt.Sprintf(`name: %s-1
region: %s
roles: [control, regional]
zone: %s
data_dir: %q
admin: {listen: %q}
regional: {listen: %q}
raft: {listen: %q}
%saccess_log: "off"
# The node group default (10,000 rps) would cap the measurement.
default_throttle: {rate_limit: 10000000, burst_limit: 10000000}
`, n.Driver, n.Region, n.Zone, filepath.Join(dir, "data"), p.Admin, p.Regional, p.Raft, own)
}

// Portico is a running SingleNode.
type Portico struct {
	Admin    string // admin API address (plain HTTP)
	Regional string // regional listener address (HTTPS)
	CAFile   string // CA of the node's generated certificate
	APIID    string // the API Deploy deployed
	Host     string // its invoke host: {apiId}.{region}.{zone}
	node     SingleNode
	http     *http.Client
}

// Start writes the node's config to dir/node.yaml, starts `bin run` from
// dir in g and waits (at most a minute) until its admin API answers
// /healthz. The node's output goes to dir/portico.log, whose tail the
// error carries.
func (n SingleNode) Start(ctx context.Context, g *Group, bin, dir string) (*Portico, error) {
	count := 3
	if n.OwnPorts {
		count = 5
	}
	ports, err := FreePorts(count)
	if err != nil {
		return nil, err
	}
	np := NodePorts{Admin: ports[0], Regional: ports[1], Raft: ports[2]}
	if n.OwnPorts {
		np.Internal, np.Gossip = ports[3], ports[4]
	}
	p := &Portico{
		Admin:    np.Admin,
		Regional: np.Regional,
		CAFile:   filepath.Join(dir, "data", "tls", "ca.pem"),
		node:     n,
		http:     &http.Client{Timeout: 10 * time.Second},
	}
	cfgFile := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfgFile, []byte(n.Config(dir, np)), 0o644); err != nil {
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
	proc, err := g.Start("portico", cmd)
	if err != nil {
		return nil, err
	}
	err = Retry(ctx, 60*time.Second, 100*time.Millisecond, func() error {
		if proc.Exited() {
			return Permanent(fmt.Errorf("portico exited (%v)", proc.Err()))
		}
		return p.AdminDo(ctx, "GET", "/healthz", nil, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("wait for portico: %w; its log:%s", err, ReadTail(logPath))
	}
	return p, nil
}

// Deploy applies the API definition def and deploys it to stage with
// backend as the stage variable backend (the API's upstream); it sets
// APIID and Host.
func (p *Portico) Deploy(ctx context.Context, def, stage, backend string) error {
	var applied struct {
		API struct {
			ID string `json:"id"`
		} `json:"api"`
	}
	if err := p.AdminDo(ctx, "POST", "/v1/apply", []byte(def), &applied); err != nil {
		return err
	}
	if applied.API.ID == "" {
		return errors.New("POST /v1/apply: the answer has no api.id")
	}
	p.APIID = applied.API.ID
	p.Host = p.APIID + "." + p.node.Region + "." + p.node.Zone
	body, _ := json.Marshal(map[string]any{
		"stage":       stage,
		"description": p.node.Driver,
		"variables":   map[string]string{"backend": backend},
	})
	return p.AdminDo(ctx, "POST", "/v1/apis/"+p.APIID+"/deployments", body, nil)
}

// AdminDo calls the admin API and decodes a 2xx JSON answer into out.
func (p *Portico) AdminDo(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.Admin+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
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

// Client returns an HTTPS client for the regional listener that trusts
// the node's CA and checks the certificate for 127.0.0.1, the name wrk
// connects to.
func (p *Portico) Client() (*http.Client, error) {
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read portico CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", p.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}
