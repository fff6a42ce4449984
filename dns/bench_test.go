package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchServer has the mapped fixture, measured latencies and no rate
// limiting; logs are discarded.
func benchServer(b *testing.B) *Server {
	cfg := testConfig(b, newView(mappedFixture()))
	cfg.Logger = discardLogger()
	cfg.Latency = &fakeLatency{
		rtt:  map[netip.Prefix]map[string]time.Duration{pfx("198.51.100.0/24"): {"euw-edge-1": 5 * ms, "use-edge-1": 80 * ms}},
		node: map[string]time.Duration{"dns-1>use-edge-1": 1 * ms},
	}
	return newServer(b, cfg)
}

var benchQueries = []struct {
	name string
	q    query
}{
	{"node", query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeA}},
	{"regional", query{name: apiEdge + ".us-east-1." + testZone, qtype: dns.TypeA}},
	{"edge-map", query{name: edgeName, qtype: dns.TypeA, edns: true}},
	{"edge-ecs-measured", query{name: edgeName, qtype: dns.TypeA, ecs: "198.51.100.0/24"}},
	{"domain", query{name: domain, qtype: dns.TypeA, edns: true}},
	{"nxdomain", query{name: "nope." + testZone, qtype: dns.TypeA}},
}

// BenchmarkServeUDP is the handler chain alone (parse, client subnet,
// answer, pack), one UDP query at a time, no network.
func BenchmarkServeUDP(b *testing.B) {
	s := benchServer(b)
	for _, bq := range benchQueries {
		b.Run(bq.name, func(b *testing.B) {
			raw := mustPack(b, bq.q.msg())
			src := netip.MustParseAddrPort("127.0.1.1:5300")
			r := s.newRequest(DefaultUDPSize)
			w := discardWriter{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r.reset(raw, src, false)
				if rc, err := s.chain.serveDNS(ctx, w, r); err != nil || rc != dns.RcodeSuccess && rc != dns.RcodeNameError {
					b.Fatalf("rcode %d err %v", rc, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

type discardWriter struct{}

func (discardWriter) write([]byte) error { return nil }

// BenchmarkServeUDPNet is the whole server over loopback UDP: each
// parallel client sends a query and waits for its answer.
func BenchmarkServeUDPNet(b *testing.B) {
	cfg := testConfig(b, newView(mappedFixture()))
	cfg.Logger = discardLogger()
	s := startServer(b, cfg)
	raw := mustPack(b, query{name: edgeName, qtype: dns.TypeA, edns: true}.msg())
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("udp", s.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 2048)
		for pb.Next() {
			if _, err := c.Write(raw); err != nil {
				b.Error(err)
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkServeUDPPipelined is the whole server over loopback UDP with
// one client socket keeping 100 queries in flight, as dnsperf -q 100
// does: the server's throughput rather than one query's round trip,
// reading one datagram per system call and in batches. Client and server
// share the CPUs, as they do in simulations/cmd/dnsbench.
func BenchmarkServeUDPPipelined(b *testing.B) {
	const window = 100
	for _, batch := range []int{1, DefaultUDPBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			cfg := testConfig(b, newView(mappedFixture()))
			cfg.Logger, cfg.UDPBatch = discardLogger(), batch
			s := startServer(b, cfg)
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			raw := mustPack(b, query{name: apiEdge + ".us-east-1." + testZone, qtype: dns.TypeA}.msg())
			credits := make(chan struct{}, window)
			done := make(chan error, 1)
			b.ResetTimer()
			go func() {
				buf := make([]byte, 2048)
				for range b.N {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Read(buf); err != nil {
						done <- fmt.Errorf("an answer was lost or late: %w", err)
						return
					}
					<-credits
				}
				done <- nil
			}()
			for range b.N {
				credits <- struct{}{}
				if _, err := c.Write(raw); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
