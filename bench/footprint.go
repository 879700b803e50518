package bench

import (
	"syscall"
	"time"
)

// Footprint is the per-agent memory and CPU of a cluster over a window.
type Footprint struct {
	Setup   string `json:"setup"`
	N       int    `json:"n"`
	Mode    string `json:"mode"` // idle or churn
	WindowS Num    `json:"window_s"`
	// Agents is how many agents were measured (in churn: those not
	// restarted during the window).
	Agents int `json:"agents"`
	// RSSMiB is VmRSS averaged over the window's samples, then over agents.
	RSSMiB    Num `json:"rss_mib"`
	RSSMaxMiB Num `json:"rss_max_mib"`
	// CPUPct is user+system CPU time over the window, as a percentage of
	// one core, averaged over agents.
	CPUPct    Num `json:"cpu_pct"`
	CPUMaxPct Num `json:"cpu_max_pct"`
	// Cycles is how many leave+rejoin cycles ran (churn).
	Cycles int `json:"cycles,omitempty"`
	// FailedOnLeave counts member-failed hook runs about agents that were
	// leaving gracefully (churn): a graceful leave reported as a failure.
	FailedOnLeave int `json:"failed_on_leave"`
	// Note says what went wrong, such as a cluster that had not converged
	// again within the settle time after churn.
	Note string `json:"note,omitempty"`
}

// measure samples the given agents' RSS every second and their CPU time at
// both ends while during runs, for at least window.
func measure(agents []*Agent, window time.Duration, during func(stop <-chan struct{})) (rss, rssMax, cpu, cpuMax []float64, elapsed time.Duration) {
	start := make([]int64, len(agents))
	pids := make([]int, len(agents))
	for i, a := range agents {
		pids[i] = a.PID()
		start[i], _ = cpuTicks(pids[i])
	}
	sum := make([]float64, len(agents))
	mx := make([]float64, len(agents))
	cnt := make([]int, len(agents))
	stop := make(chan struct{})
	bg := make(chan struct{})
	go func() {
		defer close(bg)
		if during != nil {
			during(stop)
		}
	}()
	t0 := time.Now()
	for time.Since(t0) < window {
		for i := range agents {
			if k, err := rssKiB(pids[i]); err == nil {
				mib := float64(k) / 1024
				sum[i] += mib
				mx[i] = max(mx[i], mib)
				cnt[i]++
			}
		}
		time.Sleep(min(time.Second, window-time.Since(t0)+time.Millisecond))
	}
	elapsed = time.Since(t0)
	for i := range agents {
		end, err := cpuTicks(pids[i])
		if err != nil || cnt[i] == 0 {
			continue
		}
		pct := float64(end-start[i]) / clockTicks / elapsed.Seconds() * 100
		cpu = append(cpu, pct)
		rss = append(rss, sum[i]/float64(cnt[i]))
		rssMax = append(rssMax, mx[i])
	}
	cpuMax = cpu
	close(stop)
	<-bg
	return rss, rssMax, cpu, cpuMax, elapsed
}

// Idle measures every agent of the cluster, left alone, over window.
func (c *Cluster) Idle(window time.Duration) Footprint {
	rss, rssMax, cpu, _, el := measure(c.Agents, window, nil)
	return Footprint{Setup: c.Opt.Setup.Name(), N: len(c.Agents), Mode: "idle", WindowS: Num(el.Seconds()),
		Agents: len(cpu), RSSMiB: Num(Mean(rss)), RSSMaxMiB: Num(Max(rssMax)), CPUPct: Num(Mean(cpu)), CPUMaxPct: Num(Max(cpu))}
}

// Churn makes one agent leave gracefully (SIGINT: both agents leave the
// cluster on it) and start again every period, a different agent each
// time, and measures the agents that are not churned over window. It
// then waits (up to settle) for the cluster to converge again.
func (c *Cluster) Churn(window, period, settle time.Duration) Footprint {
	cycles := max(1, int(window/period))
	churned := min(cycles, len(c.Agents)-2)
	var observers []*Agent
	for i, a := range c.Agents {
		if i == 0 || i > churned {
			observers = append(observers, a)
		}
	}
	done := 0
	t0 := time.Now()
	rss, rssMax, cpu, _, el := measure(observers, window, func(stop <-chan struct{}) {
		for k := range cycles {
			at := t0.Add(time.Duration(k) * period)
			select {
			case <-stop:
				return
			case <-time.After(time.Until(at)):
			}
			v := c.Agents[1+k%churned]
			from := time.Now()
			v.signal(syscall.SIGINT)
			if !v.waitExit(20 * time.Second) {
				v.signal(syscall.SIGKILL)
				v.waitExit(5 * time.Second)
			}
			if err := v.start(); err != nil {
				c.env.logf("    churn: restart %s: %v", v.Name, err)
			}
			// Reports about a leaving agent until the next cycle are
			// failures-on-leave, not false failures.
			c.expect(v.Name, from, time.Now().Add(period+10*time.Second), true)
			done++
		}
	})
	note := ""
	if _, err := c.WaitConverged(time.Now(), settle); err != nil {
		note = err.Error()
		c.env.logf("    churn: %v", err)
	}
	time.Sleep(time.Second)
	_, onLeave, _ := c.FalseFailures()
	return Footprint{Setup: c.Opt.Setup.Name(), N: len(c.Agents), Mode: "churn", WindowS: Num(el.Seconds()),
		Agents: len(cpu), RSSMiB: Num(Mean(rss)), RSSMaxMiB: Num(Max(rssMax)), CPUPct: Num(Mean(cpu)), CPUMaxPct: Num(Max(cpu)),
		Cycles: done, FailedOnLeave: onLeave, Note: note}
}
