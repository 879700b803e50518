package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ports for agents are picked below the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range, 32768-60999 by default): a port from that
// range, free when chosen, can be taken by any outgoing connection on the
// machine (another test's HTTP client, a DNS lookup) while an agent is down,
// and an agent restarted on its old address, as crash tests do, then fails
// with "address already in use". Below the range only an explicit bind can
// take it.
const (
	// portLow is the lowest port handed out.
	portLow = 10000
	// portHighDefault bounds the range when the ephemeral range cannot be
	// read.
	portHighDefault = 32768
)

// portHigh is one past the highest port handed out: the start of the
// ephemeral range.
func portHigh() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return portHighDefault
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return portHighDefault
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= portLow+1000 {
		return portHighDefault
	}
	return lo
}

// handedOut holds every port PickFreePorts returned in this process: none
// is handed out twice. A port freed by a killed agent is still the
// address its cluster probes and gossips to (memberlist gossips to dead
// members for GossipToTheDeadTime), so another test's agent started on it
// would take that gossip and merge the two clusters: a -count=3 run of e2e
// saw the storm test's survivors run member-failed hooks for n1-n4, the
// agents of a test beside it. Tests that restart an agent on its old
// address reuse its port number and do not ask again.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a 127.0.0.1 port, free for both TCP and UDP (gossip
// needs both), that stays reusable after its agent stops: see FreePorts.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct 127.0.0.1 ports, each free on TCP and UDP,
// picked at random below the ephemeral port range so that no outgoing
// connection takes one while its agent is down (PickFreePorts); the test
// fails if there are not enough.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	out, err := PickFreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// PickFreePorts is FreePorts for code that is not a test (the benchmark's
// clusters of up to 200 agents): n distinct 127.0.0.1 ports, each free on
// TCP and UDP, at random below the ephemeral port range. The listeners
// are held until all are chosen, so no port is picked twice.
func PickFreePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	high := portHigh()
	var out []int
	for tries := 0; len(out) < n && tries < 100*n; tries++ {
		port := portLow + rand.IntN(high-portLow)
		handedOut.Lock()
		used := handedOut.ports[port]
		handedOut.Unlock()
		if used {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		if !udpFree(port) {
			l.Close()
			continue
		}
		held = append(held, l)
		out = append(out, port)
	}
	if len(out) < n {
		return nil, fmt.Errorf("clustertest: found %d free ports of %d below %d", len(out), n, high)
	}
	handedOut.Lock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for _, p := range out {
		handedOut.ports[p] = true
	}
	handedOut.Unlock()
	return out, nil
}

// udpFree reports whether 127.0.0.1:port is free on UDP.
func udpFree(port int) bool {
	u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	u.Close()
	return true
}
