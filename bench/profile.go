package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/agent"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// ProfileVigil runs one vigil agent inside this process, beside n-1 vigil
// agent processes of the same profile, and writes pprof profiles of it
// after the cluster has converged: cpu.pprof over window (the process is
// otherwise idle, so the profile is the agent's idle work), heap.pprof
// (in use after a GC) and allocs.pprof. It also reports the process's
// CPU over the window.
func (e *Env) ProfileVigil(n int, profile string, window time.Duration, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	// Sample every 4 KiB allocated, so the small idle heap is seen in
	// detail (the default is every 512 KiB).
	runtime.MemProfileRate = 4096
	c, _, err := e.StartCluster(ClusterOptions{Setup: Setup{Vigil, profile}, N: n - 1}, 2*time.Minute)
	if err != nil {
		return err
	}
	defer c.Stop()
	ports, err := clustertest.PickFreePorts(2)
	if err != nil {
		return err
	}
	cfg := agent.Default()
	cfg.Name = "vigil-inproc"
	cfg.Bind = "127.0.0.1:" + strconv.Itoa(ports[0])
	cfg.HTTP = "127.0.0.1:" + strconv.Itoa(ports[1])
	cfg.Profile = profile
	cfg.Join = []string{"127.0.0.1:" + strconv.Itoa(c.Agents[0].GossipPort)}
	cfg.HookSpecs = []string{"member-failed=" + c.hook}
	cfg.LogLevel = "warn"
	a, err := agent.New(cfg, agent.NewLogger(&cfg, io.Discard), "bench")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}()
	alive := 0
	if _, err := clustertest.Poll(time.Minute, 100*time.Millisecond, func() (bool, error) {
		alive = 0
		for _, m := range a.Members() {
			if m.Status == "alive" {
				alive++
			}
		}
		return alive == n, nil
	}); err != nil {
		return fmt.Errorf("in-process agent sees %d of %d alive after a minute", alive, n)
	}
	time.Sleep(2 * time.Second)
	f, err := os.Create(filepath.Join(outDir, "cpu.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(window)
	pprof.StopCPUProfile()
	el := time.Since(t0)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	e.logf("in-process vigil agent (N=%d, %s): %.3f%% of a core over %s (whole harness process)", n, profile, cpu.Seconds()/el.Seconds()*100, el.Round(time.Second))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.logf("whole process after GC: HeapInuse %.1f MiB, StackInuse %.1f MiB, Sys %.1f MiB, %d goroutines",
		float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), float64(ms.Sys)/(1<<20), runtime.NumGoroutine())
	for _, p := range []string{"heap", "allocs"} {
		hf, err := os.Create(filepath.Join(outDir, p+".pprof"))
		if err != nil {
			return err
		}
		if err := pprof.Lookup(p).WriteTo(hf, 0); err != nil {
			hf.Close()
			return err
		}
		hf.Close()
	}
	return nil
}
