// Package simulations holds the project's bench drivers and simulations:
// programs that start real Portico processes on loopback, drive them with
// external load tools or scripted faults, and report numbers to compare
// with the reference figures in the performance research note. They
// measure; tests elsewhere check behaviour. Each driver is a command under
// simulations/cmd/ (for example `go run ./simulations/cmd/proxybench`),
// and their results go to simulations/results/, which is not committed.
package simulations
