package harness

import (
	"errors"
	"fmt"
	"os/exec"
)

// Pin makes an unstarted cmd run with its CPU affinity set to cpus, a
// CPU list in taskset's syntax ("0", "1-3"): it runs under `taskset -c
// cpus`, which sets the affinity and then executes the program in its
// own process, so the pid, Pdeathsig and the CPU-time reading stay the
// program's. A Go program sizes GOMAXPROCS from that affinity, and so do
// nginx's `worker_processes auto` and wrk's threads' share of CPU. This is
// the research note's method for per-core figures
// (performance-anchors.md §2: the server side on one vCPU, the load
// generator on the other).
func Pin(cmd *exec.Cmd, cpus string) error {
	if cpus == "" {
		return errors.New("pin: no CPU list")
	}
	if cmd.Process != nil {
		return fmt.Errorf("pin %s: already started", cmd.Path)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("pin %s to CPU %s: taskset not found (util-linux): %w", cmd.Path, cpus, err)
	}
	cmd.Args = append([]string{taskset, "-c", cpus, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = taskset
	return nil
}
