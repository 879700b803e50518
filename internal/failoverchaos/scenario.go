package failoverchaos

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Scenario is one fault injected into a five-agent cluster after its
// primary is killed.
type Scenario struct {
	// Name is the scenario's name, e.g. kill-primary.
	Name string
	// Title says what the fault is, in the words of issue 11's table.
	Title string
	// Netns is true when the scenario needs network namespaces (root).
	Netns bool
	// inject runs after the primary's kill; nil injects nothing more. It
	// returns an excluded error when the fault could not be injected.
	inject func(tr *trial) error
}

// Scenarios returns every scenario, in the order they run.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "kill-primary", Title: "primary kill -9'd", inject: nil},
		{Name: "kill-primary-and-runner", Title: "primary and chosen runner kill -9'd", inject: killPrimaryAndRunner},
		{Name: "sigterm-runner", Title: "runner SIGTERMed while its hook runs (a rolling restart), restarted with its data_dir", inject: sigtermRunner},
		{Name: "pause-runner", Title: "runner SIGSTOPped 12-15 s while its hook runs, then SIGCONT", inject: pauseRunner},
		{Name: "crash-restart-runner-after-takeover", Title: "runner kill -9'd mid-hook, restarted with its data_dir after the takeover", inject: crashRestartAfterTakeover},
		{Name: "crash-during-settle", Title: "runner kill -9'd before its hook starts, restarted 1-2 s later with its data_dir", inject: crashDuringSettle},
		{Name: "crash-restart-no-datadir", Title: "runner kill -9'd mid-hook, restarted 1 s later without data_dir", inject: crashRestartNoDataDir},
		{Name: "crash-restart-isolated", Title: "runner kill -9'd mid-hook, restarted where it reaches nobody", Netns: true, inject: crashRestartIsolated},
		{Name: "sigterm-after-run", Title: "runner SIGTERMed 2 s after its run ended", inject: sigtermAfterRun},
		{Name: "partition-during-hook", Title: "2|3 partition while the hook runs, the runner (with the dead primary's host) on the 2 side", Netns: true, inject: partitionDuringHook},
	}
}

// Names returns the scenarios' names.
func Names() []string {
	var out []string
	for _, s := range Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

// Select returns the scenarios named in a comma-separated list, in the
// order of Scenarios; "" or "all" selects every one.
func Select(list string) ([]Scenario, error) {
	all := Scenarios()
	if list == "" || list == "all" {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var out []Scenario
	for _, s := range all {
		if want[s.Name] {
			out = append(out, s)
			delete(want, s.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("unknown scenario %q (want one of %s)", n, strings.Join(Names(), ", "))
	}
	return out, nil
}

// killPrimaryAndRunner kills the chosen runner as soon as it starts the
// hook.
func killPrimaryAndRunner(tr *trial) error {
	r, err := tr.firstStart()
	if err != nil {
		return err
	}
	return tr.kill(index(r.Agent), "as soon as it started the hook")
}

// sigtermRunner stops the runner gracefully while its hook runs, then
// starts it again with its data dir.
func sigtermRunner(tr *trial) error {
	r, err := tr.firstStart()
	if err != nil {
		return err
	}
	i := index(r.Agent)
	if err := tr.term(i, "while its hook runs"); err != nil {
		return err
	}
	tr.restart(i, true)
	return nil
}

// pauseRunner stops the runner with SIGSTOP for 12-15 s while its hook
// runs (the hook, a separate process, goes on), then continues it.
func pauseRunner(tr *trial) error {
	r, err := tr.firstStart()
	if err != nil {
		return err
	}
	i := index(r.Agent)
	a := tr.agents[i]
	if a.Exited() {
		return exclude("%s exited by itself before the pause", a.Name)
	}
	d := 12*time.Second + rand.N(3*time.Second)
	a.Pause()
	tr.paused[i] = true
	tr.note("SIGSTOPped %s for %.1fs while its hook runs", a.Name, d.Seconds())
	tr.sleep(d)
	a.Resume()
	tr.paused[i] = false
	tr.note("SIGCONT to %s", a.Name)
	tr.lastFault = time.Now()
	return nil
}

// killRunnerMidHook waits for the first run to start and kill -9s its
// agent; it returns the run and the agent's index.
func (tr *trial) killRunnerMidHook() (Run, int, error) {
	r, err := tr.firstStart()
	if err != nil {
		return r, 0, err
	}
	i := index(r.Agent)
	return r, i, tr.kill(i, "mid-hook")
}

// takeoverWait bounds crash-restart-runner-after-takeover's wait for the
// takeover before it restarts the runner anyway.
const takeoverWait = 20 * time.Second

// crashRestartAfterTakeover kills the runner mid-hook and restarts it with
// its data dir once another agent has started a takeover run (or after
// 20 s).
func crashRestartAfterTakeover(tr *trial) error {
	r, i, err := tr.killRunnerMidHook()
	if err != nil {
		return err
	}
	var by string
	if tr.waitUntil(takeoverWait, func() bool {
		for _, x := range tr.runs {
			if x.Agent != r.Agent {
				by = x.Agent
				return true
			}
		}
		return false
	}) {
		tr.note("%s started a takeover run", by)
	} else {
		tr.note("no takeover run within %s", takeoverWait)
	}
	tr.restart(i, true)
	return nil
}

// crashDuringSettle kills the chosen runner before it starts the hook: the
// first runner another agent (or the runner itself) shows pending in GET
// /v1/failover, polled from the kill of the primary on. It restarts it 1-2
// s later with its data dir. A trial in which the runner started the hook
// before it was seen pending, or before the kill landed, is excluded.
func crashDuringSettle(tr *trial) error {
	deadline := time.Now().Add(tr.opt.Deadline)
	victim, seenBy, state := -1, "", ""
	for victim < 0 {
		tr.poll()
		if len(tr.runs) > 0 {
			return exclude("%s started the hook before any agent showed it pending: no kill before the hook", tr.runs[0].Agent)
		}
		p, _ := tr.pending()
		for _, n := range slices.Sorted(maps.Keys(p)) {
			for _, f := range p[n] {
				if i := index(f.Runner); i > 0 && !tr.agents[i].Exited() {
					victim, seenBy, state = i, n, f.State
					break
				}
			}
			if victim >= 0 {
				break
			}
		}
		if victim < 0 {
			if time.Now().After(deadline) {
				return exclude("no agent showed a runner pending within %s of the kill", tr.opt.Deadline)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := tr.kill(victim, fmt.Sprintf("before its hook: %s showed it pending as the runner (%s)", seenBy, state)); err != nil {
		return err
	}
	tr.poll()
	for _, r := range tr.runs {
		if r.Agent == name(victim) {
			return exclude("%s had started its hook before the kill landed", r.Agent)
		}
	}
	tr.sleep(time.Second + rand.N(time.Second))
	tr.restart(victim, true)
	return nil
}

// crashRestartNoDataDir kills the runner mid-hook and restarts it 1 s
// later without a data dir.
func crashRestartNoDataDir(tr *trial) error {
	_, i, err := tr.killRunnerMidHook()
	if err != nil {
		return err
	}
	tr.sleep(time.Second)
	tr.restart(i, false)
	return nil
}

// isolateHold is how long crash-restart-isolated keeps the restarted
// runner cut off: past its journal's resume (3 s after its start) and a
// whole hook run.
const isolateHold = 15 * time.Second

// crashRestartIsolated kills the runner mid-hook, cuts its host off from
// every other host and restarts it there with its data dir; 15 s later the
// network heals.
func crashRestartIsolated(tr *trial) error {
	r, i, err := tr.killRunnerMidHook()
	if err != nil {
		return err
	}
	tr.nw.Isolate(i)
	tr.note("cut %s's host off from every other host", r.Agent)
	tr.restart(i, true)
	tr.sleep(isolateHold)
	tr.nw.Heal()
	tr.note("healed the network")
	tr.lastFault = time.Now()
	return nil
}

// sigtermAfterRun stops the runner gracefully 2 s after its hook ended.
func sigtermAfterRun(tr *trial) error {
	var done Run
	if !tr.waitUntil(tr.opt.Deadline, func() bool {
		c := tr.completed()
		if len(c) > 0 {
			done = c[0]
		}
		return len(c) > 0
	}) {
		return exclude("no run completed within %s of the kill: no runner to stop after its run", tr.opt.Deadline)
	}
	i := index(done.Agent)
	if i < 1 {
		return fmt.Errorf("the hook ran on %q, not a replica", done.Agent)
	}
	tr.sleep(time.Until(done.End.Add(2 * time.Second)))
	return tr.term(i, "2 s after its hook ended")
}

// partitionDuringHook cuts the network 2|3 while the runner's hook runs:
// the runner and the dead primary's host on one side, the three other
// replicas (a majority of the five members) on the other. The cut stays
// until a run on the majority side completes (or the deadline), then
// heals.
func partitionDuringHook(tr *trial) error {
	r, err := tr.firstStart()
	if err != nil {
		return err
	}
	i := index(r.Agent)
	minority := []int{0, i}
	var majority []int
	var names []string
	for j := 1; j < Agents; j++ {
		if j != i {
			majority = append(majority, j)
			names = append(names, name(j))
		}
	}
	tr.nw.Partition(minority, majority)
	tr.note("partitioned {n0 (dead), %s} | {%s}", r.Agent, strings.Join(names, ", "))
	tr.lastFault = time.Now()
	if tr.waitUntil(tr.opt.Deadline, func() bool {
		for _, x := range tr.completed() {
			if x.Agent != r.Agent {
				return true
			}
		}
		return false
	}) {
		tr.note("a run on the majority side completed")
	} else {
		tr.note("no run on the majority side completed within %s", tr.opt.Deadline)
	}
	tr.nw.Heal()
	tr.note("healed the network")
	tr.lastFault = time.Now()
	return nil
}
