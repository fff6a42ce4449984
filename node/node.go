package node

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/dns"
	"github.com/portico-gw/portico/endpoints"
	"github.com/portico-gw/portico/endpoints/limit"
)

// Node is one Portico process.
type Node struct {
	cfg configs.Node
	log *slog.Logger

	ready     chan struct{}
	mtls      *pki.MTLS
	ups       upstreams
	mu        sync.Mutex
	addrs     Addrs // set before ready is closed
	store     *cluster.Store
	gossip    *cluster.Gossip
	served    *cluster.Served
	endpoints []*runningEndpoint // in start order
	rtt       clientRTT          // measured client round trips (rtt.go)
}

// Addrs are the addresses a running node listens on.
type Addrs struct {
	Admin    string `json:"admin"`
	Regional string `json:"regional,omitempty"`
	Edge     string `json:"edge,omitempty"`
	DNS      string `json:"dns,omitempty"`
	Raft     string `json:"raft,omitempty"`
	Internal string `json:"internal"`
	Gossip   string `json:"gossip"`
	// Private maps an internal network to the node's private listener on
	// it.
	Private map[string]string `json:"private,omitempty"`
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
	return &Node{cfg: cfg, log: logger.With("node", cfg.Name), ready: make(chan struct{})}, nil
}

// Ready is closed once every listener is up (and, on a standalone node,
// the Raft log on disk has been replayed).
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addrs returns the listening addresses; valid after Ready.
func (n *Node) Addrs() Addrs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addrs
}

// Store returns the node's Raft store (nil on nodes that are not control
// nodes); valid after Ready.
func (n *Node) Store() *cluster.Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.store
}

// Gossip returns the node's gossip membership; valid after Ready.
func (n *Node) Gossip() *cluster.Gossip {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gossip
}

// Served returns the config the node serves; valid after Ready.
func (n *Node) Served() *cluster.Served {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.served
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Run starts every subsystem and blocks until ctx is done; then it leaves
// gracefully (hands Raft leadership over, announces its departure through
// gossip, drains in-flight requests within the grace period) and stops in
// reverse order of start.
func (n *Node) Run(ctx context.Context) (err error) {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	mt, err := n.clusterTLS()
	if err != nil {
		return err
	}
	n.mtls = mt
	served, err := cluster.OpenServed(cfg.DataDir, n.log.With("component", "config"))
	if err != nil {
		return err
	}
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	listen := func(what, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listen on %s: %w", what, addr, err)
		}
		cleanup = append(cleanup, func() { ln.Close() })
		return ln, nil
	}
	adminLn, err := listen("admin", cfg.Admin.Listen)
	if err != nil {
		return err
	}
	internalLn, err := listen("internal", cfg.Internal.Listen)
	if err != nil {
		return err
	}

	// Raft on control nodes; its committed states feed the served state.
	var store *cluster.Store
	if cfg.HasRole(configs.RoleControl) {
		store, err = cluster.Open(cluster.Config{
			NodeID: cfg.Name, DataDir: cfg.DataDir, Listen: cfg.Raft.Listen, Advertise: cfg.Raft.Advertise,
			Logger:    n.log.With("component", "raft"),
			ServerTLS: mt.Server, ClientTLS: mt.Client(""),
			BootstrapExpect:  cfg.BootstrapExpect,
			HeartbeatTimeout: cfg.Raft.HeartbeatTimeout.D(), ElectionTimeout: cfg.Raft.ElectionTimeout.D(),
			SnapshotThreshold: cfg.Raft.SnapshotThreshold, TrailingLogs: cfg.Raft.TrailingLogs,
		})
		if err != nil {
			return err
		}
		cleanup = append(cleanup, func() {
			if cerr := store.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		})
		if cfg.BootstrapExpect == 1 {
			// A standalone node replays its log before serving, so after a
			// crash it serves exactly what it acknowledged.
			readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err = store.WaitReady(readyCtx)
			cancel()
			if err != nil {
				return err
			}
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	cleanup = append(cleanup, func() { stop(); wg.Wait() })
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	errc := make(chan error, 4)

	if store != nil {
		goRun(func() { served.Track(runCtx, store) })
	}

	// The endpoints: regional (public, this region's REGIONAL APIs) and
	// origin (edges' requests for this region's EDGE APIs) on regional
	// nodes; edge on edge nodes.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var regional, origin, edge *endpoints.Gateway
	var caFile string
	var accessLog *slog.Logger
	if configs.ServesRequests(cfg.Roles) {
		var closeAccess func()
		if accessLog, closeAccess, err = openAccessLog(cfg.AccessLog); err != nil {
			return err
		}
		cleanup = append(cleanup, closeAccess)
	}
	start := func(gw *endpoints.Gateway, err error) (*endpoints.Gateway, error) {
		if err != nil {
			return nil, err
		}
		re, err := n.startEndpoint(gw, errc)
		if err != nil {
			return nil, err
		}
		// Stopped by the graceful leave below, or here on an early error.
		cleanup = append(cleanup, func() { re.stop(); <-re.done })
		n.mu.Lock()
		n.endpoints = append(n.endpoints, re)
		n.mu.Unlock()
		return gw, nil
	}
	client := internalClient(mt)
	access, limiter, coord, leases, err := n.startLimits(store, client)
	if err != nil {
		return err
	}
	base := func(kind endpoints.Kind, listen string, tlsConf *tls.Config) endpoints.Config {
		return endpoints.Config{
			Kind: kind, Region: cfg.Region, Zone: cfg.Zone, Listen: listen, TLS: tlsConf, Source: served, Access: access,
			Logger: n.log.With("component", string(kind)), AccessLog: accessLog,
			Registerer: endpointRegisterer(reg, string(kind)), ShutdownGrace: cfg.ShutdownGrace.D(),
			ObserveRTT: n.observeRTT, // used by regional and edge endpoints only
		}
	}
	if cfg.HasRole(configs.RoleRegional) {
		var tlsConf *tls.Config
		if tlsConf, caFile, err = n.serverTLS(cfg.Regional, "regional"); err != nil {
			return err
		}
		if regional, err = start(endpoints.New(base(endpoints.KindRegional, cfg.Regional.Listen, tlsConf))); err != nil {
			return fmt.Errorf("regional endpoint: %w", err)
		}
		// HTTP/3 from edges on the internal listener's port number (UDP);
		// HTTP/2 from edges reaches Handler through the internal listener.
		if origin, err = start(endpoints.New(base(endpoints.KindOrigin, internalLn.Addr().String(), mt.Server))); err != nil {
			return fmt.Errorf("origin endpoint: %w", err)
		}
	}
	// Private listeners: one per internal network the node has an
	// address on (regional nodes only).
	privateAddrs := map[string]string{}
	if pls := cfg.PrivateListeners(); len(pls) > 0 {
		if err := checkLocalAddrs(cfg); err != nil {
			return err
		}
		tlsConf, ca, err := n.serverTLS(configs.ListenerConfig{CertFile: cfg.Private.CertFile, KeyFile: cfg.Private.KeyFile}, "private")
		if err != nil {
			return err
		}
		caFile = cmp.Or(caFile, ca)
		for _, pl := range pls {
			pc := base(endpoints.KindPrivate, pl.Listen, tlsConf)
			pc.Registerer = endpointRegisterer(reg, string(endpoints.KindPrivate)+"-"+pl.Network)
			gw, err := start(endpoints.New(privateConfig(pc, pl)))
			if err != nil {
				return fmt.Errorf("private endpoint of network %s: %w", pl.Network, err)
			}
			privateAddrs[pl.Network] = gw.Addr().String()
		}
	}
	if cfg.HasRole(configs.RoleEdge) {
		tlsConf, ca, err := n.serverTLS(cfg.Edge, "edge")
		if err != nil {
			return err
		}
		caFile = cmp.Or(caFile, ca)
		ec := base(endpoints.KindEdge, cfg.Edge.Listen, tlsConf)
		ec.Upstreams, ec.UpstreamTLS = &n.ups, mt.Client("")
		if edge, err = start(endpoints.New(ec)); err != nil {
			return fmt.Errorf("edge endpoint: %w", err)
		}
	}

	n.mu.Lock()
	n.addrs = Addrs{Admin: adminLn.Addr().String(), Internal: advertised(cfg.Internal.Advertise, internalLn), CAFile: caFile}
	if len(privateAddrs) > 0 {
		n.addrs.Private = privateAddrs
	}
	if regional != nil {
		n.addrs.Regional = regional.Addr().String()
	}
	if edge != nil {
		n.addrs.Edge = edge.Addr().String() // listening, as Regional: DNS answers need addresses, advertise may be a name
	}
	if store != nil {
		n.addrs.Raft = store.RaftAddr()
	}
	n.mu.Unlock()

	// Gossip.
	keys, err := gossipKeys(cfg.Gossip.KeyFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "gossip"), 0o700); err != nil {
		return fmt.Errorf("create gossip directory: %w", err)
	}
	keyring := ""
	if len(keys) > 0 {
		keyring = filepath.Join(cfg.DataDir, "gossip", "keyring")
	} else if _, err := os.Stat(filepath.Join(cfg.DataDir, "gossip", "keyring")); err == nil {
		keyring = filepath.Join(cfg.DataDir, "gossip", "keyring") // rotated earlier
	}
	g, err := cluster.StartGossip(cluster.GossipConfig{
		NodeName: cfg.Name, Bind: cfg.Gossip.Listen, Advertise: cfg.Gossip.Advertise,
		KeyringFile: keyring, Keys: keys,
		Meta:    n.meta(cluster.HealthStarting, served.State().Index, store != nil && store.HasState()),
		OnEvent: n.onGossipEvent,
		Logger:  n.log.With("component", "gossip"),
	})
	if err != nil {
		return err
	}
	cleanup = append(cleanup, func() { g.Shutdown() })
	goRun(func() { n.runRTT(runCtx, g) })
	if edge != nil {
		// Until the list is built the edge answers misses with 503.
		n.ups.update(g)
		goRun(func() { n.ups.follow(runCtx, g) })
	}
	n.mu.Lock()
	n.addrs.Gossip = g.LocalAddr()
	n.store, n.gossip, n.served = store, g, served
	n.mu.Unlock()

	// DNS on dns nodes: answers from gossip and the served state.
	var dnsServer *dns.Server
	if cfg.HasRole(configs.RoleDNS) {
		view := &dnsView{}
		view.snap.Store(buildSnapshot(cfg, g.Members(), served.State()))
		goRun(func() { view.follow(runCtx, cfg, g, served) })
		dnsServer, err = dns.New(dns.Config{
			Listen: cfg.DNS.Listen, NodeName: cfg.Name, View: view, Latency: gossipLatency{g, &n.rtt.table},
			Logger: n.log.With("component", "dns"), Registerer: reg, Explore: cfg.DNS.Explore,
			RateLimit: dns.RateLimitConfig{Rate: cfg.DNS.RateLimit.Rate, Burst: cfg.DNS.RateLimit.Burst, Slip: cfg.DNS.RateLimit.Slip},
		})
		if err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		if err := startRunner(runCtx, dnsServer, "dns", goRun, errc); err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		n.mu.Lock()
		n.addrs.DNS = dnsServer.Addr().String()
		n.mu.Unlock()
	}

	health := newHealth()
	goRun(func() { n.announce(runCtx, g, served, store, health.get) })
	if len(cfg.Join) > 0 {
		goRun(func() { n.joinLoop(runCtx, g, cfg.Join) })
	}
	if configs.ServesRequests(cfg.Roles) {
		// Only gateway nodes admit requests. Elsewhere the limiter's
		// empty rounds would be heartbeats from a node gatewayPeers does
		// not count.
		goRun(func() { _ = limiter.Run(runCtx) })
	}
	if coord != nil {
		goRun(func() { coord.run(runCtx) })
	}
	if store != nil {
		if cfg.BootstrapExpect > 1 && !store.HasState() {
			goRun(func() { n.bootstrapLoop(runCtx, g, store, cfg.BootstrapExpect) })
		}
		goRun(func() { n.reconcileLoop(runCtx, g, store) })
	} else {
		f := cluster.NewFollower(cluster.FollowerConfig{
			Served: served, Peers: n.controlPeers(g), Client: client, Newest: newestIndex(g),
			Logger: n.log.With("component", "follower"),
		})
		goRun(func() { f.Run(runCtx) })
	}

	// Admin API (operators, loopback) and the internal listener (nodes,
	// mutual TLS). Both accept writes and forward them to the leader.
	var adminStore Store = followerStore{name: cfg.Name, served: served}
	if store != nil {
		adminStore = store
	}
	regionalPort := 0
	if regional != nil {
		regionalPort = portOf(cmp.Or(cfg.Regional.Advertise, regional.Addr().String()))
	}
	// The advertised port, else the one listened on; a node without the
	// edge role names the configured edge port.
	edgePort := portOf(cmp.Or(cfg.Edge.Advertise, n.addrs.Edge, cfg.Edge.Listen))
	admin := &Admin{
		store: adminStore, region: cfg.Region, log: n.log.With("component", "admin"), now: time.Now,
		metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		invokeURLs: invokeURLs(cfg.Zone, regionalPort, edgePort, privatePort(cfg, privateAddrs)),
		cluster:    &clusterAdmin{node: n, gossip: g, store: store, client: client},
		flushed:    n.broadcastFlush,
	}
	if dnsServer != nil {
		admin.explain = func(name string, client netip.Addr, subnet netip.Prefix) any {
			return dnsServer.Explain(name, client, subnet)
		}
	}
	adminHandler := admin.Handler()
	fwd := newForwarder(n, false, adminHandler, g, store, served, client)
	internalMux := http.NewServeMux()
	stopPolls := make(chan struct{}) // closed when the internal server shuts down
	if store != nil {
		internalMux.Handle(cluster.StatePath, cluster.StateHandler(store, stopPolls))
		internalMux.Handle(LeasePath, coord.serve(func(ctx context.Context, req limit.LeaseRequest) (limit.LeaseResponse, error) {
			return leases.remote(ctx, req, true)
		}))
	}
	internalMux.Handle("/", newForwarder(n, true, adminHandler, g, store, served, client))
	var internalHandler http.Handler = internalMux
	if origin != nil {
		// Edges forward over HTTP/2 here when HTTP/3 does not get through.
		edgeSuffix := ".edge." + strings.ToLower(strings.Trim(cfg.Zone, "."))
		internalHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if edgeHost(r.Host, edgeSuffix) {
				origin.Handler().ServeHTTP(w, r)
				return
			}
			internalMux.ServeHTTP(w, r)
		})
	}
	servers := []*http.Server{
		n.httpServer(fwd, "admin"),
		n.httpServer(internalHandler, "internal"),
	}
	servers[1].RegisterOnShutdown(func() { close(stopPolls) })
	servers[1].TLSConfig = mt.Server.Clone()
	servers[1].TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	for i, ln := range []net.Listener{adminLn, internalLn} {
		srv := servers[i]
		if srv.TLSConfig != nil {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		goRun(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", srv.ErrorLog.Prefix(), err)
			}
		})
	}
	if ip := net.ParseIP(hostOf(adminLn.Addr().String())); ip == nil || !ip.IsLoopback() {
		n.log.Warn("the admin API has no authentication yet and listens beyond loopback; restrict access with a firewall", "admin", adminLn.Addr().String())
	}

	health.set(cluster.HealthOK)
	close(n.ready)
	n.log.Info("node ready", "region", cfg.Region, "roles", cfg.Roles, "admin", n.addrs.Admin, "regional", n.addrs.Regional, "edge", n.addrs.Edge, "dns", n.addrs.DNS, "gossip", n.addrs.Gossip)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}

	// Graceful leave: say so, hand leadership over, leave gossip, drain.
	n.log.Info("node stopping")
	health.set(cluster.HealthDraining)
	g.SetMeta(n.meta(cluster.HealthDraining, served.State().Index, store != nil && store.HasState()))
	grace := cfg.ShutdownGrace.D()
	if store != nil && store.IsLeader() {
		tctx, cancel := context.WithTimeout(context.Background(), min(grace, 5*time.Second))
		if terr := store.TransferLeadership(tctx); terr != nil {
			n.log.Warn("leadership transfer failed", "err", terr)
		}
		cancel()
	}
	lctx, cancel := context.WithTimeout(context.Background(), min(grace, 3*time.Second))
	if lerr := g.Leave(lctx); lerr != nil {
		n.log.Warn("gossip leave failed", "err", lerr)
	}
	cancel()
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, srv := range servers {
		if srv.Shutdown(shutCtx) != nil {
			srv.Close() // the grace period is over: cut what is left
		}
	}
	for _, re := range slices.Backward(n.endpoints) {
		re.stop() // drains within its own grace period
		<-re.done
	}
	return err
}

func (n *Node) httpServer(h http.Handler, name string) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(n.log.With("component", name).Handler(), slog.LevelWarn),
	}
}

func advertised(adv string, ln net.Listener) string {
	if adv != "" {
		return adv
	}
	return ln.Addr().String()
}

// health is the node's announced health, read by the meta loop.
type health struct {
	mu sync.Mutex
	v  string
}

func newHealth() *health { return &health{v: cluster.HealthStarting} }

func (h *health) set(v string) { h.mu.Lock(); h.v = v; h.mu.Unlock() }
func (h *health) get() string  { h.mu.Lock(); defer h.mu.Unlock(); return h.v }

// serverTLS loads the configured certificate of a public listener
// (regional or edge), or uses one generated for the node's names under
// data_dir/tls.
func (n *Node) serverTLS(lc configs.ListenerConfig, what string) (*tls.Config, string, error) {
	c, ca, err := n.listenerTLS(lc, what)
	if err != nil || what == "private" {
		return c, ca, err
	}
	// Custom domains: their certificates beside the node's own; the
	// handshake picks the first one that fits the client's SNI.
	for i, f := range n.cfg.DomainCertificates {
		dc, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("domain_certificates[%d]: %w", i, err)
		}
		c.Certificates = append(c.Certificates, dc)
	}
	return c, ca, nil
}

func (n *Node) listenerTLS(lc configs.ListenerConfig, what string) (*tls.Config, string, error) {
	cfg := n.cfg
	if lc.CertFile != "" {
		c, err := tls.LoadX509KeyPair(lc.CertFile, lc.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("load %s certificate: %w", what, err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, "", nil
	}
	names := []string{
		"*." + cfg.Region + "." + cfg.Zone, cfg.Region + "." + cfg.Zone, "*.edge." + cfg.Zone,
		"*.private." + cfg.Region + "." + cfg.Zone, cfg.Name + "." + cfg.Zone, "localhost",
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, addr := range append([]string{cfg.Regional.Listen, cfg.Edge.Listen}, privateListens(cfg)...) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err == nil && ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
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
	n.log.Warn("serving a generated certificate; set "+what+".cert_file and "+what+".key_file in production", "ca_file", ca.CertFile)
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, ca.CertFile, nil
}

// invokeURLs builds the invoke URLs of a stage per endpoint type:
// https://{apiId}.{region}.{zone}[:port]/{stage}/ and the edge and private
// forms.
func invokeURLs(zone string, regionalPort, edgePort, privatePort int) func(a *configs.API, stage string) map[string]string {
	url := func(host string, port int, stage string) string {
		if port != 443 && port != 0 {
			host += ":" + strconv.Itoa(port)
		}
		return "https://" + host + "/" + stage + "/"
	}
	return func(a *configs.API, stage string) map[string]string {
		urls := map[string]string{}
		if a.HasEndpointType(configs.EndpointRegional) {
			urls[string(configs.EndpointRegional)] = url(a.ID+"."+a.HomeRegion+"."+zone, regionalPort, stage)
		}
		if a.HasEndpointType(configs.EndpointEdge) {
			urls[string(configs.EndpointEdge)] = url(a.ID+".edge."+zone, edgePort, stage)
		}
		if a.HasEndpointType(configs.EndpointPrivate) {
			urls[string(configs.EndpointPrivate)] = url(a.ID+".private."+a.HomeRegion+"."+zone, privatePort, stage)
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
