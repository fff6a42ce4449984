//go:build linux

package harness

import "syscall"

// SysProcAttr has the kernel kill a child when the driver dies, even by
// SIGKILL, so no child outlives a benchmark. (Pdeathsig follows the OS
// thread that started the child; Go only retires threads of goroutines
// that exit while locked to them, which the drivers never do.)
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// TreeProcAttr puts a child in a process group of its own and sends it
// SIGTERM when the driver dies, so that it can take the group down with
// it (Group.StartTree).
func TreeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
