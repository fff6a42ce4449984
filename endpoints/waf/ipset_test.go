package waf

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestIPSetLookup(t *testing.T) {
	t.Parallel()
	list := []string{
		"10.0.0.0/8",              // 0
		"10.1.2.0/24",             // 1: more specific than 0
		"192.0.2.7",               // 2: a bare address is a /32
		"2001:db8::/32",           // 3
		"2001:db8:1::/48",         // 4
		"::ffff:198.51.100.0/120", // 5: IPv4-mapped, stored as 198.51.100.0/24
		"203.0.113.77/24",         // 6: not masked, means 203.0.113.0/24
		"10.1.2.0/24",             // 7: duplicate of 1, first one reported
		"fe80::1%eth0",            // 8: the zone is dropped
		"fd00::/8",                // 9
		"::ffff:0:0/95",           // 10: shorter than the mapped range: IPv6 only
	}
	s, err := newIPSet("ip_deny", list)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want int
	}{
		{"10.9.9.9", 0},
		{"10.1.2.3", 1},
		{"10.1.3.3", 0},
		{"192.0.2.7", 2},
		{"192.0.2.8", -1},
		{"2001:db8:ffff::1", 3},
		{"2001:db8:1::1", 4},
		{"2001:db9::1", -1},
		{"198.51.100.9", 5},
		{"203.0.113.1", 6},
		{"11.0.0.1", -1},
		{"::", -1},
		{"0.0.0.0", -1},
		{"fe80::1", 8},
		{"fd12::1", 9},
		{"::fffe:1:2", 10},
		{"1.2.3.4", -1}, // IPv4 clients are not in ::ffff:0:0/95
	}
	for _, tt := range tests {
		if got := s.lookup(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("lookup(%s) = %d, want %d", tt.addr, got, tt.want)
		}
	}
	if got := s.lookup(netip.Addr{}); got != -1 {
		t.Errorf("lookup(invalid) = %d, want -1", got)
	}
	var empty *ipSet
	if got := empty.lookup(netip.MustParseAddr("10.0.0.1")); got != -1 {
		t.Errorf("nil set lookup = %d, want -1", got)
	}
	if _, err := newIPSet("ip_allow", []string{"10.0.0.0/8", "bogus"}); err == nil || err.Error() != `ip_allow[1]: invalid CIDR "bogus": ParseAddr("bogus"): unable to parse IP` {
		t.Errorf("newIPSet(bogus) = %v", err)
	}
}

func BenchmarkIPSetLookup(b *testing.B) {
	list := make([]string, 0, MaxIPEntries)
	for i := range MaxIPEntries {
		list = append(list, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
	}
	s, err := newIPSet("ip_deny", list)
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("192.0.2.1")
	for b.Loop() {
		if s.lookup(a) != -1 {
			b.Fatal("matched")
		}
	}
}
