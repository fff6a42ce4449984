package node

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
)

// Measured client round trips: the "measured" latency source of DNS
// answers (dns.Latency.RTT).
//
// Where they come from: every regional and edge endpoint reads the
// kernel's smoothed round trip (Linux TCP_INFO) of each client TCP
// connection once, after the TLS handshake (endpoints.Config.ObserveRTT),
// and hands it to observeRTT. HTTP/3 connections are not measured.
//
// The aggregate: per client network (a /24 for IPv4, a /56 for IPv6: the
// keys dns asks with), the median of the last rttWindow connections, with
// the number of connections seen and when the last one was. At most
// rttMaxNetworks networks are kept; a new one evicts the least recently
// seen, and one not seen for rttMaxAge is forgotten. Recording is one
// short critical section per connection.
//
// Sharing: every rttShareInterval each regional or edge node gossips its
// aggregates of networks with at least rttMinSamples connections, the
// most-sampled first, at most rttMaxShare per round, in as many user
// events (rttEvent, binary, see encodeRTT) as it takes to stay within the
// gossip event size limit. Every dns node keeps, per (client network,
// node), the last aggregate received; an entry older than rttTTL counts
// as unknown, and entries of nodes that left the cluster are dropped. The
// table is published to the query path as an immutable snapshot.
//
// Precedence (dns/latency.go): for each candidate, the operator's latency
// map wins when a rule covers the client network and names the candidate;
// otherwise measured round trips for the client network; otherwise the
// round trip from the answering dns node to the candidate (gossip
// coordinates); otherwise nothing, and the fallback order (a stable hash
// per API for edges, the operator's order for a custom domain's regions)
// decides. Candidates are ranked by source first, so an edge measured for
// the network outranks one known only by node round trips; the explore
// share of answers sends clients to the runner-up so that it gets
// measured too. Measurements are keyed by /24 and /56 only: a resolver
// sending a shorter client subnet gets node round trips.
const (
	rttEvent = "rtt"
	// rttShareInterval is how often a node gossips its aggregates.
	rttShareInterval = 10 * time.Second
	// rttPublishInterval bounds how long received aggregates wait before
	// the query path sees them.
	rttPublishInterval = 500 * time.Millisecond
	// rttTTL is how long a received aggregate counts: twelve share
	// rounds, so a few lost events do not matter.
	rttTTL = 2 * time.Minute
	// rttMaxAge: a network without a connection for this long is no
	// longer shared, and forgotten.
	rttMaxAge = 10 * time.Minute
	// rttWindow is how many recent connections the median is taken over.
	rttWindow = 16
	// rttMinSamples connections make an aggregate worth sharing.
	rttMinSamples = 3
	// rttMaxNetworks bounds the networks a node records, and those a dns
	// node keeps per node (about 100 and 64 bytes each).
	rttMaxNetworks = 4096
	// rttMaxShare bounds the networks shared per round: about 6 events
	// of at most cluster.MaxEventSize bytes.
	rttMaxShare = 256
	// rttEnvelope is what serf adds around a user event's name and
	// payload (message type, Lamport time, field names, coalesce flag,
	// about 45 bytes with msgpack), which counts against the same limit.
	rttEnvelope = 64
	// rttPayloadMax is the payload of one event.
	rttPayloadMax = cluster.MaxEventSize - len(rttEvent) - rttEnvelope
	// rttMaxSample bounds a recorded or received round trip.
	rttMaxSample = time.Minute
)

// Client network prefix lengths: those of dns (RFC 7871 section 11.1).
const (
	rttBits4 = 24
	rttBits6 = 56
)

// clientRTT is a node's part in measured latency: what its own endpoints
// observed (regional and edge nodes) and what every node shared (dns
// nodes). The zero value is ready.
type clientRTT struct {
	rec   rttRecorder
	table rttTable
}

// observeRTT records the round trip of one client connection of this
// node's regional or edge endpoint (endpoints.Config.ObserveRTT). It
// never blocks. Tests inject observations here: the path real
// measurements take.
func (n *Node) observeRTT(client netip.Addr, rtt time.Duration) {
	n.rtt.rec.record(client, rtt, time.Now())
}

// receiveRTT handles an rttEvent. It runs on the gossip loop and does not
// block. Only dns nodes keep the table.
func (n *Node) receiveRTT(payload []byte) {
	if !n.cfg.HasRole(configs.RoleDNS) {
		return
	}
	from, entries, err := decodeRTT(payload)
	if err != nil {
		n.log.Debug("malformed rtt event ignored", "err", err)
		return
	}
	// An event can arrive after its sender left (gossip delivers it
	// late): what a departed node measured is not kept.
	if g := n.Gossip(); g != nil && !slices.ContainsFunc(g.Members(), func(m cluster.Member) bool {
		return m.Name == from && rttPresent(m)
	}) {
		return
	}
	n.rtt.table.apply(from, entries, time.Now())
}

// runRTT shares this node's aggregates (regional and edge nodes) and
// keeps the received table current (dns nodes) until ctx is done.
func (n *Node) runRTT(ctx context.Context, g *cluster.Gossip) {
	share := configs.ServesRequests(n.cfg.Roles)
	keep := n.cfg.HasRole(configs.RoleDNS)
	if !share && !keep {
		return
	}
	slow := time.NewTicker(rttShareInterval)
	defer slow.Stop()
	var publish <-chan time.Time
	if keep {
		t := time.NewTicker(rttPublishInterval)
		defer t.Stop()
		publish = t.C
	}
	for {
		var changed <-chan struct{}
		if keep {
			changed = g.Changed()
		}
		select {
		case <-ctx.Done():
			return
		case now := <-slow.C:
			if share {
				n.shareRTT(g, now)
			}
			if keep {
				n.rtt.table.expire(now)
				// Also here, not only on membership changes: an event
				// checked just before its sender left can land after
				// the change was handled.
				n.rtt.table.forget(g.Members())
			}
		case <-changed:
			n.rtt.table.forget(g.Members())
		case <-publish:
			n.rtt.table.publish()
		}
	}
}

// rttBroadcaster is what sharing needs of the gossip.
type rttBroadcaster interface {
	Broadcast(name string, payload []byte) error
}

// shareRTT gossips this node's aggregates and returns how many events it
// sent.
func (n *Node) shareRTT(b rttBroadcaster, now time.Time) int {
	entries := n.rtt.rec.aggregates(now)
	if len(entries) == 0 {
		return 0
	}
	events, err := encodeRTT(n.cfg.Name, entries, rttPayloadMax)
	if err != nil {
		n.log.Warn("client round trips not shared", "err", err)
		return 0
	}
	for i, p := range events {
		if err := b.Broadcast(rttEvent, p); err != nil {
			n.log.Warn("client round trips not shared", "err", err, "events_left", len(events)-i)
			return i
		}
	}
	return len(events)
}

// clientNetwork is the client network of a: its /24 or /56.
func clientNetwork(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap().WithZone("")
	switch {
	case a.Is4():
		return netip.PrefixFrom(a, rttBits4).Masked(), true
	case a.Is6():
		return netip.PrefixFrom(a, rttBits6).Masked(), true
	}
	return netip.Prefix{}, false
}

// rttEntry is one network's aggregate, as shared.
type rttEntry struct {
	net     netip.Prefix // a /24 or /56
	rtt     time.Duration
	samples uint32
}

// rttRecorder aggregates this node's observations per client network. It
// is safe for concurrent use; the zero value is ready.
type rttRecorder struct {
	mu         sync.Mutex
	nets       map[netip.Prefix]*rttNet
	head, tail *rttNet // most and least recently seen
}

// rttNet is one client network's recent samples.
type rttNet struct {
	key          netip.Prefix
	ring         [rttWindow]uint32 // microseconds
	next         uint8             // where the next sample goes
	n            uint32            // connections seen (saturating)
	seen         time.Time
	older, newer *rttNet // neighbours in the recency list
}

// record adds one connection's round trip. It is the hot path: one map
// lookup and a list move under the lock, no allocation once the table is
// full.
func (r *rttRecorder) record(client netip.Addr, rtt time.Duration, now time.Time) {
	key, ok := clientNetwork(client)
	if !ok || rtt <= 0 || rtt > rttMaxSample {
		return
	}
	us := uint32(max(rtt/time.Microsecond, 1))
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.nets[key]
	switch {
	case e != nil:
		r.unlink(e)
	case len(r.nets) >= rttMaxNetworks:
		e = r.tail // the least recently seen makes room
		r.unlink(e)
		delete(r.nets, e.key)
		*e = rttNet{key: key}
		r.nets[key] = e
	default:
		if r.nets == nil {
			r.nets = map[netip.Prefix]*rttNet{}
		}
		e = &rttNet{key: key}
		r.nets[key] = e
	}
	e.ring[e.next] = us
	e.next = (e.next + 1) % rttWindow
	if e.n < math.MaxUint32 {
		e.n++
	}
	e.seen = now
	r.pushFront(e)
}

func (r *rttRecorder) unlink(e *rttNet) {
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		r.head = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		r.tail = e.newer
	}
	e.older, e.newer = nil, nil
}

func (r *rttRecorder) pushFront(e *rttNet) {
	e.older, e.newer = r.head, nil
	if r.head != nil {
		r.head.newer = e
	}
	r.head = e
	if r.tail == nil {
		r.tail = e
	}
}

// aggregates forgets the networks not seen for rttMaxAge and returns the
// aggregates worth sharing (rttMinSamples or more connections), most
// sampled first, at most rttMaxShare.
func (r *rttRecorder) aggregates(now time.Time) []rttEntry {
	var picked []rttNet
	r.mu.Lock()
	for e := r.tail; e != nil && now.Sub(e.seen) > rttMaxAge; e = r.tail {
		r.unlink(e)
		delete(r.nets, e.key)
	}
	for e := r.head; e != nil; e = e.older {
		if e.n >= rttMinSamples {
			picked = append(picked, *e)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(picked, func(a, b rttNet) int {
		return cmp.Or(cmp.Compare(b.n, a.n), b.seen.Compare(a.seen), a.key.Addr().Compare(b.key.Addr()))
	})
	picked = picked[:min(len(picked), rttMaxShare)]
	out := make([]rttEntry, len(picked))
	for i := range picked {
		e := &picked[i]
		out[i] = rttEntry{net: e.key, rtt: e.median(), samples: e.n}
	}
	return out
}

// median of the samples in the window (the mean of the middle two for
// an even count).
func (e *rttNet) median() time.Duration {
	k := int(min(e.n, rttWindow))
	s := e.ring // a copy
	v := s[:k]
	slices.Sort(v)
	m := uint64(v[(k-1)/2])
	if k%2 == 0 {
		m = (m + uint64(v[k/2])) / 2
	}
	return time.Duration(m) * time.Microsecond
}

// rttTable is what a dns node knows of every node's aggregates. Gossip
// events apply to a mutable table under mu; publish hands the query path
// an immutable snapshot, rebuilding only the nodes that changed.
type rttTable struct {
	mu    sync.Mutex
	nodes map[string]map[netip.Prefix]rttObs // guarded by mu
	dirty map[string]bool                    // changed since the last publish
	snap  atomic.Pointer[rttSnapshot]
}

// rttObs is one node's aggregate for one network, as received.
type rttObs struct {
	rtt     time.Duration
	samples uint32
	at      time.Time // received
}

// rttSnapshot is immutable; the inner maps are shared between snapshots
// while their node sends nothing new.
type rttSnapshot struct {
	nodes map[string]map[netip.Prefix]rttObs
}

// apply stores the aggregates from node from. A node's networks beyond
// rttMaxNetworks are ignored until older ones expire.
func (t *rttTable) apply(from string, entries []rttEntry, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nodes == nil {
		t.nodes, t.dirty = map[string]map[netip.Prefix]rttObs{}, map[string]bool{}
	}
	m := t.nodes[from]
	if m == nil {
		m = map[netip.Prefix]rttObs{}
		t.nodes[from] = m
	}
	for _, e := range entries {
		if _, ok := m[e.net]; !ok && len(m) >= rttMaxNetworks {
			continue
		}
		m[e.net] = rttObs{rtt: e.rtt, samples: e.samples, at: now}
	}
	t.dirty[from] = true
}

// rttPresent reports whether the table keeps what member m measured: a
// node that left is gone, a failed one may come back (the TTL drops its
// aggregates otherwise). receiveRTT and forget must agree on it.
func rttPresent(m cluster.Member) bool { return m.Status != cluster.MemberLeft }

// forget drops the aggregates of nodes that left or are no longer
// members (a failed node may come back; the TTL drops its aggregates
// otherwise). It runs on every membership change and every
// rttShareInterval: it costs one map lookup per node.
func (t *rttTable) forget(members []cluster.Member) {
	present := make(map[string]bool, len(members))
	for _, m := range members {
		if rttPresent(m) {
			present[m.Name] = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for node := range t.nodes {
		if !present[node] {
			delete(t.nodes, node)
			t.dirty[node] = true
		}
	}
}

// expire drops the aggregates received more than rttTTL before now
// (lookup ignores them already; this frees them).
func (t *rttTable) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for node, m := range t.nodes {
		for k, o := range m {
			if now.Sub(o.at) > rttTTL {
				delete(m, k)
				t.dirty[node] = true
			}
		}
		if len(m) == 0 {
			delete(t.nodes, node)
		}
	}
}

// publish swaps in a snapshot with what changed since the last one.
func (t *rttTable) publish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.dirty) == 0 {
		return
	}
	next := &rttSnapshot{nodes: make(map[string]map[netip.Prefix]rttObs, len(t.nodes))}
	if old := t.snap.Load(); old != nil {
		for node, m := range old.nodes {
			if !t.dirty[node] {
				next.nodes[node] = m
			}
		}
	}
	for node := range t.dirty {
		if m := t.nodes[node]; len(m) > 0 {
			next.nodes[node] = maps.Clone(m)
		}
	}
	clear(t.dirty)
	t.snap.Store(next)
}

// lookup is node's round trip from clients of the network client (a /24
// or /56), if one was received within rttTTL of now. It never blocks.
// A nil table knows nothing.
func (t *rttTable) lookup(client netip.Prefix, node string, now time.Time) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	s := t.snap.Load()
	if s == nil {
		return 0, false
	}
	o, ok := s.nodes[node][client]
	if !ok || now.Sub(o.at) > rttTTL {
		return 0, false
	}
	return o.rtt, true
}

// The rttEvent payload (version 1):
//
//	version  1 byte, 1
//	node     1 byte length, then the sending node's name
//	entries  until the end, each:
//	  family   1 byte: 4 (then 3 bytes of a /24) or 6 (then 7 bytes of a /56)
//	  rtt      uvarint, microseconds
//	  samples  uvarint, connections seen
const rttVersion = 1

// rttMaxEntry is the most bytes one entry takes.
const rttMaxEntry = 1 + 7 + binary.MaxVarintLen32 + binary.MaxVarintLen32

var errRTTEvent = errors.New("malformed rtt event")

// encodeRTT splits entries over as few payloads of at most limit bytes as
// it takes, in order.
func encodeRTT(from string, entries []rttEntry, limit int) ([][]byte, error) {
	if from == "" || len(from) > math.MaxUint8 {
		return nil, fmt.Errorf("rtt event: node name of %d bytes", len(from))
	}
	header := 2 + len(from)
	if header+rttMaxEntry > limit {
		return nil, fmt.Errorf("rtt event: %d bytes do not fit a node name of %d bytes and an entry", limit, len(from))
	}
	var out [][]byte
	var p []byte
	for _, e := range entries {
		if p != nil && len(p)+rttMaxEntry > limit {
			out, p = append(out, p), nil
		}
		if p == nil {
			p = make([]byte, 0, limit)
			p = append(p, rttVersion, byte(len(from)))
			p = append(p, from...)
		}
		a := e.net.Addr()
		if a.Is4() {
			b := a.As4()
			p = append(p, 4)
			p = append(p, b[:rttBits4/8]...)
		} else {
			b := a.As16()
			p = append(p, 6)
			p = append(p, b[:rttBits6/8]...)
		}
		p = binary.AppendUvarint(p, uint64(max(e.rtt/time.Microsecond, 1)))
		p = binary.AppendUvarint(p, uint64(e.samples))
	}
	if p != nil {
		out = append(out, p)
	}
	return out, nil
}

// decodeRTT parses a payload of encodeRTT. Anything malformed fails the
// whole event; it never panics.
func decodeRTT(p []byte) (string, []rttEntry, error) {
	if len(p) < 2 || p[0] != rttVersion {
		return "", nil, fmt.Errorf("%w: unknown version", errRTTEvent)
	}
	nl := int(p[1])
	if nl == 0 || len(p) < 2+nl {
		return "", nil, fmt.Errorf("%w: node name", errRTTEvent)
	}
	from, p := string(p[2:2+nl]), p[2+nl:]
	var out []rttEntry
	for len(p) > 0 {
		var e rttEntry
		switch fam := p[0]; {
		case fam == 4 && len(p) >= 1+rttBits4/8:
			var b [4]byte
			copy(b[:], p[1:1+rttBits4/8])
			e.net, p = netip.PrefixFrom(netip.AddrFrom4(b), rttBits4), p[1+rttBits4/8:]
		case fam == 6 && len(p) >= 1+rttBits6/8:
			var b [16]byte
			copy(b[:], p[1:1+rttBits6/8])
			e.net, p = netip.PrefixFrom(netip.AddrFrom16(b), rttBits6), p[1+rttBits6/8:]
		default:
			return "", nil, fmt.Errorf("%w: entry %d: address", errRTTEvent, len(out))
		}
		us, n := binary.Uvarint(p)
		if n <= 0 || us == 0 || us > uint64(rttMaxSample/time.Microsecond) {
			return "", nil, fmt.Errorf("%w: entry %d: round trip", errRTTEvent, len(out))
		}
		p = p[n:]
		samples, n := binary.Uvarint(p)
		if n <= 0 || samples == 0 || samples > math.MaxUint32 {
			return "", nil, fmt.Errorf("%w: entry %d: samples", errRTTEvent, len(out))
		}
		p = p[n:]
		e.rtt, e.samples = time.Duration(us)*time.Microsecond, uint32(samples)
		out = append(out, e)
	}
	return from, out, nil
}
