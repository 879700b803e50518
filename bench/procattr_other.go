//go:build !linux

package bench

import "syscall"

// agentProcAttr starts a benchmarked agent in its own process group (the
// benchmark reads /proc, so it measures on Linux only; this builds).
func agentProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
