package dns

import (
	"net/netip"
	"sync/atomic"
)

// selection is what the answers for one name and address family share
// whoever asks: which nodes may be answered, worked out from the snapshot
// alone (health, readiness, load, addresses). The index is immutable, so
// a selection is computed on a name's first query for the family and
// kept for the index's life; queries then only rank and pick. Its slices
// are shared and never written.
type selection struct {
	// Regional and private names: the answer (least loaded first, at
	// most MaxAnswers addresses; empty when no regional node has an
	// address of the family) and whether it failed open.
	addrs    []netip.Addr
	failOpen bool
	// Edge names and custom domains: the candidates before ranking
	// (latency fields unset), and whether they failed open.
	cands []candidate
}

// selections holds an entry's selections, one per address family (4, 6).
// Entries are copied by value; they share it through the pointer.
type selections struct{ fam [2]atomic.Pointer[selection] }

// get returns the selection for fam, computing it on first use. Two
// queries may both compute it; they get equal selections and either is
// kept. newIndex gives every entry that has selections a non-nil ss.
func (ss *selections) get(fam int, compute func() *selection) *selection {
	p := &ss.fam[0]
	if fam == 6 {
		p = &ss.fam[1]
	}
	if sel := p.Load(); sel != nil {
		return sel
	}
	sel := compute()
	p.Store(sel)
	return sel
}

// regionalSelection is the answer for a regional or private name: the
// healthy (ready) regional nodes of the region that have an address of
// the family, least loaded first.
func regionalSelection(ix *index, e entry, fam, limit int) *selection {
	with := withFamily(ix.regional[e.region], e.kind, fam)
	if len(with) == 0 {
		return &selection{}
	}
	nodes, failOpen := readyOrAll(with, e.ready)
	var out []netip.Addr
	for _, n := range byLoad(nodes) {
		out = appendFamily(out, addrsOf(n, e.kind), fam, limit)
	}
	return &selection{addrs: out, failOpen: failOpen}
}

// candidateSelection is the candidates for an edge name or a custom
// domain.
func candidateSelection(ix *index, e entry, fam int) *selection {
	var sel selection
	if e.byEdges() {
		sel.cands, sel.failOpen = edgeCandidates(ix, e.api, e.ready, fam)
	} else {
		sel.cands, sel.failOpen = regionCandidates(ix, e.regions, fam)
	}
	return &sel
}
