package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config of a Server. Zero values take the documented defaults.
type Config struct {
	// Listen is the host:port served on both UDP and TCP (one port for
	// both; with port 0 a free port is picked for both). Required. Bind
	// a specific address: on a wildcard address a multi-homed host may
	// answer UDP from another source address than was asked.
	Listen string
	// NodeName is the answering node: the origin of node-to-node round
	// trips (Latency.NodeRTT) and the SOA primary when the snapshot names
	// no dns node.
	NodeName string
	// View is the cluster picture answers come from. Required.
	View View
	// Latency is the measured latency source; nil uses the latency map
	// and the fallback order only.
	Latency Latency
	// Logger is the component logger (the node passes one with
	// component=dns); nil uses slog.Default() with component=dns.
	Logger *slog.Logger
	// Registerer receives the metrics; nil turns them off.
	Registerer prometheus.Registerer

	// UDPSize is the EDNS buffer size advertised, and the largest UDP
	// response sent; default 1232 (DNS Flag Day 2020: no IP
	// fragmentation), 512 to 65535.
	UDPSize int
	// MaxAnswers is the most addresses in one answer; default 8.
	MaxAnswers int
	// Tolerance: edges whose latency is within Tolerance of the best (by
	// the same source) are answered with it; default 10ms.
	Tolerance time.Duration
	// Explore is the share of latency-routed answers given to the
	// runner-up so that its measurements stay fresh; default 0.05,
	// negative for never, at most 1.
	Explore float64
	// RateLimit limits UDP responses per client network.
	RateLimit RateLimitConfig
	// TCPIdleTimeout closes a TCP connection with no query for this
	// long; default 10s (RFC 7766 section 6.2.3: "at least a few seconds").
	TCPIdleTimeout time.Duration
	// MaxTCPConns bounds open TCP connections; more are closed at once.
	// Default 1024.
	MaxTCPConns int
	// UDPWorkers is the number of goroutines reading the UDP socket, each
	// answering inline; default GOMAXPROCS (at least 2).
	UDPWorkers int
	// UDPBatch is the most datagrams a UDP worker reads with one system
	// call (recvmmsg) and answers with one (sendmmsg), on Linux; default
	// 32, at most 1024 (the kernel's UIO_MAXIOV). 1 reads and writes one
	// datagram at a time, as on other systems. Each worker keeps a
	// 64 KiB read buffer per datagram (as Knot DNS does: a query may be
	// as long as a datagram), whose memory is only touched as far as
	// datagrams fill it.
	UDPBatch int

	// Now is the clock of the rate limiter and the fail-open log;
	// default time.Now. Tests inject one.
	Now func() time.Time
	// Rand returns a number in [0, 1) for exploration; it must be safe
	// for concurrent use. Default math/rand/v2.Float64; tests inject one.
	Rand func() float64
}

// RateLimitConfig is response-rate limiting for UDP, per client network
// (/24 for IPv4, /56 for IPv6).
type RateLimitConfig struct {
	// Rate is responses per second per client network; default 20,
	// negative turns rate limiting off.
	Rate float64
	// Burst is the bucket size; default 2×Rate (40).
	Burst int
	// Slip: every Slip-th limited response is sent empty with TC=1 so a
	// real client retries over TCP, the others are dropped; default 2.
	// 1 truncates every limited response; negative drops all of them.
	Slip int
	// MaxNetworks bounds the buckets kept (memory); default 65536.
	MaxNetworks int
}

// Defaults.
const (
	DefaultUDPSize        = 1232 // DNS Flag Day 2020
	DefaultMaxAnswers     = 8
	DefaultTolerance      = 10 * time.Millisecond
	DefaultExplore        = 0.05
	DefaultRate           = 20
	DefaultSlip           = 2
	DefaultMaxNetworks    = 65536
	DefaultTCPIdleTimeout = 10 * time.Second
	DefaultMaxTCPConns    = 1024
	DefaultUDPBatch       = 32
	maxUDPBatch           = 1024 // UIO_MAXIOV, the most messages recvmmsg and sendmmsg take
)

// withDefaults fills zero values.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default().With("component", "dns")
	}
	c.UDPSize = or(c.UDPSize, DefaultUDPSize)
	c.MaxAnswers = or(c.MaxAnswers, DefaultMaxAnswers)
	c.Tolerance = or(c.Tolerance, DefaultTolerance)
	c.Explore = or(c.Explore, DefaultExplore)
	c.RateLimit.Rate = or(c.RateLimit.Rate, DefaultRate)
	c.RateLimit.Burst = or(c.RateLimit.Burst, int(2*c.RateLimit.Rate))
	c.RateLimit.Slip = or(c.RateLimit.Slip, DefaultSlip)
	c.RateLimit.MaxNetworks = or(c.RateLimit.MaxNetworks, DefaultMaxNetworks)
	c.TCPIdleTimeout = or(c.TCPIdleTimeout, DefaultTCPIdleTimeout)
	c.MaxTCPConns = or(c.MaxTCPConns, DefaultMaxTCPConns)
	c.UDPWorkers = or(c.UDPWorkers, max(runtime.GOMAXPROCS(0), 2))
	c.UDPBatch = or(c.UDPBatch, DefaultUDPBatch)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validate reports every problem, with its field.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Listen == "" {
		bad("listen", "is required")
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.View == nil {
		bad("view", "is required")
	}
	if c.UDPSize < 512 || c.UDPSize > 65535 {
		bad("udp_size", "must be 512 to 65535, not %d", c.UDPSize)
	}
	if c.MaxAnswers < 1 {
		bad("max_answers", "must be at least 1, not %d", c.MaxAnswers)
	}
	if c.Tolerance < 0 {
		bad("tolerance", "must not be negative")
	}
	if c.Explore > 1 {
		bad("explore", "must be at most 1, not %v", c.Explore)
	}
	if c.RateLimit.Rate >= 0 && c.RateLimit.Burst < 1 {
		bad("rate_limit.burst", "must be at least 1, not %d", c.RateLimit.Burst)
	}
	if c.RateLimit.MaxNetworks < 1 {
		bad("rate_limit.max_networks", "must be at least 1")
	}
	if c.TCPIdleTimeout < 0 {
		bad("tcp_idle_timeout", "must not be negative")
	}
	if c.MaxTCPConns < 1 {
		bad("max_tcp_conns", "must be at least 1")
	}
	if c.UDPWorkers < 1 {
		bad("udp_workers", "must be at least 1")
	}
	if c.UDPBatch < 1 || c.UDPBatch > maxUDPBatch {
		bad("udp_batch", "must be 1 to %d, not %d", maxUDPBatch, c.UDPBatch)
	}
	return errors.Join(errs...)
}

// Server is the authoritative DNS server of a dns node.
type Server struct {
	cfg     Config
	view    View
	latency Latency
	log     *slog.Logger
	metrics *metrics
	limiter *limiter
	chain   handler

	ix      atomic.Pointer[index]
	ixBuild sync.Mutex // one index build per new snapshot

	failMu   sync.Mutex
	failLast map[string]time.Time // fail-open log: last line per name

	panics atomic.Uint64 // for the fuzz target and tests

	running atomic.Bool
	ready   chan struct{}
	addr    netip.AddrPort // set before ready is closed
}

// New validates cfg and fills its defaults. It does not listen; Run does.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("dns: config: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		view:     cfg.View,
		latency:  cfg.Latency,
		log:      cfg.Logger,
		metrics:  m,
		limiter:  newLimiter(cfg.RateLimit, cfg.Now),
		failLast: map[string]time.Time{},
		ready:    make(chan struct{}),
	}
	s.chain = s.newChain()
	return s, nil
}

// Ready is closed once Run listens. If Run fails before (the address is
// taken), Ready is never closed: wait on Run's result too.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address served on UDP and TCP; valid once Ready is closed.
func (s *Server) Addr() netip.AddrPort {
	select {
	case <-s.ready:
		return s.addr
	default:
		return netip.AddrPort{}
	}
}

// index returns the index of the view's current snapshot, building it on
// the first query after a change; nil when there is no snapshot or it
// names no zone.
func (s *Server) index() *index {
	snap := s.view.Snapshot()
	if snap == nil {
		return nil
	}
	ix := s.ix.Load()
	if ix == nil || ix.snap != snap {
		ix = s.build(snap)
	}
	if ix.noZone {
		return nil
	}
	return ix
}

// build indexes snap, once however many queries ask at the same time.
func (s *Server) build(snap *Snapshot) *index {
	s.ixBuild.Lock()
	defer s.ixBuild.Unlock()
	if ix := s.ix.Load(); ix != nil && ix.snap == snap {
		return ix
	}
	ix := newIndex(snap, s.cfg.NodeName, s.log)
	s.ix.Store(ix)
	return ix
}

// failOpenEvery is how often a name failing open is logged.
const failOpenEvery = time.Minute

// noteFailOpen counts a fail-open answer and logs it, once a minute per
// name (the log must not grow with the query rate).
func (s *Server) noteFailOpen(e entry, name string) {
	s.metrics.failedOpen()
	key, now := strings.ToLower(name), s.cfg.Now()
	s.failMu.Lock()
	last, seen := s.failLast[key]
	if seen && now.Sub(last) < failOpenEvery {
		s.failMu.Unlock()
		return
	}
	if len(s.failLast) >= 1024 {
		clear(s.failLast) // bounded; at worst a name is logged again early
	}
	s.failLast[key] = now
	s.failMu.Unlock()
	s.log.Warn("every candidate is unhealthy: answering all of them (fail open)", "name", name, "kind", e.kind.String())
}

// rand is the exploration draw.
func (s *Server) rand() float64 { return s.cfg.Rand() }
