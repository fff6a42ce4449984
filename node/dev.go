package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/portico-gw/portico/configs"
)

// DevOptions configure `portico dev`.
type DevOptions struct {
	DataDir        string
	StateFile      string
	Fresh          bool // wipe the data directory first
	Region         string
	Zone           string
	AdminListen    string
	RegionalListen string
	RaftListen     string
	BackendListen  string
	AccessLog      string
	Out            io.Writer // banner
	Logger         *slog.Logger
}

// RunDev runs one node with every role on loopback, a demo backend and the
// demo API on stage "dev", and writes the state file. It blocks until ctx
// is done.
func RunDev(ctx context.Context, o DevOptions) error {
	if o.Fresh {
		if err := os.RemoveAll(o.DataDir); err != nil {
			return fmt.Errorf("remove %s: %w", o.DataDir, err)
		}
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

	cfg := configs.Node{
		Name: "dev-1", Region: o.Region, Zone: o.Zone, DataDir: o.DataDir,
		Admin:     configs.AdminConfig{Listen: o.AdminListen},
		Regional:  configs.ListenerConfig{Listen: o.RegionalListen},
		Raft:      configs.RaftConfig{Listen: o.RaftListen},
		AccessLog: o.AccessLog, ShutdownGrace: configs.Duration(5 * time.Second),
	}
	n, err := New(cfg, o.Logger)
	if err != nil {
		return err
	}
	nodeCtx, stopNode := context.WithCancel(ctx)
	defer stopNode()
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- n.Run(nodeCtx)
	}()
	select {
	case <-n.Ready():
	case err := <-errc:
		return err
	}
	addrs := n.Addrs()
	demo, err := setupDemo(ctx, NewClient(addrs.Admin), backendLn.Addr().String())
	if err != nil {
		stopNode()
		<-errc
		return fmt.Errorf("set up the demo API: %w", err)
	}
	state := &StateFile{
		PID: os.Getpid(), StartedAt: time.Now().UTC(), Admin: addrs.Admin, DataDir: o.DataDir,
		CAFile: addrs.CAFile, Zone: cfg.Zone, Backend: backendLn.Addr().String(),
		Nodes: []NodeState{{Name: cfg.Name, Region: cfg.Region, Roles: n.cfg.Roles, Admin: addrs.Admin, Regional: addrs.Regional, Raft: addrs.Raft}},
		Demo:  demo,
	}
	demo.Curl = curlCommand(addrs.CAFile, addrs.Regional, demo.InvokeURL+"hello")
	if err := WriteStateFile(o.StateFile, state); err != nil {
		stopNode()
		<-errc
		return err
	}
	defer os.Remove(o.StateFile)
	printBanner(o.Out, state, o.StateFile)

	err = <-errc
	return err
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
	case err != nil:
		return nil, err
	case stage.Variables["backend"] != backend:
		vars := copyVars(stage.Variables)
		if vars == nil {
			vars = map[string]string{}
		}
		vars["backend"] = backend
		if err := c.Do(ctx, "PUT", "/v1/apis/"+api.ID+"/stages/dev/variables", map[string]any{"variables": vars}, &stage); err != nil {
			return nil, err
		}
	}
	return &DemoState{APIID: api.ID, Stage: "dev", InvokeURL: stage.InvokeURLs[string(configs.EndpointRegional)]}, nil
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
		if rel, err := filepath.Rel(mustGetwd(), exe); err == nil && !filepath.IsAbs(rel) && len(rel) < len(exe) {
			bin = "./" + rel
		} else {
			bin = exe
		}
	}
	node := s.Nodes[0]
	fmt.Fprintf(w, `
Portico dev is running: node %s in region %s (roles %v).

  admin API      http://%s
  regional       https://%s  (invoke hosts {apiId}.%s.%s)
  demo backend   http://%s
  local CA       %s
  state file     %s

The demo API %q (id %s) is deployed to stage %q:

  %s
  %s
  %s

Manage it from another terminal:

  %s apis list
  %s stages get --api %s --stage dev
  %s deploy --api %s --stage dev --description "my change"

Press Ctrl-C to stop.
`, node.Name, node.Region, node.Roles, s.Admin, node.Regional, node.Region, s.Zone, s.Backend, s.CAFile, statePath,
		DemoAPIName, s.Demo.APIID, s.Demo.Stage,
		s.Demo.Curl,
		curlCommand(s.CAFile, node.Regional, s.Demo.InvokeURL+"items/42"),
		curlCommand(s.CAFile, node.Regional, s.Demo.InvokeURL+"mock"),
		bin, bin, DemoAPIName, bin, DemoAPIName)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
