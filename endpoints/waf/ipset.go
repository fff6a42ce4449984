package waf

import (
	"fmt"
	"net/netip"
	"slices"
)

// ipSet answers "which entry of the list contains this address" with one
// map lookup per distinct prefix length in the list, not one comparison
// per entry: real lists use a handful of lengths (/32, /24, /16, /128,
// /64, /48), so a 10,000-entry list costs a few lookups.
type ipSet struct {
	v4, v6 []lengthTable // longest prefix first
}

// lengthTable holds the entries of one prefix length, keyed by their
// masked network address, with the index of the first entry in the list.
type lengthTable struct {
	bits  int
	first map[netip.Addr]int
}

// newIPSet compiles a list that Validate accepted; field names the list in
// errors.
func newIPSet(field string, list []string) (*ipSet, error) {
	if len(list) == 0 {
		return nil, nil
	}
	s := &ipSet{}
	for i, str := range list {
		pfx, err := parsePrefix(str)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: invalid CIDR %q: %w", field, i, str, err)
		}
		tables := &s.v6
		if pfx.Addr().Is4() {
			tables = &s.v4
		}
		j := slices.IndexFunc(*tables, func(t lengthTable) bool { return t.bits == pfx.Bits() })
		if j < 0 {
			*tables = append(*tables, lengthTable{bits: pfx.Bits(), first: map[netip.Addr]int{}})
			j = len(*tables) - 1
		}
		if _, dup := (*tables)[j].first[pfx.Addr()]; !dup {
			(*tables)[j].first[pfx.Addr()] = i
		}
	}
	for _, t := range [][]lengthTable{s.v4, s.v6} {
		slices.SortFunc(t, func(a, b lengthTable) int { return b.bits - a.bits })
	}
	return s, nil
}

// lookup returns the index in the list of an entry containing a (the most
// specific one), or -1. a must be unmapped and without zone (clientAddr).
func (s *ipSet) lookup(a netip.Addr) int {
	if s == nil || !a.IsValid() {
		return -1
	}
	tables := s.v6
	if a.Is4() {
		tables = s.v4
	}
	for _, t := range tables {
		p, err := a.Prefix(t.bits)
		if err != nil {
			continue
		}
		if i, ok := t.first[p.Addr()]; ok {
			return i
		}
	}
	return -1
}
