package endpoints

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/portico-gw/portico/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Kind says which endpoint a Gateway is.
type Kind string

const (
	// KindRegional serves REGIONAL APIs of the node's region at
	// {apiId}.{region}.{zone} over HTTPS (HTTP/1.1 and HTTP/2), runs
	// integrations and holds the regional cache.
	KindRegional Kind = "regional"
	// KindEdge serves EDGE APIs of every region at {apiId}.edge.{zone}
	// over HTTP/1.1, HTTP/2 and HTTP/3 on one port number, answers from
	// the edge cache and forwards misses to a regional node of the API's
	// home region (see Upstreams).
	KindEdge Kind = "edge"
	// KindOrigin is a regional node's side of edge forwarding: EDGE APIs
	// whose home region is the node's, for requests from edges only
	// (mutual TLS), trusting the client address an edge sends. It
	// listens for HTTP/3 itself; the node mounts Handler on its
	// mutual-TLS listener for HTTP/2.
	KindOrigin Kind = "origin"
	// KindPrivate serves PRIVATE APIs of the node's region at
	// {apiId}.private.{region}.{zone} over HTTPS (HTTP/1.1 and HTTP/2) on
	// one internal network: it listens on the node's address there and
	// takes connections only from the network's CIDRs.
	KindPrivate Kind = "private"
)

// Config for an endpoint.
type Config struct {
	// Kind of endpoint; default KindRegional.
	Kind   Kind
	Region string // the node's region, e.g. "us-east-1"
	Zone   string // invoke host zone, e.g. "portico.localhost"
	// Listen is the address, e.g. "127.0.0.1:8443" (":0" allowed in
	// tests). An edge listens on TCP and UDP with the same port. An
	// origin listens on UDP only, and only when Listen is set.
	Listen string
	// TLS is the server TLS config with certificates. NextProtos is set
	// by the endpoint; the caller's value is not changed. An origin's
	// config must require and verify client certificates of the cluster.
	TLS *tls.Config
	// Source is the committed state. State() never blocks; Changed() is
	// closed on the next change.
	Source configs.Source
	// Upstreams (edge only) lists the regional nodes to forward to, and
	// UpstreamTLS is the client config that authenticates this edge to
	// them (mutual TLS under the cluster CA).
	Upstreams   Upstreams
	UpstreamTLS *tls.Config
	// Network, EndpointID and NetworkCIDRs (private only) describe the
	// internal network the endpoint serves: requests on it come from that
	// network and private endpoint (resource policies' source_networks
	// and private_endpoints), and its listener takes connections only
	// from the CIDRs.
	Network      string
	EndpointID   string
	NetworkCIDRs []netip.Prefix
	// Access is the node's shared access-control state (authorizers,
	// SigV4 replay set, limiter); nil makes one for this endpoint alone.
	Access *Access
	// Now is the clock of the cache; default the cache's coarse clock
	// (cache.Options.Now).
	Now func() time.Time
	// Logger is the component logger; nil discards.
	Logger *slog.Logger
	// AccessLog receives one record per request; nil turns it off.
	AccessLog *slog.Logger
	// Registerer receives the metrics; nil turns them off.
	Registerer prometheus.Registerer
	// ShutdownGrace bounds how long Run lets in-flight requests finish
	// after its context is done; default 10s.
	ShutdownGrace time.Duration
	// ObserveRTT, when set, receives the kernel's smoothed round trip of
	// each client TCP connection of a regional or edge endpoint, once per
	// connection (Linux only; not HTTP/3; see rtt.go). It is
	// called on the connection's goroutine and must not block.
	ObserveRTT func(client netip.Addr, rtt time.Duration)
}

// DefaultShutdownGrace is Config.ShutdownGrace when unset.
const DefaultShutdownGrace = 10 * time.Second

// Server timeouts: a client cannot hold a connection by sending slowly
// (slowloris) or by idling.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// Gateway is one endpoint of a node (see Kind): a listener, the request
// pipeline, and the routing table compiled from the committed state.
type Gateway struct {
	cfg        Config
	log        *slog.Logger
	accessLog  *slog.Logger
	hostSuffix string // "{region}.{zone}" or "edge.{zone}", lowercase

	table atomic.Pointer[table]

	// Owned by whoever builds tables: New, then the watch loop.
	built  *configs.State
	failed map[stageKey]failure

	metrics   *metrics
	transport *upstreamTransport
	proxy     *httputil.ReverseProxy
	handler   http.Handler
	cache     *cache.Cache
	forward   *forwarder // edge only
	access    *Access

	running atomic.Bool
	ready   chan struct{}
	addr    net.Addr // set before ready is closed
}

// NewRegional is New, kept for the callers that predate the other kinds;
// New defaults cfg.Kind to KindRegional itself.
func NewRegional(cfg Config) (*Gateway, error) { return New(cfg) }

// New validates cfg, fills defaults and compiles the first table from
// cfg.Source. It does not listen; Run does.
func New(cfg Config) (*Gateway, error) {
	var errs []error
	if cfg.Kind == "" {
		cfg.Kind = KindRegional
	}
	switch cfg.Kind {
	case KindRegional, KindEdge, KindOrigin, KindPrivate:
	default:
		errs = append(errs, fmt.Errorf("unknown endpoint kind %q", cfg.Kind))
	}
	if cfg.Region == "" {
		errs = append(errs, errors.New("region is required"))
	}
	if strings.Trim(cfg.Zone, ".") == "" {
		errs = append(errs, errors.New("zone is required"))
	}
	if cfg.Listen == "" && cfg.Kind != KindOrigin {
		errs = append(errs, errors.New("listen address is required"))
	}
	if cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil) {
		errs = append(errs, errors.New("tls config with a certificate is required"))
	}
	if cfg.Kind == KindOrigin && cfg.TLS != nil && cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		errs = append(errs, errors.New("an origin endpoint's tls config must require and verify client certificates"))
	}
	if cfg.Kind == KindEdge && (cfg.Upstreams == nil || cfg.UpstreamTLS == nil) {
		errs = append(errs, errors.New("an edge endpoint needs upstreams and an upstream tls config"))
	}
	if cfg.Kind == KindPrivate && (cfg.Network == "" || len(cfg.NetworkCIDRs) == 0) {
		errs = append(errs, errors.New("a private endpoint needs its network's name and CIDRs"))
	}
	if cfg.Source == nil {
		errs = append(errs, errors.New("source is required"))
	}
	if cfg.ShutdownGrace < 0 {
		errs = append(errs, errors.New("shutdown grace must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("endpoints: %s config: %w", cfg.Kind, err)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	zone := strings.Trim(cfg.Zone, ".")
	g := &Gateway{
		cfg:        cfg,
		log:        cfg.Logger,
		accessLog:  cfg.AccessLog,
		hostSuffix: strings.ToLower(cfg.Region + "." + zone),
		failed:     map[stageKey]failure{},
		transport:  newUpstreamTransport(newTransport()),
		ready:      make(chan struct{}),
		access:     cfg.Access,
	}
	if g.access == nil {
		g.access = NewAccess(cfg.Logger)
	}
	switch cfg.Kind {
	case KindEdge, KindOrigin:
		g.hostSuffix = strings.ToLower("edge." + zone)
	case KindPrivate:
		g.hostSuffix = strings.ToLower("private." + cfg.Region + "." + zone)
	}
	if g.log == nil {
		g.log = discardLogger
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	g.metrics = m
	g.cache = cache.New(cache.Options{Tier: g.tier(), Now: cfg.Now, Observer: m.cacheObserver(g.tier()), Logger: g.log,
		DropHeaders: []string{headerRequestID}})
	g.proxy = newReverseProxy(g.transport, g.log)
	if cfg.Kind == KindEdge {
		g.forward = newForwarder(cfg.Upstreams, cfg.UpstreamTLS, g.log)
	}
	g.handler = g.pipeline()
	g.table.Store(emptyTable())
	g.rebuild(cfg.Source.State())
	return g, nil
}

// tier names the cache tier this endpoint holds.
func (g *Gateway) tier() string {
	if g.cfg.Kind == KindEdge {
		return "edge"
	}
	return "regional"
}

// ServingIndex is the config index of the routing table requests are
// answered from; it trails the source's index while a rebuild runs.
func (g *Gateway) ServingIndex() uint64 { return g.table.Load().index }

// Kind is the endpoint's kind.
func (g *Gateway) Kind() Kind { return g.cfg.Kind }

// Handler returns the full request pipeline, for tests and benchmarks.
// It serves the current table whether or not Run is running; only Run
// follows changes of the source.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Ready is closed once Run is listening. If Run fails before it listens
// (the address is taken), Ready is never closed: wait on Run's result too.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr is the listening address (TCP; UDP for an origin); valid after
// Ready is closed, nil for an origin without a listener.
func (g *Gateway) Addr() net.Addr {
	select {
	case <-g.ready:
		return g.addr
	default:
		return nil
	}
}

// FlushCache applies a cache invalidation at once (from gossip). The
// committed state applies it too when it arrives; doing both is harmless.
func (g *Gateway) FlushCache(api, stage, prefix string, seq uint64) {
	g.cache.Flush(api, stage, cache.Flush{Seq: seq, Prefix: prefix})
}

// Run listens and serves until ctx is done, following config changes
// meanwhile: HTTPS with HTTP/2 and HTTP/1.1 on TCP (regional, edge) and
// HTTP/3 on UDP (edge, on the same port number, advertised by Alt-Svc;
// origin). Then it stops accepting, lets in-flight requests finish within
// ShutdownGrace (closing whatever is left after it) and returns nil. It
// blocks; it may be called once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return fmt.Errorf("endpoints: %s endpoint already ran", g.cfg.Kind)
	}
	ls, err := g.listen(ctx)
	if err != nil {
		return err
	}
	g.addr = ls.addr()
	close(g.ready)
	if g.addr != nil {
		g.log.Info(string(g.cfg.Kind)+" endpoint listening", "addr", g.addr.String(), "hosts", "*."+g.hostSuffix, "http3", ls.udp != nil)
	}

	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { g.watch(watchCtx) })
	served := make(chan error, 2)
	var srv *http.Server
	if ls.tcp != nil {
		srv = g.newServer(ls)
		wg.Go(func() { served <- srv.ServeTLS(ls.tcp, "", "") })
	}
	var h3 *http3.Server
	if ls.udp != nil {
		h3 = g.newHTTP3Server()
		wg.Go(func() {
			if err := h3.Serve(ls.udp); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
				served <- err
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("endpoints: serve: %w", err)
	}

	// Reverse order of start: stop taking requests, drain, stop following
	// the config.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownGrace)
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			g.log.Warn("shutdown grace expired; closing remaining connections", "grace", g.cfg.ShutdownGrace, "err", err)
			_ = srv.Close()
		}
	}
	if h3 != nil {
		if err := h3.Shutdown(sctx); err != nil {
			_ = h3.Close()
		}
		_ = ls.udp.Close()
	}
	cancel()
	stopWatch()
	wg.Wait()
	g.transport.CloseIdleConnections()
	if g.forward != nil {
		g.forward.close()
	}
	g.log.Info(string(g.cfg.Kind) + " endpoint stopped")
	return runErr
}

func (g *Gateway) newServer(ls *listeners) *http.Server {
	tc := g.cfg.TLS.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	var connContext func(context.Context, net.Conn) context.Context
	if ls.udp != nil {
		connContext = altSvcConnContext(ls.udp.LocalAddr().(*net.UDPAddr).Port)
	}
	return &http.Server{
		Handler:           g.handler,
		TLSConfig:         tc,
		Protocols:         &protos,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         g.connStateHook(), // nil unless Config.ObserveRTT
		ConnContext:       connContext,
		// TLS handshake failures and the like are the client's problem.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
}

// watch follows the source: whenever it changes, a new table is built and
// swapped in. It takes the Changed channel before reading the State, so a
// change between the two is never missed.
func (g *Gateway) watch(ctx context.Context) {
	for {
		changed := g.cfg.Source.Changed()
		g.rebuild(g.cfg.Source.State())
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// rebuild compiles st and publishes it, unless it is the state already
// served.
func (g *Gateway) rebuild(st *configs.State) {
	if st == g.built && st != nil {
		return
	}
	start := time.Now()
	t := g.build(st, g.table.Load())
	g.table.Store(t)
	g.built = st
	g.log.Debug("routing table built", "index", t.index, "apis", len(t.apis), "took", time.Since(start))
}
