package dns_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/dns"
)

// clusterView is the node's side: it rebuilds the Snapshot when the
// cluster changes and swaps it in; Snapshot never blocks.
type clusterView struct{ snap atomic.Pointer[dns.Snapshot] }

func (v *clusterView) Snapshot() *dns.Snapshot { return v.snap.Load() }

func Example() {
	view := &clusterView{}
	view.snap.Store(&dns.Snapshot{
		Zone: "portico.localhost.", Serial: 1,
		Nodes: []dns.Node{
			{Name: "node-1", Region: "us-east-1", Roles: []string{"dns", "edge", "regional"}, Public: []netip.Addr{netip.MustParseAddr("127.0.0.11")}, Healthy: true},
			{Name: "node-2", Region: "eu-west-1", Roles: []string{"edge", "regional"}, Public: []netip.Addr{netip.MustParseAddr("127.0.0.12")}, Healthy: true},
		},
		APIs: map[string]dns.APIInfo{"a1b2c3d4e5": {HomeRegion: "us-east-1", Edge: true, Regional: true}},
		LatencyMap: []dns.LatencyRule{
			{Client: netip.MustParsePrefix("127.0.2.0/24"), Region: "eu-west-1", RTT: 5 * time.Millisecond},
			{Client: netip.MustParsePrefix("127.0.2.0/24"), Region: "us-east-1", RTT: 90 * time.Millisecond},
		},
	})
	s, err := dns.New(dns.Config{
		Listen: "127.0.0.1:0", NodeName: "node-1", View: view,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()

	x := s.Explain("a1b2c3d4e5.edge.portico.localhost.", netip.MustParseAddr("127.0.2.1"), netip.Prefix{})
	fmt.Println(x.Answer, x.Source, x.Reason)

	cancel()
	fmt.Println(<-done)
	// Output:
	// [127.0.0.12] map lowest latency by map: node-2 (5ms)
	// <nil>
}
