package clustertest

import (
	"strconv"
	"sync"
	"testing"
)

// Restart starts the agent a again, under the same name, on the same host
// and the same gossip and HTTP addresses, once its process has exited
// (after Kill or Stop), and returns the new Agent. args are given as to
// StartLocal or Host.StartAgent: pass the -data-dir and -config of the
// first start to have it rejoin from its data dir. The new agent gets a new
// OutDir and the first one's Options. A member that failed can only come back at its old address,
// which is why the addresses are kept.
func Restart(t testing.TB, a *Agent, args ...string) *Agent {
	t.Helper()
	if !a.Exited() {
		t.Fatalf("clustertest: Restart(%s): the agent is still running", a.Name)
	}
	return start(t, a.host, a.Name, a.gossip, a.HTTPAddr(), a.opt, args)
}

// StartLocalMany starts len(names) agents on loopback at once, each in its
// own goroutine, as StartLocal does one, and returns them in the order of
// names once every one serves HTTP. args(i) gives the arguments of the
// i-th agent. The ports are all chosen before any agent starts, so that
// two agents never pick the same one.
func StartLocalMany(t testing.TB, names []string, args func(i int) []string) []*Agent {
	t.Helper()
	Build(t) // once, before the goroutines
	ports := FreePorts(t, 2*len(names))
	agents := make([]*Agent, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// start fails the test (and ends this goroutine) on error.
			agents[i] = start(t, nil, name, "127.0.0.1:"+strconv.Itoa(ports[2*i]), "127.0.0.1:"+strconv.Itoa(ports[2*i+1]), Options{}, args(i))
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
