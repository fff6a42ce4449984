//go:build linux

package main

import "syscall"

// sysProcAttr has the kernel kill a child when the driver dies, even by
// SIGKILL, so no node outlives a benchmark. (Pdeathsig follows the OS
// thread that started the child; Go only retires threads of goroutines
// that exit while locked to them, which this driver never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
