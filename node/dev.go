package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// DevOptions configure `portico dev`.
type DevOptions struct {
	DataDir   string
	StateFile string
	Fresh     bool // wipe the data directory first
	// Regions is the number of regions; each gets one control+regional
	// node. Edges is the number of edge nodes per region.
	Regions, Edges int
	// IPPrefix is the first three octets of the nodes' loopback addresses:
	// node i listens on IPPrefix.(i+1), every node on the same ports.
	IPPrefix      string
	Zone          string
	BackendListen string
	AccessLog     string
	Out           io.Writer // banner
	Logger        *slog.Logger
}

// devRegions are the region names `portico dev` uses, in order.
var devRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2", "eu-central-1", "ap-northeast-1", "sa-east-1"}

// Ports every dev node uses on its own loopback address.
const (
	devAdminPort    = 9180
	devRaftPort     = 9181
	devGossipPort   = 9182
	devInternalPort = 9183
	devRegionalPort = 8443
	devEdgePort     = 8444
	devDNSPort      = 8053
)

// devNodes lays out the cluster: control+regional nodes first (one per
// region), then edges.
func devNodes(o DevOptions, ca *pki.CA, gossipKeyFile string) ([]configs.Node, error) {
	var nodes []configs.Node
	ip := func(i int) string { return fmt.Sprintf("%s.%d", o.IPPrefix, i+1) }
	addr := func(i, port int) string { return net.JoinHostPort(ip(i), strconv.Itoa(port)) }
	expect := o.Regions
	for r := 0; r < o.Regions; r++ {
		nodes = append(nodes, configs.Node{Name: devRegions[r] + "-a", Region: devRegions[r],
			Roles: []string{configs.RoleControl, configs.RoleRegional, configs.RoleDNS}, BootstrapExpect: expect})
	}
	for r := 0; r < o.Regions; r++ {
		for e := 0; e < o.Edges; e++ {
			nodes = append(nodes, configs.Node{Name: fmt.Sprintf("%s-edge-%d", devRegions[r], e+1), Region: devRegions[r],
				Roles: []string{configs.RoleEdge}})
		}
	}
	for i := range nodes {
		nd := &nodes[i]
		nd.Zone = o.Zone
		nd.DataDir = filepath.Join(o.DataDir, "nodes", nd.Name)
		nd.Admin.Listen = addr(i, devAdminPort)
		nd.Raft.Listen = addr(i, devRaftPort)
		nd.Gossip.Listen = addr(i, devGossipPort)
		nd.Gossip.KeyFile = gossipKeyFile
		nd.Internal.Listen = addr(i, devInternalPort)
		nd.Regional.Listen = addr(i, devRegionalPort)
		nd.Edge.Listen = addr(i, devEdgePort)
		nd.DNS.Listen = addr(i, devDNSPort)
		nd.AccessLog = o.AccessLog
		nd.ShutdownGrace = configs.Duration(5 * time.Second)
		if i > 0 {
			nd.Join = []string{addr(0, devGossipPort)}
		}
		if o.Regions == 1 {
			nd.BootstrapExpect = 0 // ApplyDefaults: a standalone control node bootstraps alone
			if i == 0 {
				nd.BootstrapExpect = 1
			}
		}
		// Tighter Raft timing on loopback: failover well under 3 s.
		nd.Raft.HeartbeatTimeout = configs.Duration(500 * time.Millisecond)
		nd.Raft.ElectionTimeout = configs.Duration(500 * time.Millisecond)
		tlsDir := filepath.Join(nd.DataDir, "tls")
		hostIP := net.ParseIP(ip(i))
		certFile, keyFile, err := ca.IssueFiles(tlsDir, "node", pki.IssueOptions{CommonName: nd.Name, IPs: []net.IP{hostIP}})
		if err != nil {
			return nil, fmt.Errorf("issue node certificate for %s: %w", nd.Name, err)
		}
		nd.TLS = configs.ClusterTLS{CAFile: ca.CertFile, CertFile: certFile, KeyFile: keyFile}
		if configs.ServesRequests(nd.Roles) {
			names := []string{"*." + nd.Region + "." + nd.Zone, nd.Region + "." + nd.Zone, "*.edge." + nd.Zone, "localhost"}
			c, k, err := ca.IssueFiles(tlsDir, "server", pki.IssueOptions{CommonName: nd.Name, DNSNames: names, IPs: []net.IP{hostIP}})
			if err != nil {
				return nil, fmt.Errorf("issue server certificate for %s: %w", nd.Name, err)
			}
			nd.Regional.CertFile, nd.Regional.KeyFile = c, k
			nd.Edge.CertFile, nd.Edge.KeyFile = c, k
		}
	}
	return nodes, nil
}

// devGossipKey returns the dev cluster's gossip key file, creating it once.
func devGossipKey(dir string) (string, error) {
	file := filepath.Join(dir, "gossip.key")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return file, os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(cluster.GenerateKey())+"\n"), 0o600)
}

// RunDev runs a local cluster on loopback (one control+regional node per
// region, edges), a demo backend and the demo API on stage "dev", and
// writes the state file. It blocks until ctx is done.
func RunDev(ctx context.Context, o DevOptions) error {
	if o.Regions < 1 || o.Regions > len(devRegions) {
		return fmt.Errorf("--regions must be between 1 and %d", len(devRegions))
	}
	if o.Edges < 0 || o.Edges > 5 {
		return fmt.Errorf("--edges must be between 0 and 5")
	}
	if o.Fresh {
		if err := os.RemoveAll(o.DataDir); err != nil {
			return fmt.Errorf("remove %s: %w", o.DataDir, err)
		}
	}
	ca, err := pki.EnsureCA(filepath.Join(o.DataDir, "ca"))
	if err != nil {
		return fmt.Errorf("dev CA: %w", err)
	}
	keyFile, err := devGossipKey(o.DataDir)
	if err != nil {
		return fmt.Errorf("dev gossip key: %w", err)
	}
	cfgs, err := devNodes(o, ca, keyFile)
	if err != nil {
		return err
	}

	backendLn, err := net.Listen("tcp", o.BackendListen)
	if err != nil {
		return fmt.Errorf("demo backend listen on %s: %w", o.BackendListen, err)
	}
	backend := &http.Server{Handler: demoBackend(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := backend.Serve(backendLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("demo backend stopped", "err", err)
		}
	}()
	defer backend.Close()

	nodeCtx, stopNodes := context.WithCancel(ctx)
	defer stopNodes()
	errc := make(chan error, len(cfgs))
	nodes := make([]*Node, len(cfgs))
	for i, cfg := range cfgs {
		n, err := New(cfg, o.Logger)
		if err != nil {
			return err
		}
		nodes[i] = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Run(nodeCtx); err != nil {
				errc <- fmt.Errorf("node %s: %w", n.Name(), err)
				return
			}
			errc <- nil
		}()
	}
	fail := func(err error) error {
		stopNodes()
		return err
	}
	for _, n := range nodes {
		select {
		case <-n.Ready():
		case err := <-errc:
			return fail(err)
		case <-ctx.Done():
			return fail(nil)
		}
	}
	first := nodes[0].Addrs()
	client := NewClient(first.Admin)
	if err := waitLeader(ctx, client, 60*time.Second); err != nil {
		return fail(err)
	}
	demo, err := setupDemo(ctx, client, backendLn.Addr().String())
	if err != nil {
		return fail(fmt.Errorf("set up the demo API: %w", err))
	}
	// The banner's commands must work the moment they are printed: every
	// edge has to know a regional node of the demo's home region first
	// (gossip health reaches it a moment after the nodes are ready).
	if err := waitEdgeUpstreams(ctx, nodes, cfgs, demo.Region, 30*time.Second); err != nil {
		return fail(err)
	}
	state := &StateFile{
		PID: os.Getpid(), StartedAt: time.Now().UTC(), Admin: first.Admin, DataDir: o.DataDir,
		CAFile: ca.CertFile, Zone: o.Zone, Backend: backendLn.Addr().String(), Demo: demo,
	}
	for i, n := range nodes {
		a := n.Addrs()
		state.Nodes = append(state.Nodes, NodeState{Name: n.Name(), Region: cfgs[i].Region, Roles: cfgs[i].Roles,
			Admin: a.Admin, Regional: a.Regional, Edge: a.Edge, DNS: a.DNS, Raft: a.Raft, Internal: a.Internal, Gossip: a.Gossip})
		if state.DNS == "" {
			state.DNS = a.DNS
		}
	}
	demo.Regional = first.Regional
	for i, n := range nodes {
		if cfgs[i].Region == demo.Region && n.Addrs().Regional != "" {
			demo.Regional = n.Addrs().Regional
			break
		}
	}
	demo.Curl = curlCommand(ca.CertFile, demo.Regional, demo.InvokeURL+"hello")
	for i, n := range nodes {
		if cfgs[i].Region == demo.Region && n.Addrs().Edge != "" && demo.EdgeURL != "" {
			demo.Edge = n.Addrs().Edge
			demo.EdgeCurl = curlCommand(ca.CertFile, demo.Edge, demo.EdgeURL+"items/42")
			break
		}
	}
	if err := WriteStateFile(o.StateFile, state); err != nil {
		return fail(err)
	}
	defer os.Remove(o.StateFile)
	printBanner(o.Out, state, o.StateFile)

	// Run until ctx ends or a node fails; then stop every node.
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err == nil {
			err = errors.New("a node stopped unexpectedly")
		}
	}
	stopNodes()
	return err
}

// waitLeader polls a node's status until it knows a Raft leader and has
// applied every entry in its own log, so what it reads is at least what it
// served before a restart (the demo setup reads before it writes).
func waitLeader(ctx context.Context, c *Client, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var st cluster.Status
		err := c.Do(ctx, "GET", "/v1/status", nil, &st)
		if err == nil && st.Leader != "" && st.AppliedIndex >= st.LastIndex && st.AppliedIndex >= st.CommitIndex {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no Raft leader within %s (last error: %v)", within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setupDemo creates the demo API and its dev stage unless an API named
// "demo" already exists (a restarted dev keeps what the operator changed),
// and points the stage's backend variable at this run's demo backend.
func setupDemo(ctx context.Context, c *Client, backend string) (*DemoState, error) {
	var list struct {
		APIs []*configs.API `json:"apis"`
	}
	if err := c.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
		return nil, err
	}
	var api *configs.API
	for _, a := range list.APIs {
		if a.Name == DemoAPIName {
			api = a
		}
	}
	if api == nil {
		var res applyResult
		if err := c.Do(ctx, "POST", "/v1/apis", demoAPI(), &res); err != nil {
			return nil, err
		}
		api = res.API
	}
	var stage stageView
	err := c.Do(ctx, "GET", "/v1/apis/"+api.ID+"/stages/dev", nil, &stage)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		var res struct {
			Stage stageView `json:"stage"`
		}
		req := deployRequest{Stage: "dev", Description: "first deployment of the demo API", Variables: map[string]string{"backend": backend}}
		if err := c.Do(ctx, "POST", "/v1/apis/"+api.ID+"/deployments", req, &res); err != nil {
			return nil, err
		}
		stage = res.Stage
		// Cache the demo's GET routes for a minute, at edges and in the
		// region; the echo route shows the request, so it is not cached.
		cacheSettings := map[string]any{"enabled": true, "ttl": "60s", "stale_if_error": "10m",
			"overrides": map[string]any{"ANY /echo/{proxy+}": map[string]any{"enabled": false}}}
		if err := c.Do(ctx, "PATCH", "/v1/apis/"+api.ID+"/stages/dev/cache", cacheSettings, &stage); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case stage.Variables["backend"] != backend:
		vars := maps.Clone(stage.Variables)
		if vars == nil {
			vars = map[string]string{}
		}
		vars["backend"] = backend
		if err := c.Do(ctx, "PUT", "/v1/apis/"+api.ID+"/stages/dev/variables", map[string]any{"variables": vars}, &stage); err != nil {
			return nil, err
		}
	}
	return &DemoState{APIID: api.ID, Stage: "dev", Region: api.HomeRegion,
		InvokeURL: stage.InvokeURLs[string(configs.EndpointRegional)], EdgeURL: stage.InvokeURLs[string(configs.EndpointEdge)]}, nil
}

// curlCommand returns a curl command line that works when pasted: it
// trusts the dev CA and resolves the invoke host to the listener.
func curlCommand(caFile, listenAddr, invokeURL string) string {
	u, err := url.Parse(invokeURL)
	if err != nil {
		return "curl " + invokeURL
	}
	ip, _, _ := net.SplitHostPort(listenAddr)
	if ip == "" || ip == "0.0.0.0" || ip == "::" {
		ip = "127.0.0.1"
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return fmt.Sprintf("curl --cacert %s --resolve %s:%s:%s %s", caFile, u.Hostname(), port, ip, invokeURL)
}

func printBanner(w io.Writer, s *StateFile, statePath string) {
	bin := "portico"
	if exe, err := os.Executable(); err == nil {
		if rel, err := filepath.Rel(mustGetwd(), exe); err == nil && !filepath.IsAbs(rel) && len(rel) < len(exe) && !strings.HasPrefix(rel, "..") {
			bin = "./" + rel
		} else {
			bin = exe
		}
	}
	fmt.Fprintf(w, "\nPortico dev is running: %d node(s).\n\n", len(s.Nodes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tREGION\tROLES\tADMIN\tREGIONAL\tGOSSIP")
	for _, n := range s.Nodes {
		regional := n.Regional
		if regional == "" {
			regional = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Region, strings.Join(n.Roles, ","), n.Admin, regional, n.Gossip)
	}
	tw.Flush()
	fmt.Fprintf(w, `
  admin API      http://%s  (any node accepts writes)
  invoke hosts   {apiId}.{region}.%[2]s (regional), {apiId}.edge.%[2]s (edge)
  demo backend   http://%s
  cluster CA     %s
  state file     %s

The demo API %q (id %s) is deployed to stage %q:

  %s
  %s
  %s
%s
Manage it from another terminal:

  %s cluster status
  %s apis list
  %s stages get --api %s --stage dev
  %s deploy --api %s --stage dev --description "my change" --wait

Press Ctrl-C to stop.
`, s.Admin, s.Zone, s.Backend, s.CAFile, statePath,
		DemoAPIName, s.Demo.APIID, s.Demo.Stage,
		s.Demo.Curl,
		curlCommand(s.CAFile, s.Demo.Regional, s.Demo.InvokeURL+"items/42"),
		curlCommand(s.CAFile, s.Demo.Regional, s.Demo.InvokeURL+"mock"),
		edgeLines(s.Demo)+digLine(s),
		bin, bin, bin, DemoAPIName, bin, DemoAPIName)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// edgeLines shows how to call the demo through an edge (HTTP/3 with curl
// --http3 where curl supports it), when the cluster has edges.
func edgeLines(d *DemoState) string {
	if d.EdgeCurl == "" {
		return ""
	}
	return "\nThrough an edge (cached there and in the region; repeat it and look at X-Cache):\n\n  " + d.EdgeCurl + " -i\n"
}

// digLine shows how to ask the cluster's DNS for the demo's edge name.
func digLine(s *StateFile) string {
	host, port, err := net.SplitHostPort(s.DNS)
	if err != nil || s.Demo == nil || s.Demo.EdgeURL == "" {
		return ""
	}
	u, err := url.Parse(s.Demo.EdgeURL)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("\nAsk the built-in DNS which edges serve it (nearest healthy first):\n\n  dig @%s -p %s %s\n", host, port, u.Hostname())
}

// waitEdgeUpstreams waits until every edge node lists a regional node of
// region to forward to.
func waitEdgeUpstreams(ctx context.Context, nodes []*Node, cfgs []configs.Node, region string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		waiting := ""
		for i, n := range nodes {
			if cfgs[i].HasRole(configs.RoleEdge) && len(n.ups.Regional(region)) == 0 {
				waiting = n.Name()
				break
			}
		}
		if waiting == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("edge %s knows no healthy regional node of %s after %s", waiting, region, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
