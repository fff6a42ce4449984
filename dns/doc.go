// Package dns will hold Portico's authoritative DNS server: latency-based
// answers for invoke hosts, health failover and split-horizon answers for
// private names (a short chain fixed in Go code: recover+metrics → client
// subnet → latency answer → fallback).
//
// Nothing is implemented here yet; the walking skeleton serves invoke
// hosts under *.localhost, which resolvers map to loopback by themselves.
package dns
