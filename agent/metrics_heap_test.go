package agent

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/membership"
)

// maxIdleHeapPerAgent bounds the live heap an idle agent keeps
// (measured 0.2-0.3 MiB per agent with 3 agents on 2026-12-06): about
// eight times that, so the check does not flap, while a leak or a buffer
// that grows with idling shows.
const maxIdleHeapPerAgent = 2.0 // MiB

// TestIdleHeap runs a small idle cluster of in-process agents (3 by
// default) and checks that the live heap they keep after idling stays
// under maxIdleHeapPerAgent each. With VIGIL_HEAP_PROFILE naming a file
// it also writes a heap profile of what they keep live, for
// `go tool pprof -sample_index=inuse_space`:
//
//	VIGIL_HEAP_PROFILE=/tmp/idle.heap VIGIL_HEAP_IDLE=20s go test -run TestIdleHeap -v ./agent/
//
// VIGIL_HEAP_AGENTS sets the cluster size and VIGIL_HEAP_IDLE (default
// 3s) how long it idles first. The agents log nowhere, so log buffers do
// not show.
func TestIdleHeap(t *testing.T) {
	path := os.Getenv("VIGIL_HEAP_PROFILE")
	n := 3
	if v := os.Getenv("VIGIL_HEAP_AGENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("VIGIL_HEAP_AGENTS=%q: want a positive number", v)
		}
	}
	idle := 3 * time.Second
	if v := os.Getenv("VIGIL_HEAP_IDLE"); v != "" {
		var err error
		if idle, err = time.ParseDuration(v); err != nil {
			t.Fatalf("VIGIL_HEAP_IDLE=%q: %v", v, err)
		}
	}

	if path != "" {
		// Sample every allocation: the agents' live heap is a few MiB,
		// too little for the default one-in-512-KiB sampling to
		// attribute well.
		runtime.MemProfileRate = 1
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var first string
	for i := range n {
		cfg := Default()
		cfg.Name = fmt.Sprintf("heap-%d", i)
		cfg.Bind = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.Profile = string(membership.ProfileLocal)
		cfg.Service = &ServiceConfig{Name: "web", Port: 8080}
		if first == "" {
			first = cfg.Bind
		} else {
			cfg.Join = []string{first}
		}
		r := runAgent(t, cfg, zerolog.Nop())
		a := r.Agent
		r.waitServing(t, http.DefaultClient, "http://"+cfg.HTTP, nil)
		if i == n-1 {
			waitUntil(t, 30*time.Second, "every agent to see the others", func() bool {
				return len(a.Members()) == n
			})
		}
	}
	time.Sleep(idle)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := mib(after.HeapInuse) - mib(before.HeapInuse)
	t.Logf("%d agents idle for %s: HeapInuse %.2f MiB -> %.2f MiB (%+.2f MiB, %.2f MiB per agent), HeapObjects %d -> %d",
		n, idle, mib(before.HeapInuse), mib(after.HeapInuse), grown, grown/float64(n), before.HeapObjects, after.HeapObjects)
	if per := grown / float64(n); per > maxIdleHeapPerAgent {
		t.Errorf("idle agents keep %.2f MiB of live heap each, above %.1f MiB", per, maxIdleHeapPerAgent)
	}
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatalf("heap profile %s: %v", path, err)
	}
}

// mib converts bytes to MiB.
func mib(b uint64) float64 { return float64(b) / (1 << 20) }
