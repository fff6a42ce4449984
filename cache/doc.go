// Package cache will hold Portico's response cache: cache keys from stage
// settings, TTLs, request collapsing, stale serving, compressed storage
// and purges, shared by the edge tier and the regional shield.
//
// Nothing is implemented here yet; stages carry an opaque cache setting so
// that adding it does not change the Raft log format.
package cache
