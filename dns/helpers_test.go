package dns

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testZone = "portico.localhost."

// API ids of the fixture.
const (
	apiEdge    = "a1b2c3d4e5" // EDGE and REGIONAL, home us-east-1
	apiPrivate = "p1r2v3t4e5" // PRIVATE, home us-east-1
	apiEU      = "e1u2w3e4s5" // REGIONAL, home eu-west-1
)

// fakeView is the node's side of View: a pointer swapped on change.
type fakeView struct{ p atomic.Pointer[Snapshot] }

func newView(s *Snapshot) *fakeView {
	v := &fakeView{}
	v.p.Store(s)
	return v
}

func (v *fakeView) Snapshot() *Snapshot { return v.p.Load() }

// update stores a modified copy of the current snapshot.
func (v *fakeView) update(f func(*Snapshot)) {
	s := *v.p.Load()
	s.Nodes = slices.Clone(s.Nodes)
	f(&s)
	v.p.Store(&s)
}

// fakeLatency answers from fixed tables.
type fakeLatency struct {
	rtt  map[netip.Prefix]map[string]time.Duration // client network → node → RTT
	node map[string]time.Duration                  // "from>to" → RTT
}

func (f *fakeLatency) RTT(client netip.Prefix, node string) (time.Duration, bool) {
	d, ok := f.rtt[client][node]
	return d, ok
}

func (f *fakeLatency) NodeRTT(from, to string) (time.Duration, bool) {
	d, ok := f.node[from+">"+to]
	return d, ok
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// fixture is a three-region cluster: two dns nodes, three edges, four
// regional nodes, an edge+regional API, a private API, an EU API and two
// custom domains. 127.0.0.1 is internal, other loopback sources are not.
func fixture() *Snapshot {
	return &Snapshot{
		Zone: "Portico.Localhost", TTL: 60, Serial: 7,
		Nodes: []Node{
			{Name: "dns-1", Region: "us-east-1", Roles: []string{"dns", "control"}, Public: addrs("192.0.2.53", "2001:db8::53"), Healthy: true},
			{Name: "dns-2", Region: "eu-west-1", Roles: []string{"dns"}, Public: addrs("198.51.100.53"), Healthy: true},
			{Name: "use-edge-1", Region: "us-east-1", Roles: []string{"edge"}, Public: addrs("192.0.2.11", "2001:db8::11"), Healthy: true, Load: 0.2},
			{Name: "use-edge-2", Region: "us-east-1", Roles: []string{"edge"}, Public: addrs("192.0.2.12"), Healthy: true, Load: 0.1},
			{Name: "euw-edge-1", Region: "eu-west-1", Roles: []string{"edge"}, Public: addrs("198.51.100.11"), Healthy: true},
			{Name: "use-reg-1", Region: "us-east-1", Roles: []string{"regional"}, Public: addrs("192.0.2.21"), Private: addrs("10.1.0.21"), Healthy: true, Load: 0.5},
			{Name: "use-reg-2", Region: "us-east-1", Roles: []string{"regional"}, Public: addrs("192.0.2.22"), Private: addrs("10.1.0.22"), Healthy: true, Load: 0.1},
			{Name: "euw-reg-1", Region: "eu-west-1", Roles: []string{"regional"}, Public: addrs("198.51.100.21"), Private: addrs("10.2.0.21"), Healthy: true},
			{Name: "aps-reg-1", Region: "ap-south-1", Roles: []string{"regional"}, Public: addrs("203.0.113.21"), Healthy: true},
		},
		APIs: map[string]APIInfo{
			apiEdge:    {HomeRegion: "us-east-1", Edge: true, Regional: true},
			apiPrivate: {HomeRegion: "us-east-1", Private: true},
			apiEU:      {HomeRegion: "eu-west-1", Regional: true},
		},
		Domains: map[string]Domain{
			"api.example.com":   {Regions: []string{"us-east-1", "eu-west-1"}},
			"Solo.Example.Org.": {Regions: []string{"ap-south-1"}},
		},
		Internal: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")},
	}
}

// setHealth marks the named nodes.
func setHealth(s *Snapshot, healthy bool, names ...string) {
	for i := range s.Nodes {
		if slices.Contains(names, s.Nodes[i].Name) {
			s.Nodes[i].Healthy = healthy
		}
	}
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output for assertions and copies it to t.Log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	return b.out.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{out: t.Output()}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "dns"), lb
}

// testConfig is a config for tests: injected clock, an exploration draw
// that never explores, no rate limiting.
func testConfig(t testing.TB, view View) Config {
	log, _ := testLogger(t)
	clock := newClock()
	return Config{
		Listen: "127.0.0.1:0", NodeName: "dns-1", View: view, Logger: log,
		Now: clock.Now, Rand: func() float64 { return 0.99 },
		RateLimit: RateLimitConfig{Rate: -1},
	}
}

// newServer builds a server without running it (handler-level tests).
func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// startServer runs a server on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := newServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// query is a question with options, CoreDNS test.Case style.
type query struct {
	name    string
	qtype   uint16
	edns    bool   // add an OPT record (implied by bufsize, do, ecs)
	bufsize uint16 // EDNS buffer size; default 1232 when edns
	do      bool
	ecs     string // client subnet, e.g. "203.0.113.0/24"
	id      uint16
}

func (q query) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	if q.id != 0 {
		m.Id = q.id
	}
	if q.edns || q.bufsize != 0 || q.do || q.ecs != "" {
		size := q.bufsize
		if size == 0 {
			size = 1232
		}
		m.SetEdns0(size, q.do)
		if q.ecs != "" {
			p := netip.MustParsePrefix(q.ecs)
			o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())}
			if p.Addr().Is6() {
				o.Family = 2
			}
			m.IsEdns0().Option = append(m.IsEdns0().Option, o)
		}
	}
	return m
}

// exchange sends m to s over network ("udp" or "tcp") from local (a
// loopback address; "" for the default).
func exchange(t testing.TB, s *Server, m *dns.Msg, network, local string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	if local != "" {
		ip := net.ParseIP(local)
		if network == "tcp" {
			c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}, Timeout: 10 * time.Second}
		}
	}
	r, _, err := c.Exchange(m, s.Addr().String())
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], network, err)
	}
	return r
}

// captured is what one packet got through the handler chain.
type captured struct {
	out   [][]byte
	rcode int
	err   error
}

type captureWriter struct{ out *[][]byte }

func (w captureWriter) write(b []byte) error {
	*w.out = append(*w.out, bytes.Clone(b))
	return nil
}

// serveRaw runs one packet through s's chain without a network.
func serveRaw(s *Server, raw []byte, src string, tcp bool) captured {
	var c captured
	r := s.newRequest(512) // as a transport worker builds it
	r.reset(raw, netip.MustParseAddrPort(src), tcp)
	c.rcode, c.err = s.chain.serveDNS(context.Background(), captureWriter{&c.out}, r)
	return c
}

// mustPack is m in wire form.
func mustPack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	raw, err := m.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return raw
}

// serveMsg packs m, serves it, and unpacks the single response.
func serveMsg(t testing.TB, s *Server, m *dns.Msg, src string) *dns.Msg {
	t.Helper()
	c := serveRaw(s, mustPack(t, m), src, false)
	if len(c.out) != 1 {
		t.Fatalf("got %d responses, want 1 (rcode %d, err %v)", len(c.out), c.rcode, c.err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(c.out[0]); err != nil {
		t.Fatalf("unpack response: %v", err)
	}
	return resp
}

// rrs parses zone-file lines.
func rrs(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, 0, len(lines))
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad test record %q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

// sameRRs compares sections as sets, in their text form (names compared
// case-insensitively: owner names echo the question's spelling).
func sameRRs(t testing.TB, section string, got []dns.RR, want []string) {
	t.Helper()
	var g, w []string
	for _, rr := range got {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		g = append(g, strings.ToLower(rr.String()))
	}
	for _, rr := range rrs(t, want...) {
		w = append(w, strings.ToLower(rr.String()))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s section:\n got  %s\n want %s", section, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
}

// answerAddrs are the A/AAAA addresses of an answer, sorted.
func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// ecsOf is the client subnet option of a response, or nil.
func ecsOf(m *dns.Msg) *dns.EDNS0_SUBNET {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				return s
			}
		}
	}
	return nil
}

// waitFor polls cond until it holds (a retry helper, not a sleep: it
// fails the test only after a generous deadline).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
