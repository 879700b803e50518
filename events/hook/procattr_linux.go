//go:build linux

package hook

import "syscall"

// guardsSupported: the hook guard re-executes /proc/self/exe.
const guardsSupported = true

// hookProcAttr puts a hook in its own process group, so a timeout kills
// the children it spawned, and ties it to the agent: if the agent dies,
// the hook dies with it (the journal resumes it at the next start)
// instead of running on unsupervised.
func hookProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// guardedProcAttr is the hook's under the hook guard: in the guard's
// process group (the runner's kills reach both), dying with the guard.
func guardedProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
