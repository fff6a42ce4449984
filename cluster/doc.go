// Package cluster keeps Portico's consistent state: API definitions,
// immutable deployments and stage pointers (with their cache settings and
// committed cache flushes), and custom domains with their base path
// mappings, replicated through a hashicorp/raft log. It also runs gossip
// (membership, node meta, user events such as cache flushes).
//
// Storage: the Raft log and stable store are hashicorp/raft-wal (a
// segment-file WAL written by HashiCorp for Raft, fsynced per append) in
// data_dir/raft/wal; snapshots are raft's file snapshot store in
// data_dir/raft/snapshots. raft-boltdb/v2 is avoided because it does not
// build beside raft v1.8 and memberlist v0.7 (go-metrics conflict).
//
// The FSM follows the Consul shape: every log entry is one type byte
// followed by a JSON body; Apply only decodes and stores (no clocks, no
// validation, no I/O); an entry that does not decode panics, because
// replicas that skipped it would diverge. Validation happens before an
// entry reaches the log (in the admin layer), so a rejected write never
// moves the applied index.
//
// Readers get immutable *configs.State values through State() and are
// told about changes through Changed(); the data plane never takes a lock
// here.
//
// This is the single-node shape (one voter bootstrapped on first start);
// gossip membership, several voters and followers that are not voters
// build on it.
package cluster
