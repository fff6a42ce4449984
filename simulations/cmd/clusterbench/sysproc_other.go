//go:build !linux

package main

import "syscall"

// sysProcAttr is empty where the kernel cannot tie a child's life to its
// parent; the driver still stops every child on a normal exit, an error or
// Ctrl-C.
func sysProcAttr() *syscall.SysProcAttr { return nil }
