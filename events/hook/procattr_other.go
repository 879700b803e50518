//go:build !linux

package hook

import "syscall"

// vigil runs on Linux. Elsewhere it builds, for development, without two
// things Linux gives: a hook does not die with a crashed agent (no
// parent-death signal), and failover runs have no hook guard (it
// re-executes /proc/self/exe).
const guardsSupported = false

func hookProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func guardedProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
