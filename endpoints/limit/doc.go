// Package limit enforces rate limits and usage-plan quotas across all the
// gateway nodes of a cluster, without Redis and without a network call per
// request. It is a library: the node layer carries its messages between
// nodes (JSON over mutual-TLS HTTP), decides which node coordinates (the
// Raft leader) and persists quota usage through Raft.
//
// # Design
//
// A rate limit (Spec Rate, Burst) is a token bucket, as API Gateway
// throttles: Rate requests per second, at most Burst at once. A quota
// (Spec Limit, Period, Offset) allows Limit requests per DAY, WEEK or MONTH
// window (Window, ValidateQuota), counted once across the cluster.
//
// One Coordinator, on the leader, holds the truth: a token bucket per rate
// key and the usage per quota key and window. It hands out leases: budget a
// node may spend on its own for Lease (1s). Every node runs a Limiter.
// Allow spends the node's lease for the key with a few atomic operations
// and never waits for the network. A background round (Run, every Interval,
// 50ms) sends one LeaseRequest with every key that runs low or has usage to
// report, and installs the answers. A node asks for Headroom (2) rounds of
// its recent demand (Allow calls per round, smoothed), so leases follow
// load and a node gets roughly its share; when nodes together ask for more
// than a bucket holds, the coordinator splits it by what they asked for.
//
// Rate grants are taken out of the key's bucket. Quota grants never exceed
// limit − used − outstanding, where outstanding is the budget nodes hold:
// what each said it held when it last asked (Held), plus what it was
// granted then. Nodes report what they used with every round, and a node's
// outstanding budget is released when its lease expires. A lease counts
// from when the node sent its request, so it ends on the node before the
// coordinator releases it. Usage reports carry the total acknowledged so
// far (Acked, within the node's Stream) with the new part (Used): a report
// sent again after its answer was lost is not counted twice, and a grant
// whose answer was lost is not held back past the node's next request.
//
// Without a valid lease (a key's first request, a lease that expired while
// the key was idle, a sudden rise in demand on an uncontended key) a node
// admits rate limits from its local share, a bucket of Rate/n and
// max(Burst/n, 1) with n from LimiterConfig.Peers, and reports those
// admissions with its next round; the coordinator charges them to the key's
// bucket (down to −capacity). A quota key admits one request on credit,
// reported as usage, unless the coordinator said the window is used up; the
// credit comes back with the next answer. So first requests are not
// rejected while a lease is on its way.
//
// Quota usage is committed through Raft by the node layer: Drain returns the
// usage the coordinator counted since the last Drain (per key, window and
// day) and the node commits it; QuotaStore.Used reads what is committed. A
// coordinator reads the store once per key and window (first sight), then
// counts on from there: drained usage stays in its count, so a commit never
// counts twice. A new coordinator reads the store afresh. Node restarts
// never reset a quota: nothing of it lives on the nodes.
//
// When rounds have failed for FallbackAfter (2 rounds), a node falls back:
// rate limits are enforced from its local share; quota keys spend what their
// last lease left, then answer Throttled (not QuotaExceeded: the quota is
// not known to be used up). The coordinator counts nodes heard from within
// LiveAfter as live and scales every rate by live/peers, leaving the shares
// of nodes it cannot hear to their fallback. Only nodes that Peers counts
// (CoordinatorConfig.Peer) are live: rounds from other nodes never take a
// silent peer's share.
//
// # Overshoot bounds
//
// r is a rate, b its burst, n the number of nodes, L the lease lifetime, I
// the round interval, and C = max(b, r·MinCapacity) the coordinator's bucket
// capacity (MinCapacity 100ms keeps a small burst from starving per-round
// grants; C = b whenever b ≥ r/10).
//
// Rate limits, normal operation. The grants of a key over any interval of
// length T, together with the charged local admissions, are at most
// r·T + C: they all come out of one bucket. Admissions in an interval of
// length T are at most r·T + C + U + D, where U is the budget nodes held
// unspent when the interval began (about Headroom rounds of their demand;
// never more than r·L + C) and D the local-share admissions not yet charged
// (at most Σ max(b/n, 1) + r·I, when a key turns hot on every node at once).
// Lost answers and crashed nodes only lose budget: no overshoot.
//
// Rate limits, partition. A node cut off from the coordinator admits at
// most (r/n)·T + max(b/n, 1) plus its unspent lease; the coordinator grants
// its side at most (m/n)·r·T + C, m its live nodes. If all nodes agree on n
// the cluster stays within r·T + C + Σ max(b/n, 1) + U, plus (r/n)·LiveAfter
// per cut-off node while the coordinator still counts it live. When gossip
// shrinks the views (each side counts only its own nodes), every side
// admits up to r: a cluster split in s parts admits at most s·r.
//
// Quotas, normal operation. Grants never pass the limit, and usage is
// counted before the same answer's grant. Requests on credit can pass it by
// at most one per node per lease lifetime, and only while the remainder is
// held in other nodes' leases; none once the coordinator has answered that
// the window is used up (a node remembers that until the window ends, idle
// or not, unless it runs short of key memory). A node that starts afresh
// does not know it yet: each node start may admit one request on credit
// against a used-up quota. Usage counts for the window in which it is
// reported, so at a window boundary up to one round of usage can land on
// either side; a report for the window just ended carries no Acked, so if
// its answer is lost it is counted again (at most one round of one node,
// an overcount). A crashed node's usage since its last acknowledged report is
// lost (at most its last lease): an undercount.
//
// Quotas, partition. A cut-off node keeps spending its last lease within
// the window, which the coordinator may have released and regranted: the
// quota is passed by at most the unspent leases at the cut, plus one credit
// per node. Its usage is counted once it is back.
//
// Leader change (or coordinator restart). Rate keys start with full
// buckets: at most C more per key, plus the old leader's leases (U). Quota
// keys start from the store: they miss the usage counted by the old leader
// but not yet committed (at most one Drain interval of reports; drain and
// commit every second or so) and the old leader's outstanding leases, and
// the quota can be passed by those two. A report whose answer was lost just
// before the change may be counted twice (at most one round of one node):
// an overcount.
//
// Memory is bounded on both sides: MaxKeys, and idle keys are forgotten
// after IdleAfter (on a node 90% full, after ten idle rounds; a forgotten
// quota key's next first request may use a credit again). A coordinator
// forgets a key only when its leases have expired; a rate key forgotten under memory pressure before its bucket
// refilled may admit C more, and a quota key comes back with its committed
// and pending usage.
package limit
