package node

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/configs"
)

// TestDNSRateLimitFromNodeConfig: dns.rate_limit reaches the server. With
// one response a second and slip 1, a burst of queries from one address
// gets truncated answers (retry over TCP); with rate -1, none.
func TestDNSRateLimitFromNodeConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		limit     configs.DNSRateLimit
		truncated bool
	}{
		{"tight", configs.DNSRateLimit{Rate: 1, Burst: 1, Slip: 1}, true},
		{"off", configs.DNSRateLimit{Rate: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := startNodeCfg(t, configs.Node{
				Name: "rrl-" + tc.name, Region: "us-east-1", DataDir: t.TempDir(),
				Roles: []string{configs.RoleControl, configs.RoleRegional, configs.RoleDNS},
				DNS:   configs.DNSConfig{Listen: "127.0.0.1:0", RateLimit: tc.limit},
			})
			c := &mdns.Client{Net: "udp", Timeout: 3 * time.Second, Dialer: &net.Dialer{Timeout: 3 * time.Second}}
			truncated := 0
			for range 20 {
				m := new(mdns.Msg)
				m.SetQuestion("portico.test.", mdns.TypeSOA)
				r, _, err := c.Exchange(m, tn.node.Addrs().DNS)
				if err != nil {
					t.Fatalf("query: %v", err) // slip 1 answers every limited query, truncated
				}
				if r.Truncated {
					truncated++
				}
			}
			if (truncated > 0) != tc.truncated {
				t.Errorf("%d of 20 answers truncated, want truncation %v", truncated, tc.truncated)
			}
			// The client falls back to TCP, which is not rate limited.
			tcp := &mdns.Client{Net: "tcp", Timeout: 3 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion("portico.test.", mdns.TypeSOA)
			if r, _, err := tcp.Exchange(m, tn.node.Addrs().DNS); err != nil || r.Truncated || len(r.Answer) != 1 {
				t.Errorf("over TCP: %v (err %v), want the whole SOA answer", r, err)
			}
		})
	}
}
