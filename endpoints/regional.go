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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/configs"
	"github.com/prometheus/client_golang/prometheus"
)

// Config for the regional endpoint.
type Config struct {
	Region string // the node's region, e.g. "us-east-1"
	Zone   string // invoke host zone, e.g. "portico.localhost"
	Listen string // e.g. "127.0.0.1:8443" (":0" allowed in tests)
	// TLS is the server TLS config with certificates. NextProtos is set
	// by the endpoint (h2, http/1.1); the caller's value is not changed.
	TLS *tls.Config
	// Source is the committed state. State() never blocks; Changed() is
	// closed on the next change.
	Source configs.Source
	// Logger is the component logger; nil discards.
	Logger *slog.Logger
	// AccessLog receives one record per request; nil turns it off.
	AccessLog *slog.Logger
	// Registerer receives the metrics; nil turns them off.
	Registerer prometheus.Registerer
	// ShutdownGrace bounds how long Run lets in-flight requests finish
	// after its context is done; default 10s.
	ShutdownGrace time.Duration
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

// Regional is the regional endpoint of a node: an HTTPS listener serving
// every API whose home region is this node's region and that is published
// as REGIONAL.
type Regional struct {
	cfg        Config
	log        *slog.Logger
	accessLog  *slog.Logger
	hostSuffix string // "{region}.{zone}", lowercase

	table atomic.Pointer[table]

	// Owned by whoever builds tables: NewRegional, then the watch loop.
	built  *configs.State
	failed map[stageKey]failure

	metrics   *metrics
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	handler   http.Handler

	running atomic.Bool
	ready   chan struct{}
	addr    net.Addr // set before ready is closed
}

// NewRegional validates cfg, fills defaults and compiles the first table
// from cfg.Source. It does not listen; Run does.
func NewRegional(cfg Config) (*Regional, error) {
	var errs []error
	if cfg.Region == "" {
		errs = append(errs, errors.New("region is required"))
	}
	if strings.Trim(cfg.Zone, ".") == "" {
		errs = append(errs, errors.New("zone is required"))
	}
	if cfg.Listen == "" {
		errs = append(errs, errors.New("listen address is required"))
	}
	if cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil) {
		errs = append(errs, errors.New("tls config with a certificate is required"))
	}
	if cfg.Source == nil {
		errs = append(errs, errors.New("source is required"))
	}
	if cfg.ShutdownGrace < 0 {
		errs = append(errs, errors.New("shutdown grace must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("endpoints: regional config: %w", err)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	g := &Regional{
		cfg:        cfg,
		log:        cfg.Logger,
		accessLog:  cfg.AccessLog,
		hostSuffix: strings.ToLower(cfg.Region + "." + strings.Trim(cfg.Zone, ".")),
		failed:     map[stageKey]failure{},
		transport:  newTransport(),
		ready:      make(chan struct{}),
	}
	if g.log == nil {
		g.log = discardLogger
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	g.metrics = m
	g.proxy = newReverseProxy(g.transport, g.log)
	g.handler = g.pipeline()
	g.table.Store(emptyTable())
	g.rebuild(cfg.Source.State())
	return g, nil
}

// Handler returns the full request pipeline, for tests and benchmarks.
// It serves the current table whether or not Run is running; only Run
// follows changes of the source.
func (g *Regional) Handler() http.Handler { return g.handler }

// Ready is closed once Run is listening. If Run fails before it listens
// (the address is taken), Ready is never closed: wait on Run's result too.
func (g *Regional) Ready() <-chan struct{} { return g.ready }

// Addr is the listening address; valid after Ready is closed.
func (g *Regional) Addr() net.Addr {
	select {
	case <-g.ready:
		return g.addr
	default:
		return nil
	}
}

// Run listens on cfg.Listen and serves HTTPS (HTTP/2 and HTTP/1.1) until
// ctx is done, following config changes meanwhile. Then it stops
// accepting, lets in-flight requests finish within ShutdownGrace (closing
// whatever is left after it) and returns nil. It blocks; it may be called
// once.
func (g *Regional) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("endpoints: regional endpoint already ran")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("endpoints: listen on %s: %w", g.cfg.Listen, err)
	}
	srv := g.newServer()
	g.addr = ln.Addr()
	close(g.ready)
	g.log.Info("regional endpoint listening", "addr", g.addr.String(), "hosts", "*."+g.hostSuffix)

	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { g.watch(watchCtx) })
	served := make(chan error, 1)
	wg.Go(func() { served <- srv.ServeTLS(ln, "", "") })

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("endpoints: serve: %w", err)
	}

	// Reverse order of start: stop taking requests, drain, stop following
	// the config.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownGrace)
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("shutdown grace expired; closing remaining connections", "grace", g.cfg.ShutdownGrace, "err", err)
		_ = srv.Close()
	}
	cancel()
	stopWatch()
	wg.Wait()
	g.transport.CloseIdleConnections()
	g.log.Info("regional endpoint stopped")
	return runErr
}

func (g *Regional) newServer() *http.Server {
	tc := g.cfg.TLS.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	return &http.Server{
		Handler:           g.handler,
		TLSConfig:         tc,
		Protocols:         &protos,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// TLS handshake failures and the like are the client's problem.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
}

// watch follows the source: whenever it changes, a new table is built and
// swapped in. It takes the Changed channel before reading the State, so a
// change between the two is never missed.
func (g *Regional) watch(ctx context.Context) {
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
func (g *Regional) rebuild(st *configs.State) {
	if st == g.built && st != nil {
		return
	}
	start := time.Now()
	t := g.build(st, g.table.Load())
	g.table.Store(t)
	g.built = st
	g.log.Debug("routing table built", "index", t.index, "apis", len(t.apis), "took", time.Since(start))
}
