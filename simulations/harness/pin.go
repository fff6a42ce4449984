package harness

import (
	"fmt"
	"os/exec"
)

// Pin makes an unstarted cmd run with its CPU affinity set to cpus, a
// CPU list in taskset's syntax ("0", "1,3", "2-5"); it does nothing for
// an empty list. The command runs under `taskset -c cpus`, which sets the
// affinity and then executes the program in its own process, so the pid,
// Pdeathsig and the CPU-time reading stay the program's, and the affinity
// is in place before the program starts: a Go program sizes GOMAXPROCS
// from it, and whatever the program forks inherits it. This is the
// research note's method for per-core figures (performance-anchors.md §2:
// the server side on one vCPU, the load generator on the other).
func Pin(cmd *exec.Cmd, cpus string) error {
	if cpus == "" {
		return nil
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

// Place has the processes named, when the group starts them, run on cpus
// (see Pin); an empty list leaves them on any CPU.
func (g *Group) Place(cpus string, names ...string) {
	if cpus == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cpus == nil {
		g.cpus = map[string]string{}
	}
	for _, n := range names {
		g.cpus[n] = cpus
	}
}
