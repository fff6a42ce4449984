package configs

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestLoadNodeDNS(t *testing.T) {
	t.Parallel()
	n, err := LoadNode([]byte(`
dns: {ttl: 30s, explore: -1, latency_map: [{client: 192.0.2.0/24, region: us-east-1, latency: 5ms}, {client: 10.0.0.0/8, node: n1, latency: 1ms}]}
internal_networks: [{name: vpc-a, cidrs: [10.1.2.3/16, "fd00::/8"]}, {name: vpc-b, cidrs: [172.16.0.0/12]}]
`))
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	if got := n.DNS.DNSTTL(); got != 30*time.Second {
		t.Errorf("DNSTTL = %v, want 30s", got)
	}
	if got := (DNSConfig{}).DNSTTL(); got != DefaultDNSTTL {
		t.Errorf("DNSTTL unset = %v, want %v", got, DefaultDNSTTL)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("172.16.0.0/12")}
	if got := n.InternalPrefixes(); !slices.Equal(got, want) {
		t.Errorf("InternalPrefixes = %v, want %v (masked, in order)", got, want)
	}
}

// TestLoadNodeReportsEveryDNSProblem: each document holds several
// problems; every one is reported with its field.
func TestLoadNodeReportsEveryDNSProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		want [][2]string // field, fragment
	}{
		{"dns: {listen: 127.0.0.1, ttl: 500ms, explore: 1.5}\n", [][2]string{
			{"dns.listen", "must be host:port"}, {"dns.ttl", "between 1s and"}, {"dns.explore", "between 0 and 1, or -1"}}},
		{"dns: {ttl: 25h, explore: -0.5}\n", [][2]string{
			{"dns.ttl", "between 1s and"}, {"dns.explore", "between 0 and 1, or -1"}}},
		{"dns: {rate_limit: {rate: -2, burst: -1, slip: -3}}\n", [][2]string{
			{"dns.rate_limit.rate", "-1 for no limit"}, {"dns.rate_limit.burst", "must not be negative"}, {"dns.rate_limit.slip", "-1 (drop all)"}}},
		{`dns: {latency_map: [
  {client: 192.0.2.1, region: r1, latency: 1ms},
  {client: 192.0.2.0/24, latency: 1ms},
  {client: 192.0.2.0/24, region: r1, node: n1, latency: 1ms},
  {client: 192.0.2.0/24, node: n1, latency: -1ms}]}
`, [][2]string{
			{"dns.latency_map[0].client", "must be a CIDR"}, {"dns.latency_map[1]", "needs a region or a node"},
			{"dns.latency_map[2]", "needs a region or a node"}, {"dns.latency_map[3].latency", "must not be negative"}}},
		{`internal_networks: [
  {name: VPC, cidrs: [10.0.0.0/8]},
  {name: vpc, cidrs: []},
  {name: vpc, cidrs: [10.0.0.0/8, 10.0.0.1]}]
`, [][2]string{
			{"internal_networks[0].name", "lowercase"}, {"internal_networks[1].cidrs", "at least one"},
			{"internal_networks[2].name", "used twice"}, {"internal_networks[2].cidrs[1]", "must be a CIDR"}}},
	} {
		_, err := LoadNode([]byte(tc.doc))
		for _, w := range tc.want {
			wantFieldError(t, err, w[0], w[1])
		}
	}
}
