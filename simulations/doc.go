// Package simulations holds the project's bench drivers and simulations:
// programs that start real Portico processes on loopback, drive them with
// external load tools or scripted faults, and report numbers to compare
// with the reference figures in the performance research note. They
// measure; tests elsewhere check behaviour. Each driver is a command under
// simulations/cmd/ (for example `go run ./simulations/cmd/proxybench`),
// and their results go to simulations/results/, which is not committed.
// What the drivers share (child processes, lifecycle, report helpers,
// the loopback cluster layout) lives in simulations/harness.
//
// Cluster numbers: `go run ./simulations/cmd/clusterbench -portico
// bin/portico [-deploys 20] [-kills 5]` starts a 3-region cluster of
// separate `portico run` processes (per region one control+regional node
// and one edge, as `portico dev --regions 3 --edges 1` lays it out) and
// reports config propagation (a deploy's answer to every node serving its
// index: p50, p99, max; target p99 ≤ 1 s on loopback) and leader failover
// (SIGKILL of the Raft leader to the next write accepted through a
// survivor, the killed node restarted on its data directory between
// kills). node/crash_cluster_test.go checks the behaviour beside it: no
// acknowledged write is lost across a SIGKILL of the leader.
package simulations
