// Package harness is the code the bench drivers under simulations/cmd
// (proxybench, accessbench, clusterbench, edgebench) and
// node/crash_cluster_test.go share, kept in one place so they cannot drift
// apart: starting child processes that never outlive the driver (Group,
// Proc; Pdeathsig on Linux; StartTree for programs that fork workers, such
// as nginx; Pin and Group.Place to run them on chosen CPUs), the driver
// lifecycle (signals, the -portico binary, the temporary and results
// directories), retrying, the JSON report helpers, the loopback cluster
// layout (CA, gossip key and node configs, as `portico dev` lays them out),
// the single gateway node of proxybench and accessbench (SingleNode),
// running and parsing wrk, and the minimal Go backend the drivers measure
// against (HelloHandler, ServeBackend, StartBackend). It must not import
// package node, whose tests use it.
package harness
