package dns

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"listen: is required", "view: is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	cfg := testConfig(t, newView(fixture()))
	cfg.Listen, cfg.UDPSize, cfg.Explore, cfg.MaxAnswers, cfg.UDPBatch = "no-port", 100, 2, -1, 1025
	_, err = New(cfg)
	for _, want := range []string{"listen:", "udp_size:", "explore:", "max_answers:", "udp_batch:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	s := newServer(t, testConfig(t, newView(fixture())))
	if s.cfg.UDPSize != DefaultUDPSize || s.cfg.MaxAnswers != DefaultMaxAnswers || s.cfg.Tolerance != DefaultTolerance || s.cfg.UDPBatch != DefaultUDPBatch {
		t.Errorf("defaults not filled: %+v", s.cfg)
	}
	d := newServer(t, Config{Listen: "127.0.0.1:0", View: newView(fixture())})
	if d.cfg.RateLimit != (RateLimitConfig{Rate: DefaultRate, Burst: 2 * DefaultRate, Slip: DefaultSlip, MaxNetworks: DefaultMaxNetworks}) || d.limiter == nil {
		t.Errorf("rate limit defaults: %+v", d.cfg.RateLimit)
	}
	if d.cfg.Explore != DefaultExplore || d.cfg.Logger == nil || d.cfg.Now == nil || d.cfg.Rand == nil {
		t.Errorf("defaults not filled: %+v", d.cfg)
	}
}

// TestLifecycle: Addr before and after Ready, one port for UDP and TCP,
// Run only once, and a stop that does not wait for idle TCP clients or
// leave goroutines behind. Not parallel: it counts goroutines.
func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newServer(t, testConfig(t, newView(fixture())))
	if s.Addr().IsValid() {
		t.Error("Addr valid before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	if !s.Addr().IsValid() || s.Addr().Port() == 0 {
		t.Fatalf("Addr %v after Ready", s.Addr())
	}
	q := query{name: testZone, qtype: dns.TypeSOA}
	for _, network := range []string{"udp", "tcp"} {
		if r := exchange(t, s, q.msg(), network, ""); len(r.Answer) != 1 {
			t.Errorf("%s: %v", network, r)
		}
	}
	if err := s.Run(ctx); err == nil {
		t.Error("second Run accepted")
	}
	// A TCP client that connected and sent nothing, and one that sent
	// half a message.
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	half, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if _, err := half.Write([]byte{0, 40, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, q.msg(), "tcp", ""); len(r.Answer) != 1 { // the server is serving them
		t.Errorf("tcp: %v", r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestAddressInUse: Run fails and Ready stays open.
func TestAddressInUse(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(fixture())))
	cfg := testConfig(t, newView(fixture()))
	cfg.Listen = s.Addr().String()
	other := newServer(t, cfg)
	if err := other.Run(context.Background()); err == nil {
		t.Fatal("Run on a taken address succeeded")
	}
	select {
	case <-other.Ready():
		t.Error("Ready closed though Run failed")
	default:
	}
}

// panicView panics on every snapshot.
type panicView struct{}

func (panicView) Snapshot() *Snapshot { panic("view exploded") }

// TestRecover: a panic answering a parsed query becomes SERVFAIL, is
// counted and logged, and the server keeps serving.
func TestRecover(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, panicView{})
	log, buf := testLogger(t)
	cfg.Logger, cfg.Registerer = log, reg
	s := startServer(t, cfg)
	for range 2 {
		r := exchange(t, s, query{name: testZone, qtype: dns.TypeSOA}.msg(), "udp", "")
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
		}
	}
	if s.panics.Load() != 2 || counterValue(t, s.metrics.panics) != 2 {
		t.Errorf("panics counted %d / %v, want 2", s.panics.Load(), counterValue(t, s.metrics.panics))
	}
	if !strings.Contains(buf.String(), "view exploded") {
		t.Error("panic not logged")
	}
}

// TestMetrics: queries and responses are counted by transport and code.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, newView(mappedFixture()))
	cfg.Registerer = reg
	s := startServer(t, cfg)
	exchange(t, s, query{name: testZone, qtype: dns.TypeSOA}.msg(), "udp", "")
	exchange(t, s, query{name: "nope." + testZone, qtype: dns.TypeA}.msg(), "tcp", "")
	exchange(t, s, query{name: "example.com.", qtype: dns.TypeA}.msg(), "udp", "")
	exchange(t, s, query{name: edgeName, qtype: dns.TypeA}.msg(), "udp", clientEU)
	// A second server on the same registry shares the counters.
	if _, err := New(cfg); err != nil {
		t.Fatalf("second server on one registry: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"portico_dns_queries_total,transport=udp":           3,
		"portico_dns_queries_total,transport=tcp":           1,
		"portico_dns_responses_total,rcode=NOERROR":         2,
		"portico_dns_responses_total,rcode=NXDOMAIN":        1,
		"portico_dns_responses_total,rcode=REFUSED":         1,
		"portico_dns_latency_answers_total,source=map":      1,
		"portico_dns_rate_limited_total,action=drop":        0,
		"portico_dns_events_total,event=fail_open":          0,
		"portico_dns_latency_answers_total,source=none":     0,
		"portico_dns_responses_total,rcode=dropped":         0,
		"portico_dns_latency_answers_total,source=node-rtt": 0,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}

// TestTCP: several queries on one connection are answered in order; a
// packet that gets no answer closes the connection, as does idling for
// TCPIdleTimeout; beyond MaxTCPConns a connection is closed unanswered,
// and its slot is free again once the connection holding it ends.
func TestTCP(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newView(fixture()))
	cfg.TCPIdleTimeout, cfg.MaxTCPConns = time.Minute, 1 // idling never ends a connection here
	limited := startServer(t, cfg)
	cfg.TCPIdleTimeout, cfg.MaxTCPConns = 100*time.Millisecond, 0
	idling := startServer(t, cfg)
	dial := func(s *Server) *dns.Conn {
		t.Helper()
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return &dns.Conn{Conn: c}
	}
	node := query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA}
	// closed reports whether the server closed c without an answer (not
	// the test's own deadline).
	closed := func(c *dns.Conn) bool {
		r, err := c.ReadMsg()
		var ne net.Error
		return r == nil && err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}

	held := dial(limited)
	for _, id := range []uint16{1, 2} {
		if err := held.WriteMsg(query{name: node.name, qtype: node.qtype, id: id}.msg()); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []uint16{1, 2} {
		if r, err := held.ReadMsg(); err != nil || r.Id != id || len(r.Answer) != 1 {
			t.Fatalf("answer %d on one connection: %v, %v", id, r, err)
		}
	}
	extra := dial(limited)
	_ = extra.WriteMsg(node.msg()) // may fail: the server may have closed it already
	if !closed(extra) {
		t.Error("a connection beyond MaxTCPConns was answered")
	}
	m := node.msg()
	m.Response = true
	if err := held.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	if !closed(held) {
		t.Error("the connection stayed open after a packet that got no answer")
	}
	// The slot is released once the server has seen the close: retry.
	waitFor(t, "the connection slot to be free", func() bool {
		c := dial(limited)
		if err := c.WriteMsg(node.msg()); err != nil {
			return false
		}
		r, err := c.ReadMsg()
		return err == nil && len(r.Answer) == 1
	})

	idle := dial(idling)
	if err := idle.WriteMsg(node.msg()); err != nil {
		t.Fatal(err)
	}
	if r, err := idle.ReadMsg(); err != nil || len(r.Answer) != 1 {
		t.Fatalf("query before idling: %v, %v", r, err)
	}
	if !closed(idle) {
		t.Error("an idle connection was not closed")
	}
}
