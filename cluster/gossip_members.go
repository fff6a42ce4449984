package cluster

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// MemberStatus is a member's state as this node sees it. memberlist's
// "suspect" state is internal to it and not reported by serf: a suspect
// member stays "alive" until it is declared failed.
type MemberStatus string

// Member statuses.
const (
	MemberAlive   MemberStatus = "alive"
	MemberLeaving MemberStatus = "leaving" // announced its leave, not yet gone
	MemberFailed  MemberStatus = "failed"  // stopped answering probes
	MemberLeft    MemberStatus = "left"    // left gracefully
)

// Member is one cluster member as this node sees it.
type Member struct {
	Name string
	// Addr is the member's gossip address, host:port.
	Addr   string
	Status MemberStatus
	// Meta is the member's announced meta; zero when MetaErr is set
	// (for example a newer node speaking an unknown meta version).
	Meta    NodeMeta
	MetaErr error
}

// gossipView is an immutable snapshot of the members; changed is closed
// when a newer view replaces it.
type gossipView struct {
	members []Member // sorted by name
	changed chan struct{}
}

// run owns the serf event stream: it folds member events into a fresh
// view and publishes it. Serf blocks on this channel, so nothing here
// waits on anything but the channel.
func (g *Gossip) run(members map[string]Member) {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case ev := <-g.events:
			changed := g.apply(members, ev)
			// Fold whatever else is queued so a burst publishes once.
			for more := true; more; {
				select {
				case ev := <-g.events:
					changed = g.apply(members, ev) || changed
				default:
					more = false
				}
			}
			if changed {
				g.publish(members)
			}
		}
	}
}

// apply folds one serf event into members and reports whether it changed
// membership or meta. Serf events carry the member's full state, so the
// view never needs to ask serf (whose lock the sender holds).
func (g *Gossip) apply(members map[string]Member, ev serf.Event) bool {
	if ue, ok := ev.(serf.UserEvent); ok {
		if g.cfg.OnEvent != nil {
			g.cfg.OnEvent(ue.Name, ue.Payload)
		}
		return false
	}
	me, ok := ev.(serf.MemberEvent)
	if !ok {
		return false // queries are answered by serf itself (keyring)
	}
	for _, sm := range me.Members {
		if me.Type == serf.EventMemberReap {
			delete(members, sm.Name)
			continue
		}
		m := toMember(sm)
		if m.MetaErr != nil {
			g.log.Warn("gossip member meta skipped", "member", m.Name, "err", m.MetaErr)
		}
		members[m.Name] = m
	}
	return true
}

// publish swaps in a new view of members and wakes Changed waiters.
func (g *Gossip) publish(members map[string]Member) {
	list := make([]Member, 0, len(members))
	for _, m := range members {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	old := g.view.Swap(&gossipView{members: list, changed: make(chan struct{})})
	if old != nil {
		close(old.changed)
	}
}

func toMember(sm serf.Member) Member {
	m := Member{
		Name: sm.Name,
		Addr: net.JoinHostPort(sm.Addr.String(), strconv.Itoa(int(sm.Port))),
	}
	switch sm.Status {
	case serf.StatusAlive:
		m.Status = MemberAlive
	case serf.StatusLeaving:
		m.Status = MemberLeaving
	case serf.StatusLeft:
		m.Status = MemberLeft
	default:
		m.Status = MemberFailed
	}
	m.Meta, m.MetaErr = ParseMeta(sm.Tags)
	return m
}

// Members returns a snapshot of the members this node knows, itself
// included, sorted by name. It never blocks. The slice is the caller's;
// the Meta values are shared and must not be modified.
func (g *Gossip) Members() []Member {
	return slices.Clone(g.view.Load().members)
}

// Changed returns a channel closed on the next change of membership or
// meta (join, update, failure, leave, reap). It never blocks. To miss no
// change, call Changed before Members.
func (g *Gossip) Changed() <-chan struct{} {
	return g.view.Load().changed
}

// RTT estimates the round trip from this node to node from their serf
// network coordinates. ok is false until a coordinate for node is known
// (after a probe exchange). A failed member keeps its last coordinate
// until it is reaped; combine with Members for health.
func (g *Gossip) RTT(node string) (time.Duration, bool) {
	other, ok := g.serf.GetCachedCoordinate(node)
	if !ok {
		return 0, false
	}
	self, err := g.serf.GetCoordinate()
	if err != nil || !self.IsCompatibleWith(other) {
		return 0, false
	}
	return self.DistanceTo(other), true
}

// RTTBetween estimates the round trip between two members, as known to
// this node, from their network coordinates.
func (g *Gossip) RTTBetween(a, b string) (time.Duration, bool) {
	ca, ok := g.serf.GetCachedCoordinate(a)
	if !ok {
		return 0, false
	}
	cb, ok := g.serf.GetCachedCoordinate(b)
	if !ok || !ca.IsCompatibleWith(cb) {
		return 0, false
	}
	return ca.DistanceTo(cb), true
}
