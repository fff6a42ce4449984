// Package node is the Portico process: it composes the Raft store, the
// regional endpoint and the admin API into one node with a lifecycle
// (New allocates and validates, Run blocks, Ready reports, shutdown runs
// in reverse order within a grace period), and it holds the command line
// (portico run, dev, apply, deploy, ...).
package node
