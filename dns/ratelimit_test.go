package dns

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// limitedServer has a rate limit of 1/s, burst 3, and a clock that moves
// only when the test says.
func limitedServer(t *testing.T, slip int, reg prometheus.Registerer) (*Server, *testClock) {
	cfg := testConfig(t, newView(fixture()))
	clock := newClock()
	cfg.Now, cfg.Registerer = clock.Now, reg
	cfg.RateLimit = RateLimitConfig{Rate: 1, Burst: 3, Slip: slip}
	return newServer(t, cfg), clock
}

// outcome counts what n queries from srcs (cycled) got.
type outcome struct{ answered, slipped, dropped int }

func send(t *testing.T, s *Server, n int, tcp bool, srcs ...string) outcome {
	t.Helper()
	var o outcome
	for i := range n {
		m := query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA, id: uint16(i + 1)}.msg()
		c := serveRaw(s, mustPack(t, m), srcs[i%len(srcs)], tcp)
		if len(c.out) == 0 {
			o.dropped++
			continue
		}
		r := new(dns.Msg)
		if err := r.Unpack(c.out[0]); err != nil {
			t.Fatal(err)
		}
		if r.Id != m.Id || len(r.Question) != 1 || r.Question[0] != m.Question[0] {
			t.Errorf("response %d does not match its query: %v", i, r)
		}
		switch {
		case r.Truncated && len(r.Answer) == 0 && !r.Authoritative:
			o.slipped++
		case !r.Truncated && len(r.Answer) == 1:
			o.answered++
		default:
			t.Errorf("response %d is neither an answer nor a slip: %v", i, r)
		}
	}
	return o
}

// TestRateLimit: per client network, a burst is answered, then every
// second limited response slips (TC) and the others are dropped; time
// refills the bucket; other networks and TCP are not affected.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s, clock := limitedServer(t, 2, reg)
	sameNet := []string{"192.0.2.1:1000", "192.0.2.77:2000", "192.0.2.250:3000"}

	if got, want := send(t, s, 11, false, sameNet...), (outcome{answered: 3, slipped: 4, dropped: 4}); got != want {
		t.Errorf("11 queries from one /24: %+v, want %+v", got, want)
	}
	if got, want := send(t, s, 2, false, "198.51.100.1:1000"), (outcome{answered: 2}); got != want {
		t.Errorf("another /24: %+v, want %+v", got, want)
	}
	if got, want := send(t, s, 10, true, sameNet...), (outcome{answered: 10}); got != want {
		t.Errorf("TCP from the limited /24: %+v, want %+v", got, want)
	}
	clock.advance(time.Second)
	if got, want := send(t, s, 2, false, sameNet...), (outcome{answered: 1, dropped: 1}); got != want {
		// The 9th limited response (odd) is dropped.
		t.Errorf("a second later: %+v, want %+v", got, want)
	}
	if got := counterValue(t, s.metrics.limits[0]); got != 5 {
		t.Errorf("rate_limited_total{action=drop} = %v, want 5", got)
	}
	if got := counterValue(t, s.metrics.limits[1]); got != 4 {
		t.Errorf("rate_limited_total{action=slip} = %v, want 4", got)
	}

	// IPv6 clients share a bucket per /56.
	v6 := []string{"[2001:db8:0:100::1]:53", "[2001:db8:0:1ff::2]:53"}
	if got, want := send(t, s, 5, false, v6...), (outcome{answered: 3, slipped: 1, dropped: 1}); got != want {
		t.Errorf("one /56: %+v, want %+v", got, want)
	}
	if got, want := send(t, s, 1, false, "[2001:db8:0:200::1]:53"), (outcome{answered: 1}); got != want {
		t.Errorf("the next /56: %+v, want %+v", got, want)
	}
}

func TestRateLimitSlipSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		slip int
		want outcome
	}{
		{slip: 1, want: outcome{answered: 3, slipped: 6}},
		{slip: 3, want: outcome{answered: 3, slipped: 2, dropped: 4}},
		{slip: -1, want: outcome{answered: 3, dropped: 6}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint("slip ", tc.slip), func(t *testing.T) {
			t.Parallel()
			s, _ := limitedServer(t, tc.slip, nil)
			if got := send(t, s, 9, false, "192.0.2.1:53"); got != tc.want {
				t.Errorf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRateLimitMemory: the limiter keeps at most MaxNetworks buckets
// however many networks send.
func TestRateLimitMemory(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(RateLimitConfig{Rate: 1, Burst: 2, Slip: 2, MaxNetworks: 128}, clock.Now)
	for i := range 20000 {
		l.take(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}))
		if i%1000 == 0 {
			clock.advance(time.Millisecond)
		}
	}
	if n := l.size(); n > 128 {
		t.Errorf("%d buckets, want at most 128", n)
	}
	// A network seen just now keeps its bucket: it is limited.
	a := netip.MustParseAddr("192.0.2.1")
	l.take(a)
	l.take(a)
	if v := l.take(a); v == verdictAllow {
		t.Error("third response within the burst of 2 allowed")
	}
}

// TestRateLimitOverNetwork: a limited UDP query gets an empty truncated
// response, and the client's retry over TCP gets the answer.
func TestRateLimitOverNetwork(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newView(fixture()))
	cfg.RateLimit = RateLimitConfig{Rate: 1, Burst: 1, Slip: 1}
	s := startServer(t, cfg)
	q := query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA}
	if r := exchange(t, s, q.msg(), "udp", "127.0.3.1"); r.Truncated || len(r.Answer) != 1 {
		t.Fatalf("first query: TC %v, %d answers", r.Truncated, len(r.Answer))
	}
	r := exchange(t, s, q.msg(), "udp", "127.0.3.1")
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("limited query: TC %v, %d answers; want an empty TC response", r.Truncated, len(r.Answer))
	}
	if r := exchange(t, s, q.msg(), "tcp", "127.0.3.1"); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP retry: TC %v, %d answers", r.Truncated, len(r.Answer))
	}
}

// counterValue reads a counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
