package bench

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// DetectTrial is one failure-detection trial: one agent is killed with
// SIGKILL; every survivor's member-failed hook should start.
type DetectTrial struct {
	Setup   string `json:"setup"`
	N       int    `json:"n"`
	Trial   int    `json:"trial"`
	Victim  string `json:"victim"`
	KillAt  string `json:"kill_at"`
	FirstMS Num    `json:"first_ms"` // kill → first survivor's hook started
	LastMS  Num    `json:"last_ms"`  // kill → last survivor's hook started
	// Reported is how many survivors ran the hook within the timeout, of
	// Expected (N-1).
	Reported int `json:"reported"`
	Expected int `json:"expected"`
	// RejoinMS is the restarted victim's launch → every agent sees N alive.
	RejoinMS Num    `json:"rejoin_ms"`
	Note     string `json:"note,omitempty"`
}

// Detect kills agent idx with SIGKILL, waits until every survivor's hook
// has reported it (or timeout), then restarts it and waits until the
// cluster has converged again (rejoinTimeout), then settles.
func (c *Cluster) Detect(trial, idx int, timeout, rejoinTimeout, settle time.Duration) DetectTrial {
	v := c.Agents[idx]
	n := len(c.Agents)
	res := DetectTrial{Setup: c.Opt.Setup.Name(), N: n, Trial: trial, Victim: v.Name, Expected: n - 1,
		FirstMS: nan, LastMS: nan, RejoinMS: nan}
	t0 := time.Now()
	res.KillAt = t0.UTC().Format(time.RFC3339Nano)
	_ = syscall.Kill(v.PID(), syscall.SIGKILL)
	if !v.waitExit(5 * time.Second) {
		res.Note = "victim did not exit after SIGKILL"
	}
	// Every survivor's first hook start about the victim since the kill,
	// from the hook log, read every 50 ms until the trial's timeout.
	seen := map[string]int64{}
	_, err := clustertest.Poll(time.Until(t0.Add(timeout)), 50*time.Millisecond, func() (bool, error) {
		lines, err := ReadHookLog(c.HookLog)
		if err != nil {
			return false, err
		}
		for _, l := range lines {
			if l.Member != v.Name || l.T < t0.UnixNano() || l.Self == v.Name {
				continue
			}
			if _, ok := seen[l.Self]; !ok {
				seen[l.Self] = l.T
			}
		}
		return len(seen) >= n-1, nil
	})
	if err != nil && !errors.Is(err, clustertest.ErrTimeout) {
		res.Note = err.Error()
	}
	res.Reported = len(seen)
	if len(seen) > 0 {
		first, last := int64(1<<62), int64(0)
		for _, t := range seen {
			first = min(first, t)
			last = max(last, t)
		}
		res.FirstMS = Num(float64(first-t0.UnixNano()) / 1e6)
		if len(seen) == n-1 {
			res.LastMS = Num(float64(last-t0.UnixNano()) / 1e6)
		}
	}
	if len(seen) < n-1 && res.Note == "" {
		res.Note = fmt.Sprintf("only %d of %d survivors reported within %s", len(seen), n-1, timeout)
	}
	rs := time.Now()
	if err := v.start(); err != nil {
		res.Note = err.Error()
		c.expect(v.Name, t0, time.Now(), false)
		return res
	}
	d, err := c.WaitConverged(rs, rejoinTimeout)
	if err != nil {
		res.Note = err.Error()
	} else {
		res.RejoinMS = Num(float64(d.Microseconds()) / 1000)
	}
	time.Sleep(settle)
	// A late report about the victim still counts as this trial's, not as
	// a false failure.
	c.expect(v.Name, t0, time.Now(), false)
	return res
}
