package clustertest

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Restart starts the agent a again, under the same name, on the same host
// and the same gossip and HTTP addresses, once its process has exited
// (after Kill or Stop), and returns the new Agent. args are given as to
// StartLocal or Host.StartAgent: pass the -data-dir and -config of the
// first start to have it rejoin from its data dir. The new agent gets a new
// OutDir. A member that failed can only come back at its old address,
// which is why the addresses are kept.
func Restart(t testing.TB, a *Agent, args ...string) *Agent {
	t.Helper()
	if !a.Exited() {
		t.Fatalf("clustertest: Restart(%s): the agent is still running", a.Name)
	}
	return start(t, a.host, a.Name, a.gossip, a.HTTPAddr(), args)
}

// StartLocalMany starts len(names) agents on loopback at once, each in its
// own goroutine, as StartLocal does one, and returns them in the order of
// names once every one serves HTTP. args(i) gives the arguments of the
// i-th agent. The ports are all chosen before any agent starts, so that
// two agents never pick the same one.
func StartLocalMany(t testing.TB, names []string, args func(i int) []string) []*Agent {
	t.Helper()
	Build(t) // once, before the goroutines
	ports := freePorts(t, 2*len(names))
	agents := make([]*Agent, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// start fails the test (and ends this goroutine) on error.
			agents[i] = start(t, nil, name, "127.0.0.1:"+strconv.Itoa(ports[2*i]), "127.0.0.1:"+strconv.Itoa(ports[2*i+1]), args(i))
		}()
	}
	wg.Wait()
	for i, a := range agents {
		if a == nil {
			t.Fatalf("clustertest: agent %s did not start", names[i])
		}
	}
	return agents
}

// freePorts returns n distinct 127.0.0.1 ports, each free on TCP and UDP.
// The listeners are held until all are chosen, so no port is picked twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var out []int
	for tries := 0; len(out) < n && tries < 50*n; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		out = append(out, port)
	}
	if len(out) < n {
		t.Fatalf("clustertest: found %d free ports of %d", len(out), n)
	}
	return out
}
