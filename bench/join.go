package bench

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// JoinRun is one run of the join-only measurement (vigil-bench
// -join-only): a cluster started as StartCluster starts it (the seed, then
// N−1 agents at once joining it), then one agent's graceful leave and
// restart under its name.
type JoinRun struct {
	Setup string `json:"setup"`
	N     int    `json:"n"`
	Run   int    `json:"run"`
	// ConvergedMS is the first agent's launch → every agent sees N alive;
	// not a number when the cluster did not converge within the timeout
	// (Note names the agents short of N).
	ConvergedMS Num    `json:"converged_ms"`
	Note        string `json:"note,omitempty"`
	// RejoinMS is the restarted agent's launch → every agent sees N alive
	// again, after the agent left gracefully (SIGINT) and was started
	// again under its name; not a number when that did not happen within
	// the timeout (RejoinNote says who lagged).
	RejoinMS   Num    `json:"rejoin_ms"`
	RejoinNote string `json:"rejoin_note,omitempty"`
	// ChurnMS is the last of JoinChurn agents' launch → every agent sees
	// N alive again, after JoinChurn agents left gracefully and started
	// again one after the other, JoinChurnPeriod apart (the churn
	// benchmark's pattern); not a number when that did not happen within
	// the timeout (ChurnNote says who lagged).
	ChurnMS   Num    `json:"churn_ms"`
	ChurnNote string `json:"churn_note,omitempty"`
}

// The churn after the rejoin: JoinChurn agents, JoinChurnPeriod apart.
const (
	JoinChurn       = 3
	JoinChurnPeriod = 5 * time.Second
)

// restart stops a gracefully (SIGINT; SIGKILL after 20 s) and starts it
// again under its name; it returns the launch time.
func (a *Agent) restart() (time.Time, error) {
	a.signal(syscall.SIGINT)
	if !a.waitExit(20 * time.Second) {
		a.signal(syscall.SIGKILL)
		a.waitExit(5 * time.Second)
	}
	t0 := time.Now()
	return t0, a.start()
}

// ParseSetup parses a setup name such as "vigil-lan" or "serf-local".
func ParseSetup(s string) (Setup, error) {
	kind, profile, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok || (Kind(kind) != Vigil && Kind(kind) != Serf) || profile == "" {
		return Setup{}, fmt.Errorf("setup %q: want vigil-PROFILE or serf-PROFILE", s)
	}
	return Setup{Kind: Kind(kind), Profile: profile}, nil
}

// MeasureJoin starts a cluster of setup with n agents runs times, one
// cluster at a time, and measures its join convergence and one rejoin
// after a graceful leave, each bounded by timeout.
func (e *Env) MeasureJoin(setup Setup, n, runs int, timeout time.Duration) []JoinRun {
	var out []JoinRun
	for run := 1; run <= runs; run++ {
		jr := JoinRun{Setup: setup.Name(), N: n, Run: run, ConvergedMS: nan, RejoinMS: nan, ChurnMS: nan}
		c, conv, err := e.StartCluster(ClusterOptions{Setup: setup, N: n}, timeout)
		if err != nil {
			jr.Note = err.Error()
			e.logf("    %s N=%d run %d: %v", setup.Name(), n, run, err)
			out = append(out, jr)
			continue
		}
		jr.ConvergedMS = Num(float64(conv.Microseconds()) / 1000)
		e.logf("    %s N=%d run %d: converged in %.2f s", setup.Name(), n, run, conv.Seconds())
		// A settled cluster first: the rejoin is measured alone.
		time.Sleep(2 * time.Second)
		v := c.Agents[n/2]
		if t0, err := v.restart(); err != nil {
			jr.RejoinNote = err.Error()
		} else if d, err := c.WaitConverged(t0, timeout); err != nil {
			jr.RejoinNote = err.Error()
			e.logf("    %s N=%d run %d: rejoin: %v", setup.Name(), n, run, err)
		} else {
			jr.RejoinMS = Num(float64(d.Microseconds()) / 1000)
			e.logf("    %s N=%d run %d: %s rejoined (alive in every view) in %.2f s", setup.Name(), n, run, v.Name, d.Seconds())
		}
		e.churn(c, &jr, timeout)
		c.Stop()
		out = append(out, jr)
	}
	return out
}

// churn restarts JoinChurn agents after the rejoin's, JoinChurnPeriod
// apart, and records when every agent sees N alive again.
func (e *Env) churn(c *Cluster, jr *JoinRun, timeout time.Duration) {
	n := len(c.Agents)
	if n < JoinChurn+3 {
		return
	}
	start := time.Now()
	var last time.Time
	for k := range JoinChurn {
		time.Sleep(time.Until(start.Add(time.Duration(k) * JoinChurnPeriod)))
		v := c.Agents[1+(n/2+1+k)%(n-1)]
		t0, err := v.restart()
		if err != nil {
			jr.ChurnNote = err.Error()
			return
		}
		last = t0
	}
	d, err := c.WaitConverged(last, timeout)
	if err != nil {
		jr.ChurnNote = err.Error()
		e.logf("    %s N=%d run %d: churn: %v", jr.Setup, n, jr.Run, err)
		return
	}
	jr.ChurnMS = Num(float64(d.Microseconds()) / 1000)
	e.logf("    %s N=%d run %d: %d agents restarted %s apart, all alive everywhere %.2f s after the last launch", jr.Setup, n, jr.Run, JoinChurn, JoinChurnPeriod, d.Seconds())
}
