package main

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// group owns every process the driver starts and stops them all, newest
// first, when the driver returns.
type group struct {
	mu    sync.Mutex
	procs []*proc
}

// proc is one started process; done closes when it has exited and err
// holds what Wait returned.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// exited reports whether the process has ended, without blocking.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start runs cmd and adds it to the group. The goroutine that waits for
// it ends when the process does; stop and kill wait for it.
func (g *group) start(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill(within time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("%s (pid %d) still running %v after SIGKILL", p.name, p.cmd.Process.Pid, within)
	}
}

// stop sends SIGTERM to every process still running, gives them grace to
// exit, then kills the rest. It blocks until all have exited.
func (g *group) stop(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if !procs[i].exited() {
			procs[i].cmd.Process.Signal(syscall.SIGTERM)
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
				if !q.exited() {
					q.cmd.Process.Signal(syscall.SIGKILL)
				}
			}
			<-p.done
		}
	}
}
