package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// probeTimeout is how long a packet gets to arrive before a link counts as
// cut. Inside one machine a packet takes microseconds.
const probeTimeout = 400 * time.Millisecond

// endpoints listens on TCP and UDP port 9000 of every host.
type endpoints struct {
	nw      *Network
	sockets []net.PacketConn
}

func listenAll(t *testing.T, nw *Network) *endpoints {
	t.Helper()
	e := &endpoints{nw: nw}
	for _, h := range nw.Hosts() {
		l, err := h.Listen("tcp", h.Addr()+":9000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		AcceptAndClose(l)
		p, err := h.ListenPacket("udp", h.Addr()+":9000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		e.sockets = append(e.sockets, p)
	}
	return e
}

// tcp reports whether host from can connect to host to. A cut must look
// like a dead link: a timeout, not an error.
func (e *endpoints) tcp(t *testing.T, from, to int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := e.nw.Host(from).Dial(ctx, "tcp", e.nw.Host(to).Addr()+":9000")
	if err == nil {
		c.Close()
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("tcp %d→%d: %v, want a silent drop (timeout)", from, to, err)
	}
	return false
}

// udp reports whether a datagram from host from reaches host to.
func (e *endpoints) udp(t *testing.T, from, to int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := e.nw.Host(from).Dial(ctx, "udp", e.nw.Host(to).Addr()+":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nonce := fmt.Sprintf("%d→%d %d", from, to, time.Now().UnixNano())
	if _, err := c.Write([]byte(nonce)); err != nil {
		t.Fatalf("udp %d→%d: send: %v, want a silent drop", from, to, err)
	}
	p := e.sockets[to]
	_ = p.SetReadDeadline(time.Now().Add(probeTimeout))
	buf := make([]byte, 100)
	for {
		n, _, err := p.ReadFrom(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == nonce {
			return true
		}
	}
}

// expectTCP checks TCP between every pair of hosts against reachable.
func (e *endpoints) expectTCP(t *testing.T, state string, reachable func(from, to int) bool) {
	t.Helper()
	for from := 0; from < e.nw.Len(); from++ {
		for to := 0; to < e.nw.Len(); to++ {
			if from == to {
				continue
			}
			if got, want := e.tcp(t, from, to), reachable(from, to); got != want {
				t.Errorf("%s: tcp %d→%d connects=%v, want %v", state, from, to, got, want)
			}
		}
	}
}

func TestNetworkFaults(t *testing.T) {
	nw := NewNetwork(t, 3)
	for i, h := range nw.Hosts() {
		if !strings.HasPrefix(h.Namespace(), nw.Prefix()+"-h") || !strings.HasPrefix(h.Addr(), "198.1") || h.Index() != i {
			t.Fatalf("host %d: namespace %s, addr %s", i, h.Namespace(), h.Addr())
		}
	}
	e := listenAll(t, nw)
	all := func(from, to int) bool { return true }
	e.expectTCP(t, "at start", all)

	// Every host has its own loopback.
	l, err := nw.Host(0).Listen("tcp", "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, err := nw.Host(1).Dial(context.Background(), "tcp", "127.0.0.1:9001"); err == nil {
		c.Close()
		t.Error("host 1 reached host 0's loopback")
	}

	nw.Partition([]int{0}, []int{1, 2})
	if got := nw.Cuts(); got != "0→1 0→2 1→0 2→0" {
		t.Errorf("cuts after Partition: %q", got)
	}
	e.expectTCP(t, "partition 0|1,2", func(from, to int) bool { return from != 0 && to != 0 })

	nw.Heal()
	if got := nw.Cuts(); got != "" {
		t.Errorf("cuts after Heal: %q", got)
	}
	e.expectTCP(t, "healed", all)

	nw.Block(0, 1)
	if !e.udp(t, 1, 0) {
		t.Error("Block(0, 1): udp 1→0 lost, want delivered")
	}
	if e.udp(t, 0, 1) {
		t.Error("Block(0, 1): udp 0→1 delivered, want lost")
	}
	if !e.udp(t, 0, 2) || !e.udp(t, 2, 1) {
		t.Error("Block(0, 1): udp via host 2 lost")
	}
	// TCP needs both directions.
	e.expectTCP(t, "block 0→1", func(from, to int) bool { return from == 2 || to == 2 })

	nw.Isolate(2) // adds to the block
	e.expectTCP(t, "block 0→1 + isolate 2", func(from, to int) bool { return false })
	if got := nw.Cuts(); got != "0→1 0→2 1→2 2→0 2→1" {
		t.Errorf("cuts: %q", got)
	}
	nw.Heal()
	e.expectTCP(t, "healed again", all)
}

// TestCleanup: a network's namespaces, links and marker are gone when its
// test ends, and the leftovers of a dead run, processes included, are
// removed by the next NewNetwork.
func TestCleanup(t *testing.T) {
	var prefix string
	t.Run("network", func(t *testing.T) {
		nw := NewNetwork(t, 2)
		prefix = nw.Prefix()
		sleep := nw.Host(1).Command("sleep", "600")
		if err := StartProcess(sleep); err != nil {
			t.Fatal(err)
		}
		go sleep.Wait()
	})
	if prefix == "" {
		t.Skip("no network")
	}
	if left := leftovers(prefix); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, err := os.Stat(markerPath(prefix)); !os.IsNotExist(err) {
		t.Fatalf("marker of %s: %v, want gone", prefix, err)
	}

	// A dead run: a marker naming no live process, a namespace with a
	// process in it, and an unmarked namespace.
	dead, unmarked := "vgtdead", "vgtnomk"
	for _, p := range []string{dead, unmarked} {
		if out, err := exec.Command("ip", "netns", "add", p+"-h0").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		defer destroyPrefix(p)
	}
	if err := os.WriteFile(markerPath(dead), []byte("1.0\n"), 0o644); err != nil { // pid 1 did not start at tick 0
		t.Fatal(err)
	}
	orphan := exec.Command("ip", "netns", "exec", dead+"-h0", "sleep", "600")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()

	NewNetwork(t, 1)
	for _, p := range []string{dead, unmarked} {
		if left := leftovers(p); len(left) > 0 {
			t.Errorf("stale %s not swept: %v", p, left)
		}
	}
	if _, err := os.Stat(markerPath(dead)); !os.IsNotExist(err) {
		t.Errorf("stale marker: %v, want gone", err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		orphan.Process.Kill()
		t.Error("the process in the stale namespace was not killed")
	}
}

// TestLocalAgents: the loopback harness runs a cluster; a paused agent is
// seen failed and comes back when resumed; a graceful stop is a leave.
func TestLocalAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil agents")
	}
	agents := StartLocalCluster(t, 2)
	n0, n1 := agents[0], agents[1]
	n1.Pause()
	failed := AllSee(t, 30*time.Second, agents[:1], Expect("alive", n0).And("failed", n1))
	n1.Resume()
	back := AllSee(t, 30*time.Second, agents, Expect("alive", agents...))
	t.Logf("paused agent seen failed after %s, alive %s after resuming", failed.Round(100*time.Millisecond), back.Round(100*time.Millisecond))
	if err := n1.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	AllSee(t, 10*time.Second, agents[:1], Expect("alive", n0).And("left", n1))
}
