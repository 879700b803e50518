//go:build linux

package bench

import "syscall"

// agentProcAttr starts a benchmarked agent in its own process group, dying
// with the benchmark.
func agentProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
