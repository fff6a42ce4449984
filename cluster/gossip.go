// Gossip membership (gossip*.go, meta.go): every node runs hashicorp/serf
// on top of hashicorp/memberlist. Serf carries each node's NodeMeta as
// versioned tags, turns memberlist's view into join, update, fail, leave
// and reap events, rotates the encryption keyring cluster-wide through
// internal queries, and keeps Vivaldi network coordinates from probe round
// trips (RTT). Nothing here holds an operator's write.
//
// # Failure-detection timings
//
// memberlist's LAN defaults (probe every 1 s, 500 ms probe timeout,
// suspicion multiplier 4, 200 ms gossip) take 5.8 s on 5 nodes and 9.4 s
// on 50 to declare a silently dead node dead (performance-anchors.md; 6.1
// to 6.2 s mean, 6.8 s max on 5 nodes here). Zero timing fields in
// GossipConfig take these tuned LAN values instead:
//
//	ProbeInterval           500 ms  DefaultProbeInterval            (memberlist LAN: 1 s)
//	ProbeTimeout            200 ms  DefaultProbeTimeout             (500 ms)
//	GossipInterval          100 ms  DefaultGossipInterval           (200 ms)
//	SuspicionMult           4       DefaultSuspicionMult            (4)
//	SuspicionMaxTimeoutMult 3       DefaultSuspicionMaxTimeoutMult  (6)
//	PushPullInterval        10 s    fixed                           (30 s)
//
// How they add up: each member probes one peer per ProbeInterval. A peer
// that answers neither the direct ping within ProbeTimeout nor the
// indirect pings through 3 other members before the interval ends is
// suspect, after 0.5–1 s. The suspicion timeout is SuspicionMult ×
// max(1, log10 N) × ProbeInterval (2 s up to 10 nodes, 2.6 s at 20, 3.4 s
// at 50) once SuspicionMult−2 = 2 other members have confirmed the
// suspicion with their own failed probes, and up to
// SuspicionMaxTimeoutMult times that (6 s) without confirmation. The first
// member whose timer fires gossips the death and the others take it at
// once (100 ms gossip rounds). So detection takes about 3 s, up to about
// 4.5 s with a single confirmation, and at worst about 7 s when nobody
// confirms.
//
// False failures: a live member that misses its probes has 2 s or more
// to refute the suspicion, thousands of LAN round trips (loopback UDP p99
// is under 20 µs), and memberlist's Lifeguard awareness stretches the
// probe timeout of a member that is itself slow. None of the crashes
// below, nor the tests, ever showed a live member as failed.
//
// Measured with BenchmarkGossipFailureDetection: a fresh 5-node cluster
// per iteration in one process on 127.0.0.1, one node's serf shut down
// without a leave (peers cannot tell it from a SIGKILL), time until the
// Members of all 4 survivors list it as failed; 2-vCPU VM:
//
//	tuned, 5 nodes:   60 crashes over 4 runs: mean 3.0–3.2 s, p50 2.9–3.3 s, max 3.9 s
//	LAN defaults:     10 crashes over 2 runs: mean 6.1–6.2 s, max 6.8 s
//	tuned, 20 nodes:  5 crashes: mean 3.9 s, max 4.7 s (LAN defaults: 7.8 s, max 8.6 s)
//	tuned, 5 nodes, race detector and two busy-looping processes on the
//	two vCPUs: 300 crashes: run means 3.0–3.4 s, run maxima 3.9–4.7 s
//
// except once when the whole VM stalled for several seconds (another
// program measured the same stalls) and that crash took 12.5 s. Run:
//
//	go test -run='^$' -bench=GossipFailureDetection -benchtime=5x ./cluster/
//	(add -args -gossip.nodes=20 for another cluster size)
//
// PushPullInterval: each member that learns an update passes it on only
// 4 × ceil(log10(N+1)) times, to random members, so now and then one
// member misses every copy of a join or meta update. It then learns it only from its first
// full-state push-pull, which memberlist schedules one to two intervals
// after start: 30–60 s with the LAN default. Under the race detector and
// CPU contention on this VM about one five-node formation in 150 left a
// member unaware of the last joiners for over 30 s. At 10 s that
// staleness is bounded by 20 s.
//
// Failed members stay listed as "failed" for serf's ReconnectTimeout (24
// h; serf tries to reconnect them every 30 s) and members that left as
// "left" for its TombstoneTimeout (24 h) before they are reaped.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Tuned LAN failure-detection timings; see the package documentation.
const (
	DefaultProbeInterval  = 500 * time.Millisecond
	DefaultProbeTimeout   = 200 * time.Millisecond
	DefaultGossipInterval = 100 * time.Millisecond
	DefaultSuspicionMult  = 4
	// DefaultSuspicionMaxTimeoutMult caps the suspicion timeout when no
	// other member confirms it (memberlist's default is 6).
	DefaultSuspicionMaxTimeoutMult = 3
	// pushPullInterval is how often each node exchanges full state with a
	// random peer over TCP (memberlist's LAN default is 30 s; it scales
	// the interval up beyond 32 nodes). It bounds how long a member that
	// missed every gossip copy of a join or meta update stays stale.
	pushPullInterval = 10 * time.Second
	// DefaultGossipBind is memberlist's default address and port.
	DefaultGossipBind = "0.0.0.0:7946"
)

// ErrGossipClosed is returned by calls made after Shutdown.
var ErrGossipClosed = errors.New("gossip is shut down")

// GossipConfig starts a Gossip.
type GossipConfig struct {
	// NodeName is unique in the cluster.
	NodeName string
	// Bind is the host:port for gossip over UDP and TCP; port 0 picks a
	// free port (LocalAddr reports it). Default DefaultGossipBind.
	Bind string
	// Advertise is the host:port other members reach this node at.
	// Default: Bind's resolved address (memberlist picks a private
	// address when Bind is unspecified). With Bind port 0 the picked port
	// is advertised.
	Advertise string
	// KeyringFile is serf's keyring file: a JSON list of base64 keys,
	// the primary first. When it exists it is the keyring and Keys is
	// ignored; when it does not it is created from Keys. Key rotations
	// are persisted here by serf. Empty: rotations are not persisted.
	KeyringFile string
	// Keys are the initial keys (16, 24 or 32 bytes, the first is the
	// primary) when KeyringFile does not exist. No keys and no keyring
	// file: gossip is not encrypted (logged as a warning).
	Keys [][]byte
	// Meta is announced on start; see SetMeta.
	Meta NodeMeta
	// OnEvent, when set, receives every user event broadcast in the
	// cluster (see Broadcast), this node's own included. It is called on
	// the gossip event loop and must not block.
	OnEvent func(name string, payload []byte)
	Logger  *slog.Logger
	// Timing; zero values mean the tuned LAN defaults (Default*).
	ProbeInterval, ProbeTimeout, GossipInterval time.Duration
	SuspicionMult                               int
	SuspicionMaxTimeoutMult                     int
}

// Gossip is this node's membership in the cluster gossip.
type Gossip struct {
	cfg       GossipConfig
	log       *slog.Logger
	serf      *serf.Serf
	localAddr string
	events    chan serf.Event
	view      atomic.Pointer[gossipView]
	metaMu    sync.Mutex // serialises SetMeta (serf.SetTags is not safe for concurrent use)

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup // the event loop and calls bounded by a context
	stop   chan struct{}
	once   sync.Once
	err    error // from Shutdown
}

// StartGossip starts serf and memberlist on cfg.Bind. It does not join
// anyone; see Join.
func StartGossip(cfg GossipConfig) (*Gossip, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("start gossip: no node name")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Bind == "" {
		cfg.Bind = DefaultGossipBind
	}
	cfg.ProbeInterval = cmp.Or(cfg.ProbeInterval, DefaultProbeInterval)
	cfg.ProbeTimeout = cmp.Or(cfg.ProbeTimeout, DefaultProbeTimeout)
	cfg.GossipInterval = cmp.Or(cfg.GossipInterval, DefaultGossipInterval)
	cfg.SuspicionMult = cmp.Or(cfg.SuspicionMult, DefaultSuspicionMult)
	cfg.SuspicionMaxTimeoutMult = cmp.Or(cfg.SuspicionMaxTimeoutMult, DefaultSuspicionMaxTimeoutMult)
	if cfg.ProbeTimeout >= cfg.ProbeInterval {
		return nil, fmt.Errorf("start gossip: probe timeout %v must be shorter than the probe interval %v",
			cfg.ProbeTimeout, cfg.ProbeInterval)
	}

	tags, err := cfg.Meta.Tags()
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	bindIP, bindPort, err := resolveHostPort(cfg.Bind, -1)
	if err != nil {
		return nil, fmt.Errorf("start gossip: bind address: %w", err)
	}
	advIP, advPort := "", bindPort
	if cfg.Advertise != "" {
		if advIP, advPort, err = resolveHostPort(cfg.Advertise, bindPort); err != nil {
			return nil, fmt.Errorf("start gossip: advertise address: %w", err)
		}
	} else if ip := net.ParseIP(bindIP); !ip.IsUnspecified() {
		advIP = bindIP
	}
	ring, err := openKeyring(cfg.KeyringFile, cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	logger := cfg.Logger
	if ring == nil {
		logger.Warn("gossip is not encrypted: no keys and no keyring file")
	} else if cfg.KeyringFile == "" {
		logger.Warn("gossip keyring has no file: key rotations are lost on restart")
	}

	stdlog := stdlogBridge(logger)
	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeName
	sc.Tags = tags
	sc.Logger = stdlog
	sc.LogOutput = nil
	sc.ReconnectTimeout = 24 * time.Hour
	sc.TombstoneTimeout = 24 * time.Hour
	if ring != nil {
		sc.KeyringFile = cfg.KeyringFile
	}
	mc := sc.MemberlistConfig
	mc.Logger = stdlog
	mc.LogOutput = nil
	mc.BindAddr, mc.BindPort = bindIP, bindPort
	mc.AdvertiseAddr, mc.AdvertisePort = advIP, advPort
	mc.Keyring = ring
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.GossipInterval = cfg.GossipInterval
	mc.SuspicionMult = cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = cfg.SuspicionMaxTimeoutMult
	mc.PushPullInterval = pushPullInterval

	// Serf sends member events while holding its member lock; the loop
	// drains them promptly and the buffer absorbs bursts.
	events := make(chan serf.Event, 256)
	sc.EventCh = events
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	g := &Gossip{
		cfg:       cfg,
		log:       logger,
		serf:      s,
		localAddr: s.Memberlist().LocalNode().Address(),
		events:    events,
		stop:      make(chan struct{}),
	}
	self := toMember(s.LocalMember())
	members := map[string]Member{self.Name: self}
	g.publish(members)
	g.wg.Add(1)
	go g.run(members)
	logger.Info("gossip started", "addr", g.localAddr, "encrypted", ring != nil,
		"probe_interval", cfg.ProbeInterval, "probe_timeout", cfg.ProbeTimeout,
		"gossip_interval", cfg.GossipInterval, "suspicion_mult", cfg.SuspicionMult,
		"suspicion_max_timeout_mult", cfg.SuspicionMaxTimeoutMult)
	return g, nil
}

// resolveHostPort splits host:port and resolves host to one IP address.
// An empty host is the unspecified IPv4 address. defPort (when ≥ 0) is
// used when the port is missing.
func resolveHostPort(hostport string, defPort int) (string, int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		if defPort < 0 {
			return "", 0, err
		}
		host, portStr = hostport, strconv.Itoa(defPort)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", portStr, err)
	}
	if host == "" {
		return "0.0.0.0", int(port), nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), int(port), nil
	}
	ip, err := net.ResolveIPAddr("ip", host)
	if err != nil {
		return "", 0, err
	}
	return ip.IP.String(), int(port), nil
}

// MaxEventSize bounds a user event's name plus payload (serf's default
// UserEventSizeLimit).
const MaxEventSize = 512

// Broadcast gossips a user event to every member, this node included
// (each receives it through GossipConfig.OnEvent, usually within a few
// gossip rounds). Delivery is best effort: soft state only, never an
// operator's write. It does not block on the network.
func (g *Gossip) Broadcast(name string, payload []byte) error {
	if len(name)+len(payload) > MaxEventSize {
		return fmt.Errorf("gossip event %s: %d bytes exceed %d", name, len(name)+len(payload), MaxEventSize)
	}
	if err := g.serf.UserEvent(name, payload, false); err != nil {
		return fmt.Errorf("gossip event %s: %w", name, err)
	}
	return nil
}

// runOwned runs fn on a goroutine the Gossip owns and waits for it or for
// ctx. When ctx ends first fn keeps running to completion (serf calls
// cannot be cancelled) and Shutdown waits for it.
func (g *Gossip) runOwned(ctx context.Context, fn func()) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrGossipClosed
	}
	g.wg.Add(1)
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer g.wg.Done()
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Join contacts the members at addrs (host:port) and exchanges full state
// with each. It returns how many were reached; the error is non-nil only
// when none was. It blocks until done or ctx ends (each unreachable
// address may take up to memberlist's 10 s TCP timeout); a join that
// outlives ctx may still complete.
func (g *Gossip) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("gossip join: no addresses")
	}
	var (
		n   int
		err error
	)
	if werr := g.runOwned(ctx, func() { n, err = g.serf.Join(addrs, true) }); werr != nil {
		return 0, fmt.Errorf("gossip join: %w", werr)
	}
	if err != nil {
		return n, fmt.Errorf("gossip join: %w", flattenMultiError(err))
	}
	return n, nil
}

// flattenMultiError turns memberlist's multierror (one error per address,
// printed as a bulleted list) into its single error or an errors.Join.
func flattenMultiError(err error) error {
	var multi interface{ WrappedErrors() []error }
	if !errors.As(err, &multi) {
		return err
	}
	errs := multi.WrappedErrors()
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// LocalAddr is the gossip address (host:port) other members reach this
// node at, with the real port when Bind asked for port 0.
func (g *Gossip) LocalAddr() string { return g.localAddr }

// SetMeta announces m in place of the current meta. It blocks until the
// update is queued for gossip, at most serf's broadcast timeout (5 s).
func (g *Gossip) SetMeta(m NodeMeta) error {
	tags, err := m.Tags()
	if err != nil {
		return fmt.Errorf("set gossip meta: %w", err)
	}
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	if err := g.serf.SetTags(tags); err != nil {
		return fmt.Errorf("set gossip meta: %w", err)
	}
	return nil
}

// Leave announces this node's departure so peers mark it "left" rather
// than "failed". It blocks until the leave has propagated (serf waits up
// to its 5 s broadcast timeout, then 1 s) or ctx ends. Call Shutdown
// afterwards.
func (g *Gossip) Leave(ctx context.Context) error {
	var err error
	if werr := g.runOwned(ctx, func() { err = g.serf.Leave() }); werr != nil {
		return fmt.Errorf("gossip leave: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("gossip leave: %w", err)
	}
	return nil
}

// Shutdown stops gossip at once. Without a Leave before, peers see this
// node fail. It waits for the event loop and for calls still running
// after their context ended. It is safe to call more than once.
func (g *Gossip) Shutdown() error {
	g.once.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		if err := g.serf.Shutdown(); err != nil {
			g.err = fmt.Errorf("gossip shutdown: %w", err)
		}
		close(g.stop)
		g.wg.Wait()
		g.log.Info("gossip stopped")
	})
	return g.err
}
