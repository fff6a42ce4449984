//go:build !linux

package harness

import "syscall"

// SysProcAttr is empty where the kernel cannot tie a child's life to its
// parent; the drivers still stop every child on a normal exit, an error or
// Ctrl-C.
func SysProcAttr() *syscall.SysProcAttr { return nil }

// TreeProcAttr puts a child in a process group of its own
// (Group.StartTree); it is stopped with the others on a normal exit, an
// error or Ctrl-C.
func TreeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
