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
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/portico-gw/portico/configs"
)

// SingleNode is the one Portico node of a driver that benchmarks a single
// gateway (proxybench, accessbench): control and regional, with every
// listener on a 127.0.0.1 port picked free (so that it can run beside
// another node on the machine) and a temporary data directory.
type SingleNode struct {
	Driver string // names the node (Driver-1) and describes its deployment
	Region string
	Zone   string // invoke hosts are {apiId}.{Region}.{Zone}
}

// singleNodePorts is how many addresses Config takes.
const singleNodePorts = 5

// Config is the node's config with its data directory dir/data and its
// listeners on addrs: admin, regional, raft, internal and gossip, in that
// order (singleNodePorts of them). Its TLS files are left empty, so the
// node generates its CA and certificates under dir/data/tls.
func (n SingleNode) Config(dir string, addrs []string) configs.Node {
	nd := configs.Node{
		Name:    n.Driver + "-1",
		Region:  n.Region,
		Roles:   []string{configs.RoleControl, configs.RoleRegional},
		Zone:    n.Zone,
		DataDir: filepath.Join(dir, "data"),
	}
	nd.Admin.Listen = addrs[0]
	nd.Regional.Listen = addrs[1]
	nd.Raft.Listen = addrs[2]
	nd.Internal.Listen = addrs[3]
	nd.Gossip.Listen = addrs[4]
	benchDefaults(&nd)
	return nd
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

// Start writes the node's config (Config, on free ports) to
// dir/node.json and starts it from dir in g with StartNodes, which waits
// (at most a minute) until its admin API answers /healthz. The node's
// output goes to dir/logs/{Driver}-1.log.
func (n SingleNode) Start(ctx context.Context, g *Group, bin, dir string) (*Portico, error) {
	addrs, err := FreePorts(singleNodePorts)
	if err != nil {
		return nil, err
	}
	cfg := n.Config(dir, addrs)
	file := filepath.Join(dir, "node.json")
	if err := writeNodeConfig(file, &cfg); err != nil {
		return nil, err
	}
	if _, err := StartNodes(ctx, g, bin, dir, []configs.Node{cfg}, []string{file}, nil); err != nil {
		return nil, err
	}
	return &Portico{
		Admin:    cfg.Admin.Listen,
		Regional: cfg.Regional.Listen,
		CAFile:   filepath.Join(cfg.DataDir, "tls", "ca.pem"),
		node:     n,
		http:     &http.Client{Timeout: 10 * time.Second},
	}, nil
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

// SingleBench is a single-gateway benchmark under way (StartBench): its
// session (temporary directory and processes), the binaries, the backend
// and the node with the API deployed.
type SingleBench struct {
	*Session
	Wrk     string // the wrk binary
	Bin     string // the portico binary
	Results string // the results directory (ResultsDir)
	Backend *Backend
	Gateway *Portico
	// Client is an HTTPS client for Gateway's regional listener
	// (Portico.Client).
	Client *http.Client
}

// StartBench finds the binaries o names, begins a session named after
// n.Driver and bounded by budget (Begin), starts the backend
// (StartBackend) and the node (Start) in it, deploys def to stage with
// the backend's plain address as its upstream (Deploy) and makes the
// regional client. The caller ends the session (End, with whether the
// benchmark failed) when the benchmark returns; on an error StartBench
// has ended it.
func (n SingleNode) StartBench(ctx context.Context, o WrkOptions, budget time.Duration, log *slog.Logger, def, stage string) (_ context.Context, _ *SingleBench, err error) {
	b := &SingleBench{Results: ResultsDir(o.Results)}
	if b.Wrk, b.Bin, err = o.Binaries(); err != nil {
		return ctx, nil, err
	}
	ctx, b.Session, err = Begin(ctx, n.Driver, budget, o.Keep, log, "rerun with -keep to keep the node config, logs and raw wrk output")
	if err != nil {
		return ctx, nil, err
	}
	defer func() {
		if err != nil {
			b.End(true)
		}
	}()
	if b.Backend, err = StartBackend(ctx, b.Procs, b.Dir); err != nil {
		return ctx, nil, fmt.Errorf("backend: %w", err)
	}
	log.Info("backend listening", "plain", b.Backend.Plain, "tls", b.Backend.TLS)
	if b.Gateway, err = n.Start(ctx, b.Procs, b.Bin, b.Dir); err == nil {
		err = b.Gateway.Deploy(ctx, def, stage, b.Backend.Plain)
	}
	if err != nil {
		return ctx, nil, fmt.Errorf("portico: %w", err)
	}
	log.Info("portico ready", "regional", b.Gateway.Regional, "api", b.Gateway.APIID, "host", b.Gateway.Host)
	if b.Client, err = b.Gateway.Client(); err != nil {
		return ctx, nil, err
	}
	return ctx, b, nil
}
