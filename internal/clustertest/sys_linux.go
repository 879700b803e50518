//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// setnsSyscall is setns(2)'s number; the frozen syscall package lacks it on
// amd64 and 386, and golang.org/x/sys is not a direct dependency.
var setnsSyscall = map[string]uintptr{
	"amd64": 308, "386": 346, "arm64": 268, "arm": 375, "riscv64": 268,
	"loong64": 268, "ppc64le": 350, "ppc64": 350, "s390x": 339,
}[runtime.GOARCH]

// inNetns runs f on a fresh OS thread that has joined the network namespace
// pinned at nsPath. The thread stays locked and is discarded when f
// returns, so no goroutine ever runs in the wrong namespace afterwards.
// Sockets f creates stay in that namespace for their whole life.
func inNetns(nsPath string, f func()) error {
	if setnsSyscall == 0 {
		return fmt.Errorf("setns: unsupported GOARCH %s", runtime.GOARCH)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread leaves with this goroutine.
		fd, err := syscall.Open(nsPath, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open %s: %w", nsPath, err)
			return
		}
		_, _, e := syscall.RawSyscall(setnsSyscall, uintptr(fd), syscall.CLONE_NEWNET, 0)
		syscall.Close(fd)
		if e != 0 {
			errc <- fmt.Errorf("setns %s: %w", nsPath, e)
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}

// dialIn dials addr from inside the namespace at nsPath.
func dialIn(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	var c net.Conn
	var derr error
	if err := inNetns(nsPath, func() {
		var d net.Dialer
		c, derr = d.DialContext(ctx, network, addr)
	}); err != nil {
		return nil, err
	}
	return c, derr
}

// listenIn listens on addr inside the namespace at nsPath.
func listenIn(nsPath, network, addr string) (net.Listener, error) {
	var l net.Listener
	var lerr error
	if err := inNetns(nsPath, func() { l, lerr = net.Listen(network, addr) }); err != nil {
		return nil, err
	}
	return l, lerr
}

// listenPacketIn opens a packet socket on addr inside the namespace.
func listenPacketIn(nsPath, network, addr string) (net.PacketConn, error) {
	var p net.PacketConn
	var lerr error
	if err := inNetns(nsPath, func() { p, lerr = net.ListenPacket(network, addr) }); err != nil {
		return nil, err
	}
	return p, lerr
}

var (
	launchOnce sync.Once
	launchCh   chan func()
)

// StartProcess starts cmd with a parent-death signal (SIGKILL), so that
// it dies with the process that started it even when nothing else can
// stop it: how the end-to-end tests and the benchmark start their agents.
// The signal fires when the *thread* that forked the child exits, and Go
// can end threads (inNetns does), so every start happens on one dedicated
// thread that lives as long as the process. Fields of cmd.SysProcAttr set
// before (the benchmark's process group) are kept. (Elsewhere than on
// Linux it is cmd.Start.)
func StartProcess(cmd *exec.Cmd) error {
	launchOnce.Do(func() {
		launchCh = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range launchCh {
				f()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	launchCh <- func() { done <- cmd.Start() }
	return <-done
}

// procStart returns a process's start time (field 22 of /proc/PID/stat),
// which with its PID identifies it even after PID reuse; "" if it does not
// exist.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 overall: fields 3… start at f[0]
}

// procExe returns the executable of a process.
func procExe(pid int) (string, error) {
	return os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
}

// netnsSupported reports whether this OS has network namespaces.
const netnsSupported = true
