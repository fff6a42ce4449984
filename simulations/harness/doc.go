// Package harness is the code the bench drivers under simulations/cmd
// (proxybench, clusterbench) and node/crash_cluster_test.go share, kept in
// one place so they cannot drift apart: starting child processes that
// never outlive the driver (Group, Proc; Pdeathsig on Linux), the driver
// lifecycle (signals, the -portico binary, the temporary and results
// directories), retrying, the JSON report helpers, and the loopback
// cluster layout (CA, gossip key and node configs, as `portico dev` lays
// them out). It must not import package node, whose tests use it.
package harness
