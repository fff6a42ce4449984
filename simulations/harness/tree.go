package harness

import (
	"fmt"
	"os/exec"
)

// superviseScript runs its arguments as a background child and, on
// SIGTERM or SIGINT (from Group.Stop, or from the kernel when the driver
// dies: TreeProcAttr), kills its whole process group with SIGKILL: the
// child and whatever the child forked. The trap is set before the child
// starts, so no signal can slip in between. When the child exits by
// itself, the script exits with its status.
const superviseScript = `trap 'kill -KILL 0' TERM INT
"$@" &
wait "$!"`

// StartTree starts cmd like Start, for a program that forks workers of
// its own (nginx): Pdeathsig only reaches the process the driver started,
// and the workers of a killed nginx master keep running and serving. So
// cmd runs under a small sh supervisor that leads a new process group and
// kills all of it when it is stopped or the driver dies. Stopping is
// therefore a SIGKILL of the program, not a graceful stop; cmd.Path, Args,
// Dir, Env and the standard streams are kept, SysProcAttr is replaced.
func (g *Group) StartTree(name string, cmd *exec.Cmd) (*Proc, error) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	args := append([]string{"-c", superviseScript, "sh", cmd.Path}, cmd.Args[1:]...)
	wrapped := exec.Command(sh, args...)
	wrapped.Dir, wrapped.Env = cmd.Dir, cmd.Env
	wrapped.Stdin, wrapped.Stdout, wrapped.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	return g.start(name, wrapped, TreeProcAttr())
}
