//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// setNoFileLimit sets a process's open-file limit (soft and hard), as
// prlimit(1) does.
func setNoFileLimit(pid int, n uint64) error {
	lim := syscall.Rlimit{Cur: n, Max: n}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// openFDs counts a process's open file descriptors.
func openFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// TestStreamFloodKeepsGossipAndHooks: the attack on an agent
// limited to 512 open files, as under a tight LimitNOFILE. 1,000
// connections each ask for the event stream and stay open: 64 streams
// are served, the next connections up to the cap of 256 are answered 429,
// and those over it 503 or closed, so the agent's descriptors stay near
// the cap. Meanwhile another agent joins it, and when that agent dies the
// member-failed hook runs: gossip, joins and hook starts kept their
// descriptors.
func TestStreamFloodKeepsGossipAndHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	a := startAgent(t, "a", "-hook", `member-failed=echo "$VIGIL_MEMBER_NAME" >> "$OUT/failed"`)
	pid := a.PID()
	if err := setNoFileLimit(pid, 512); err != nil {
		t.Skipf("prlimit: %v", err)
	}
	before := openFDs(pid)

	statuses := map[string]int{}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range 1000 {
		c, err := net.Dial("tcp", a.HTTPAddr())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err != nil:
			statuses["closed"]++
		default:
			statuses[strings.Fields(line)[1]]++
		}
	}
	during := openFDs(pid)
	t.Logf("agent fds: %d before, %d with 1,000 stream connections held; answers %v", before, during, statuses)
	if statuses["200"] != 64 || statuses["429"] != 256-64 || statuses["503"] == 0 || statuses["200"]+statuses["429"]+statuses["503"]+statuses["closed"] != 1000 {
		t.Errorf("answers %v: want 64 streams, 192 429s, the rest 503s or closed", statuses)
	}
	if during > 256+before+32 {
		t.Errorf("the agent holds %d descriptors, over the cap of 256 connections plus %d", during, before+32)
	}

	// A join needs a gossip TCP connection on a, and its hooks pipes.
	b := startAgent(t, "b", "-join", a.GossipAddr())
	clustertest.AllSee(t, 20*time.Second, []*clustertest.Agent{b}, map[string]string{"a": "alive", "b": "alive"})
	b.Kill()
	failed := filepath.Join(a.OutDir(), "failed")
	clustertest.WaitFor(t, 20*time.Second, "a's member-failed hook to run for b", func() bool {
		out, _ := os.ReadFile(failed)
		return string(out) == "b\n"
	})
	if log := a.Log(); strings.Contains(log, "too many open files") {
		t.Errorf("a ran out of descriptors:\n%s", tail(log, 3000))
	}
}
