package limit

import (
	"context"
	"time"
)

// LeaseRequest is one renewal round of one node: every key the node needs
// budget for or has usage to report, in one message. The node layer sends
// it as JSON to the coordinator; the short field names keep it small.
type LeaseRequest struct {
	// Node names the sender; the coordinator keeps per-node lease
	// records under it and counts it as live. Stable across restarts.
	Node  string      `json:"n"`
	Items []LeaseItem `json:"i,omitempty"`
}

// LeaseItem asks for budget for one key and reports its usage.
type LeaseItem struct {
	Key  string `json:"k"`
	Spec Spec   `json:"s"`
	// Want is how many tokens the node asks for.
	Want int64 `json:"w,omitempty"`
	// Used is what the node admitted that the coordinator has not yet
	// acknowledged. Quota: usage in window Win beyond Acked. Rate limit:
	// admissions from the node's local share since its last round, which
	// the coordinator charges to the key's bucket.
	Used int64 `json:"u,omitempty"`
	// Acked (quota) is the usage in window Win the coordinator has
	// already acknowledged to this node in Stream. Acked+Used is the
	// stream's total, so a report whose answer was lost and that is sent
	// again is not counted twice.
	Acked int64 `json:"a,omitempty"`
	// Win (quota) is the start (Unix seconds) of the window Used belongs
	// to, as the coordinator last named it; 0: the current window.
	Win int64 `json:"ws,omitempty"`
	// Stream (quota) names the node's count that Acked belongs to; a node
	// starts a new one when it starts counting afresh (a new key, a new
	// window, a restart).
	Stream uint64 `json:"sid,omitempty"`
	// Held (quota) is the granted budget the node still held, unspent and
	// unexpired, when it sent the request. The coordinator takes it as the
	// node's outstanding budget, so a grant whose answer was lost does
	// not stay reserved.
	Held int64 `json:"h,omitempty"`
}

// LeaseResponse answers a LeaseRequest: Items[i] answers the request's
// Items[i].
type LeaseResponse struct {
	Items []LeaseGrant `json:"i,omitempty"`
}

// LeaseGrant is the budget granted for one key.
type LeaseGrant struct {
	// Grant is the number of tokens the node may admit, added to what
	// it holds; its whole balance is valid for TTL.
	Grant int64 `json:"g,omitempty"`
	// TTL (milliseconds) is the lease lifetime, counted by the node from
	// when it sent the request. Quota leases end with their window.
	TTL int64 `json:"t,omitempty"`
	// Win (quota) is the start of the current window, Unix seconds.
	Win int64 `json:"ws,omitempty"`
	// Reset (quota, milliseconds) is the time until the window ends.
	Reset int64 `json:"re,omitempty"`
	// Exhausted (quota): the window's usage has reached the limit.
	Exhausted bool `json:"x,omitempty"`
	// Err says why the item was refused (invalid spec, coordinator
	// full). Usage in the item is still counted when it can be.
	Err string `json:"e,omitempty"`
}

// Transport carries a lease request to the coordinator and brings back
// its answer. Lease blocks for a network round trip and must return once
// ctx is done; it must not keep req after returning. The Limiter calls it
// from its round loop only, one call at a time, with a deadline.
type Transport interface {
	Lease(ctx context.Context, req LeaseRequest) (LeaseResponse, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, req LeaseRequest) (LeaseResponse, error)

// Lease calls f.
func (f TransportFunc) Lease(ctx context.Context, req LeaseRequest) (LeaseResponse, error) {
	return f(ctx, req)
}

// QuotaStore is the committed quota usage, read by the coordinator when
// it first sees a key in a window (after a leader change, a restart, or
// when a forgotten idle key comes back). The node layer implements it over
// the Raft state machine: Used sums the committed UsageDelta values of key
// whose Day lies in [start, end), the window's bounds (a per-day store
// such as cluster.Usage.Sum needs both). Used is called with the
// coordinator's lock held and must not block: it reads local committed
// state.
type QuotaStore interface {
	Used(key string, start, end time.Time) int64
}

// UsageDelta is usage the coordinator counted and the store does not yet
// hold. The node layer commits it through Raft.
type UsageDelta struct {
	Key string `json:"k"`
	// Window is the start of the quota window the usage counts against.
	Window time.Time `json:"w"`
	// Day is the UTC midnight of the day the usage was reported, kept
	// within [Window, window end) so per-day sums over a window see it.
	Day   time.Time `json:"d"`
	Delta int64     `json:"n"`
}
