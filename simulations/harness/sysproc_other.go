//go:build !linux

package harness

import "syscall"

// SysProcAttr is empty where the kernel cannot tie a child's life to its
// parent; the drivers still stop every child on a normal exit, an error or
// Ctrl-C.
func SysProcAttr() *syscall.SysProcAttr { return nil }
