package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints"
)

// Node is one Portico process.
type Node struct {
	cfg configs.Node
	log *slog.Logger

	ready chan struct{}
	mu    sync.Mutex
	addrs Addrs // set before ready is closed
	store *cluster.Store
}

// Addrs are the addresses a running node listens on.
type Addrs struct {
	Admin    string `json:"admin"`
	Regional string `json:"regional"`
	Raft     string `json:"raft"`
	// CAFile is the CA that signed the regional certificate, when the node
	// generated it.
	CAFile string `json:"ca_file,omitempty"`
}

// New validates the config. It does not touch the disk or the network.
func New(cfg configs.Node, logger *slog.Logger) (*Node, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Node{cfg: cfg, log: logger, ready: make(chan struct{})}, nil
}

// Ready is closed once every listener is up and the committed state on
// disk has been replayed.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addrs returns the listening addresses; valid after Ready.
func (n *Node) Addrs() Addrs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addrs
}

// Store returns the node's Raft store; valid after Ready.
func (n *Node) Store() *cluster.Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.store
}

// Run opens the store, starts the listeners and blocks until ctx is done;
// then it stops the listeners (draining within the grace period) and
// closes the store, in reverse order of start.
func (n *Node) Run(ctx context.Context) (err error) {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	store, err := cluster.Open(cluster.Config{
		NodeID: cfg.Name, DataDir: cfg.DataDir, Listen: cfg.Raft.Listen, Advertise: cfg.Raft.Advertise,
		Logger:           n.log.With("component", "raft"),
		BootstrapExpect:  cfg.BootstrapExpect,
		HeartbeatTimeout: cfg.Raft.HeartbeatTimeout.D(), ElectionTimeout: cfg.Raft.ElectionTimeout.D(),
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = store.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return err
	}

	tlsConf, caFile, err := n.serverTLS()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	accessLog, closeAccess, err := openAccessLog(cfg.AccessLog)
	if err != nil {
		return err
	}
	defer closeAccess()

	regional, err := endpoints.NewRegional(endpoints.Config{
		Region: cfg.Region, Zone: cfg.Zone, Listen: cfg.Regional.Listen, TLS: tlsConf, Source: store,
		Logger: n.log.With("component", "regional"), AccessLog: accessLog, Registerer: reg,
		ShutdownGrace: cfg.ShutdownGrace.D(),
	})
	if err != nil {
		return fmt.Errorf("regional endpoint: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin listen on %s: %w", cfg.Admin.Listen, err)
	}

	if ip := net.ParseIP(hostOf(adminLn.Addr().String())); ip == nil || !ip.IsLoopback() {
		n.log.Warn("the admin API has no authentication yet and listens beyond loopback; restrict access with a firewall", "admin", adminLn.Addr().String())
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := regional.Run(runCtx); err != nil {
			errc <- fmt.Errorf("regional endpoint: %w", err)
		}
	}()
	select {
	case <-regional.Ready():
	case err := <-errc:
		adminLn.Close()
		stop()
		wg.Wait()
		return err
	}

	regionalPort := portOf(regional.Addr().String())
	if cfg.Regional.Advertise != "" {
		regionalPort = portOf(cfg.Regional.Advertise)
	}
	admin := &Admin{
		store: store, region: cfg.Region, log: n.log.With("component", "admin"), now: time.Now,
		metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		invokeURLs: invokeURLs(cfg.Zone, regionalPort),
	}
	adminSrv := &http.Server{
		Handler: admin.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(n.log.With("component", "admin").Handler(), slog.LevelWarn),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin server: %w", err)
		}
	}()

	n.mu.Lock()
	n.store = store
	n.addrs = Addrs{Admin: adminLn.Addr().String(), Regional: regional.Addr().String(), Raft: store.RaftAddr(), CAFile: caFile}
	n.mu.Unlock()
	close(n.ready)
	n.log.Info("node ready", "node", cfg.Name, "region", cfg.Region, "admin", n.addrs.Admin, "regional", n.addrs.Regional)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	n.log.Info("node stopping", "node", cfg.Name)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace.D())
	defer cancel()
	adminSrv.Shutdown(shutCtx)
	stop() // the regional endpoint drains within its own grace period
	wg.Wait()
	return err
}

// serverTLS loads the configured certificate, or generates one for the
// node's names under data_dir/tls.
func (n *Node) serverTLS() (*tls.Config, string, error) {
	cfg := n.cfg
	if cfg.Regional.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.Regional.CertFile, cfg.Regional.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("load regional certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, "", nil
	}
	names := []string{
		"*." + cfg.Region + "." + cfg.Zone, cfg.Region + "." + cfg.Zone, cfg.Name + "." + cfg.Zone, "localhost",
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if host, _, err := net.SplitHostPort(cfg.Regional.Listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.Equal(ips[0]) {
			ips = append(ips, ip)
		}
	}
	dir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		return nil, "", fmt.Errorf("local CA: %w", err)
	}
	c, err := pki.EnsureCert(ca, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"),
		pki.IssueOptions{CommonName: cfg.Name, DNSNames: names, IPs: ips})
	if err != nil {
		return nil, "", fmt.Errorf("server certificate: %w", err)
	}
	n.log.Warn("serving a generated certificate; set regional.cert_file and regional.key_file in production", "ca_file", ca.CertFile)
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, ca.CertFile, nil
}

// invokeURLs builds the invoke URLs of a stage per endpoint type this node
// serves: https://{apiId}.{region}.{zone}[:port]/{stage}/.
func invokeURLs(zone string, port int) func(a *configs.API, stage string) map[string]string {
	return func(a *configs.API, stage string) map[string]string {
		urls := map[string]string{}
		if a.HasEndpointType(configs.EndpointRegional) {
			host := a.ID + "." + a.HomeRegion + "." + zone
			if port != 443 {
				host += ":" + strconv.Itoa(port)
			}
			urls[string(configs.EndpointRegional)] = "https://" + host + "/" + stage + "/"
		}
		return urls
	}
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
