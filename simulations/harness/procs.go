package harness

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Group owns every process a driver starts and stops them all, newest
// first, when the driver returns. The zero Group is ready to use.
type Group struct {
	mu    sync.Mutex
	procs []*Proc
	cpus  map[string]string // CPU lists by process name (Place)
}

// Proc is one started process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Done closes when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what Wait returned; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the process has ended, without blocking.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start runs cmd (with SysProcAttr) and adds it to the group. The
// goroutine that waits for it ends when the process does; Stop and Kill
// wait for it.
func (g *Group) Start(name string, cmd *exec.Cmd) (*Proc, error) {
	return g.start(name, cmd, SysProcAttr())
}

func (g *Group) start(name string, cmd *exec.Cmd, attr *syscall.SysProcAttr) (*Proc, error) {
	g.mu.Lock()
	cpus := g.cpus[name]
	g.mu.Unlock()
	if err := Pin(cmd, cpus); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill(within time.Duration) error {
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.Exited() {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("%s (pid %d) still running %v after SIGKILL", p.Name, p.Cmd.Process.Pid, within)
	}
}

// Stop sends SIGTERM to every process still running, gives them grace to
// exit, then kills the rest. It blocks until all have exited.
func (g *Group) Stop(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if !procs[i].Exited() {
			procs[i].Cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.done:
		case <-deadline.C:
			// The grace is spent: kill this one and every one after it.
			for _, q := range procs[:i+1] {
				if !q.Exited() {
					q.Cmd.Process.Signal(syscall.SIGKILL)
				}
			}
			<-p.done
		}
	}
}
