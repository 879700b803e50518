package failoverchaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// Agents is the size of a trial's cluster: n0, the primary (tag
// role=primary), and n1 … n4, the replicas (role=replica).
const Agents = 5

// HookName is the failover hook's name.
const HookName = "promote"

// Options set how trials run.
type Options struct {
	// Profile is the agents' gossip profile (lan, fast, local, wan).
	Profile string
	// Deadline bounds a trial's wait for a completed run and quiet, counted
	// from the end of its faults; 0 means DefaultDeadline(Profile).
	Deadline time.Duration
	// Quiet is how long no hook may run and nothing be pending on any live
	// agent before a trial with a completed run ends; 0 means
	// DefaultQuiet(Profile).
	Quiet time.Duration
	// HookSleep is how long the hook sleeps between its start and end
	// lines; 0 means 5 s.
	HookSleep time.Duration
	// Etcd, an etcd client URL, makes the agents claim through etcd
	// (failover.lock.etcd, a prefix of their own per trial) instead of the
	// gossip claim. The agents must reach it: scenarios in network
	// namespaces use EtcdOn instead, and are skipped without it.
	Etcd string
	// EtcdOn starts an etcd (one per trial) whose client URL, which it
	// returns, is on host: scenarios in network namespaces, with Etcd
	// set, claim through it, on the address their network gives the
	// test's own namespace (clustertest.Network.Gateway), which no cut
	// between agents touches: etcd stays reachable from both sides of a
	// partition, as an etcd on a network of its own would.
	EtcdOn func(t testing.TB, host string) string
}

// Lock names the claim mode: "gossip", or "etcd" with Etcd set.
func (o Options) Lock() string {
	if o.Etcd != "" {
		return "etcd"
	}
	return "gossip"
}

// DefaultDeadline is a trial's wait bound after its faults, per profile:
// a few rounds of failure detection, settle, a claim, a lease and the hook.
func DefaultDeadline(profile string) time.Duration {
	switch profile {
	case "fast":
		return 45 * time.Second
	case "wan":
		return 180 * time.Second
	}
	return 90 * time.Second
}

// DefaultQuiet is how long a trial must be quiet to end early, per profile.
func DefaultQuiet(profile string) time.Duration {
	if profile == "fast" {
		return 2 * time.Second
	}
	return 3 * time.Second
}

func (o Options) withDefaults() Options {
	if o.Profile == "" {
		o.Profile = "lan"
	}
	if o.Deadline == 0 {
		o.Deadline = DefaultDeadline(o.Profile)
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultQuiet(o.Profile)
	}
	if o.HookSleep == 0 {
		o.HookSleep = 5 * time.Second
	}
	return o
}

// minAfterFaults is how long a trial watches at least after its last
// fault, quiet or not: a restarted agent resumes its journal 3 s after it
// starts, and that run must not be missed.
const minAfterFaults = 5 * time.Second

// pollEvery is how often a trial reads the hook log while it waits for a
// condition.
const pollEvery = 25 * time.Millisecond

// Result is one trial's outcome.
type Result struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Profile is the gossip profile.
	Profile string `json:"profile"`
	// Lock is the claim mode: gossip or etcd.
	Lock string `json:"lock"`
	// Trial counts from 1.
	Trial int `json:"trial"`
	// Excluded says why the trial does not count (the primary exited
	// before the kill, the fault could not be injected); "" if it counts.
	Excluded string `json:"excluded,omitempty"`
	// Started and Completed count the hook's start and end lines.
	Started   int `json:"started"`
	Completed int `json:"completed"`
	// MaxConcurrent is the most runs running at one instant.
	MaxConcurrent int `json:"max_concurrent"`
	// FenceViolation says why two completed runs do not carry strictly
	// increasing fences, "" if they do.
	FenceViolation string `json:"fence_violation,omitempty"`
	// FenceSeen is whether a completed run carried a non-empty fence.
	FenceSeen bool `json:"fence_seen"`
	// KillToFirst is the time from the primary's kill to the first
	// completed run's end; 0 if none.
	KillToFirst time.Duration `json:"kill_to_first_ns"`
	// Quiet is true when the trial ended quiet, false when it ended at its
	// deadline.
	Quiet bool `json:"quiet"`
	// Faults lists what the harness did, with times after the primary's
	// kill.
	Faults []string `json:"faults"`
	// Runs are the hook's runs.
	Runs []Run `json:"runs"`
	// Duration is the trial's wall time, cluster start to the count.
	Duration time.Duration `json:"duration_ns"`
}

// String is a one-line account of the trial.
func (r Result) String() string {
	if r.Excluded != "" {
		return fmt.Sprintf("%s trial %d: EXCLUDED: %s", r.Scenario, r.Trial, r.Excluded)
	}
	var runs []string
	for _, x := range r.Runs {
		runs = append(runs, x.String())
	}
	s := fmt.Sprintf("%s trial %d: %d completed run(s) of %d started, at most %d at once", r.Scenario, r.Trial, r.Completed, r.Started, r.MaxConcurrent)
	if r.KillToFirst > 0 {
		s += fmt.Sprintf(", first completed %.2fs after the kill", r.KillToFirst.Seconds())
	}
	if r.FenceViolation != "" {
		s += "; FENCE VIOLATION: " + r.FenceViolation
	}
	if !r.Quiet {
		s += "; not quiet at the deadline"
	}
	return s + "; faults: " + strings.Join(r.Faults, "; ") + "; runs: " + strings.Join(runs, ", ")
}

// excluded is an error that excludes a trial instead of failing it.
type excluded struct{ why string }

func (e excluded) Error() string { return e.why }

func exclude(format string, args ...any) error { return excluded{fmt.Sprintf(format, args...)} }

// trial is one run of a scenario: a cluster, a fault, a count.
type trial struct {
	t   testing.TB
	opt Options
	sc  Scenario

	nw       *clustertest.Network // nil on loopback
	dir      string
	logPath  string
	cfgPath  string
	agents   [Agents]*clustertest.Agent // the current process of each agent
	dataDirs [Agents]string
	paused   [Agents]bool

	killAt    time.Time
	lastFault time.Time
	faults    []string

	runs []Run
	gone map[string]time.Time // agent/pid → when seen gone without an end
	bad  map[string]bool      // unreadable log lines, reported once
}

// RunTrial runs trial number n of scenario sc: it starts a five-agent
// cluster (in network namespaces if the scenario needs them; without root
// the test is skipped as clustertest.NewNetwork does), kills the primary,
// injects the scenario's fault, waits for a completed run and quiet (or
// the deadline), and counts. Every agent is stopped when t ends.
func RunTrial(t testing.TB, sc Scenario, n int, opt Options) Result {
	t.Helper()
	began := time.Now()
	tr := &trial{t: t, opt: opt.withDefaults(), sc: sc, dir: t.TempDir(), gone: map[string]time.Time{}, bad: map[string]bool{}}
	tr.logPath = filepath.Join(tr.dir, "hooks.log")
	res := Result{Scenario: sc.Name, Profile: tr.opt.Profile, Lock: tr.opt.Lock(), Trial: n}
	if sc.Netns && tr.opt.Etcd != "" && tr.opt.EtcdOn == nil {
		t.Skip("the etcd mode in network namespaces needs Options.EtcdOn: the agents there cannot reach the test's loopback etcd")
	}
	tr.startCluster()

	if tr.agents[0].Exited() {
		res.Excluded = "the primary exited before the kill"
		res.Duration = time.Since(began)
		t.Logf("%s trial %d excluded: %s", sc.Name, n, res.Excluded)
		return res
	}
	tr.killAt = time.Now()
	tr.agents[0].Kill()
	tr.note("killed the primary n0 (kill -9)")
	tr.lastFault = time.Now()

	if sc.inject != nil {
		err := sc.inject(tr)
		var ex excluded
		if errors.As(err, &ex) {
			tr.poll()
			res.Excluded = ex.why
			res.Faults, res.Runs = tr.faults, tr.runs
			res.Duration = time.Since(began)
			t.Logf("%s trial %d excluded: %s (faults: %s)", sc.Name, n, ex.why, strings.Join(tr.faults, "; "))
			return res
		}
		if err != nil {
			t.Fatalf("%s trial %d: %v", sc.Name, n, err)
		}
	}

	res.Quiet = tr.settle()
	end := time.Now()
	tr.poll()
	a := analyze(tr.runs, end)
	res.Started, res.Completed, res.MaxConcurrent = a.started, a.completed, a.maxConcurrent
	res.FenceViolation, res.FenceSeen = a.fenceViolation, a.fenceSeen
	if !a.firstEnd.IsZero() {
		res.KillToFirst = a.firstEnd.Sub(tr.killAt)
	}
	res.Faults, res.Runs = tr.faults, tr.runs
	res.Duration = time.Since(began)
	t.Log(res.String())
	return res
}

// startCluster writes the hook and config and starts the five agents,
// each joining those started before it, and waits until all see all alive.
func (tr *trial) startCluster() {
	t := tr.t
	t.Helper()
	script := filepath.Join(tr.dir, "hook.sh")
	if strings.ContainsRune(tr.logPath, '\'') {
		t.Fatalf("failoverchaos: the temp dir %s holds a quote", tr.dir)
	}
	secs := int(tr.opt.HookSleep.Round(time.Second) / time.Second)
	if err := os.WriteFile(script, []byte(fmt.Sprintf(hookScript, tr.logPath, secs)), 0o755); err != nil {
		t.Fatal(err)
	}
	tr.cfgPath = filepath.Join(tr.dir, "vigil.yaml")
	if tr.sc.Netns {
		tr.nw = clustertest.NewNetwork(t, Agents)
	}
	cfg := ""
	if etcd := tr.opt.Etcd; etcd != "" {
		if tr.nw != nil {
			etcd = tr.opt.EtcdOn(t, tr.nw.Gateway())
		}
		// A prefix per trial: the loopback trials share one etcd.
		cfg = fmt.Sprintf("failover:\n  lock:\n    etcd: [%s]\n    prefix: /vigil-chaos/%s/%d/\n", strconv.Quote(etcd), tr.sc.Name, time.Now().UnixNano())
	}
	cfg += fmt.Sprintf(`hooks:
  - name: %s
    on: [member-failed]
    match: {role: primary}
    run_on: one
    eligible: {role: replica}
    settle: 1s
    timeout: 30s
    command: [/bin/sh, %s]
`, HookName, strconv.Quote(script))
	if err := os.WriteFile(tr.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range tr.dataDirs {
		tr.dataDirs[i] = filepath.Join(tr.dir, "data-n"+strconv.Itoa(i))
	}
	var all []*clustertest.Agent
	for i := range tr.agents {
		args := tr.args(i, true)
		for _, a := range all {
			args = append(args, "-join", a.GossipAddr())
		}
		if tr.nw != nil {
			tr.agents[i] = tr.nw.Host(i).StartAgent(t, name(i), args...)
		} else {
			tr.agents[i] = clustertest.StartLocal(t, name(i), args...)
		}
		all = append(all, tr.agents[i])
	}
	clustertest.AllSee(t, 30*time.Second, all, clustertest.Expect("alive", all...))
}

// name returns agent i's node name.
func name(i int) string { return "n" + strconv.Itoa(i) }

// index returns the index of the agent with a node name, -1 if none.
func index(node string) int {
	for i := 0; i < Agents; i++ {
		if name(i) == node {
			return i
		}
	}
	return -1
}

// args returns agent i's arguments, without -join.
func (tr *trial) args(i int, dataDir bool) []string {
	role := "replica"
	if i == 0 {
		role = "primary"
	}
	args := []string{"-profile", tr.opt.Profile, "-config", tr.cfgPath, "-tag", "role=" + role, "-log-level", "info"}
	if dataDir {
		args = append(args, "-data-dir", tr.dataDirs[i])
	}
	return args
}

// note records a fault, timed from the primary's kill.
func (tr *trial) note(format string, args ...any) {
	msg := fmt.Sprintf("+%.2fs %s", time.Since(tr.killAt).Seconds(), fmt.Sprintf(format, args...))
	tr.faults = append(tr.faults, msg)
	tr.t.Logf("%s: %s", tr.sc.Name, msg)
}

// poll reads the hook log and notes runs without an end whose process has
// gone.
func (tr *trial) poll() {
	runs, bad, err := readHookLog(tr.logPath)
	if err != nil {
		tr.t.Logf("failoverchaos: reading the hook log: %v", err)
		return
	}
	for _, b := range bad {
		if !tr.bad[b] {
			tr.bad[b] = true
			tr.t.Errorf("failoverchaos: hook log line not understood: %s", b)
		}
	}
	now := time.Now()
	for i := range runs {
		r := &runs[i]
		k := r.Agent + "/" + strconv.Itoa(r.PID)
		if !r.Completed() {
			if at, ok := tr.gone[k]; ok {
				r.Gone = at
			} else if !processAlive(r.PID) {
				tr.gone[k] = now
				r.Gone = now
			}
		}
	}
	tr.runs = runs
}

// processAlive reports whether a process exists and is not a zombie.
func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err) // no /proc (not Linux): trust kill(0)
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// running returns the runs with no end whose process is still there.
func (tr *trial) running() []Run {
	var out []Run
	for _, r := range tr.runs {
		if !r.Completed() && r.Gone.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// completed returns the completed runs.
func (tr *trial) completed() []Run {
	var out []Run
	for _, r := range tr.runs {
		if r.Completed() {
			out = append(out, r)
		}
	}
	return out
}

// waitUntil polls the hook log until cond holds or d passes, and reports
// whether cond held.
func (tr *trial) waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		tr.poll()
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

// sleep waits d (a duration the scenario prescribes), still reading the
// hook log.
func (tr *trial) sleep(d time.Duration) { tr.waitUntil(d, func() bool { return false }) }

// firstStart waits for the first run started by an agent other than those
// in skip, and returns it; it excludes the trial if none starts within the
// deadline.
func (tr *trial) firstStart(skip ...string) (Run, error) {
	var found Run
	ok := tr.waitUntil(tr.opt.Deadline, func() bool {
		for _, r := range tr.runs {
			if !contains(skip, r.Agent) {
				found = r
				return true
			}
		}
		return false
	})
	if !ok {
		return Run{}, exclude("no agent started the hook within %s of the kill: no runner to inject the fault into", tr.opt.Deadline)
	}
	if index(found.Agent) < 1 {
		return Run{}, fmt.Errorf("the hook ran on %q, not a replica", found.Agent)
	}
	return found, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// kill sends SIGKILL to agent i and waits for it to exit.
func (tr *trial) kill(i int, why string) error {
	a := tr.agents[i]
	if a.Exited() {
		return exclude("%s exited by itself before the harness killed it", a.Name)
	}
	a.Kill()
	tr.paused[i] = false
	tr.note("killed %s (kill -9) %s", a.Name, why)
	tr.lastFault = time.Now()
	return nil
}

// term sends SIGTERM to agent i and waits, bounded by the hook's timeout
// and a margin, for it to exit; past that it is killed.
func (tr *trial) term(i int, why string) error {
	a := tr.agents[i]
	if err := a.Signal(syscall.SIGTERM); err != nil {
		return exclude("%s exited by itself before the harness stopped it", a.Name)
	}
	sent := time.Now()
	tr.note("sent SIGTERM to %s %s", a.Name, why)
	const bound = 45 * time.Second // the hook's 30 s timeout, then the leave
	if !tr.waitUntil(bound, a.Exited) {
		a.Kill()
		tr.note("%s still ran %s after SIGTERM: killed it", a.Name, bound)
	} else {
		tr.note("%s exited %.2fs after SIGTERM (%v)", a.Name, time.Since(sent).Seconds(), a.Wait(time.Second))
	}
	tr.lastFault = time.Now()
	return nil
}

// restart starts agent i again at its addresses, with or without its data
// dir, joining every other agent (as a config listing the cluster would).
func (tr *trial) restart(i int, dataDir bool) {
	args := tr.args(i, dataDir)
	for j, a := range tr.agents {
		if j != i {
			args = append(args, "-join", a.GossipAddr())
		}
	}
	tr.agents[i] = clustertest.Restart(tr.t, tr.agents[i], args...)
	what := "with its data dir"
	if !dataDir {
		what = "without a data dir"
	}
	tr.note("restarted %s %s", name(i), what)
	tr.lastFault = time.Now()
}

// pending returns, per live agent, its pending failovers (GET
// /v1/failover), and the agents that did not answer.
func (tr *trial) pending() (map[string][]pendingFailover, []string) {
	out := map[string][]pendingFailover{}
	var silent []string
	for i, a := range tr.agents {
		if a.Exited() || tr.paused[i] {
			continue
		}
		var st failoverStatus
		if err := a.Get("/v1/failover", &st); err != nil {
			silent = append(silent, a.Name)
			continue
		}
		out[a.Name] = st.Pending
	}
	return out, silent
}

// failoverStatus is the part of GET /v1/failover the harness reads.
type failoverStatus struct {
	Pending []pendingFailover `json:"pending"`
}

// pendingFailover is one pending failover of GET /v1/failover.
type pendingFailover struct {
	Hook   string `json:"hook"`
	Key    string `json:"key"`
	State  string `json:"state"`
	Runner string `json:"runner"`
}

// quietNow reports whether no hook runs and no live agent has a pending
// failover, with a description of what is not quiet.
func (tr *trial) quietNow() (bool, string) {
	if r := tr.running(); len(r) > 0 {
		return false, "running: " + r[0].String()
	}
	p, silent := tr.pending()
	if len(silent) > 0 {
		return false, "no answer from " + strings.Join(silent, ", ")
	}
	for n, ps := range p {
		if len(ps) > 0 {
			return false, fmt.Sprintf("%s has %d pending (%s %s)", n, len(ps), ps[0].State, ps[0].Runner)
		}
	}
	return true, ""
}

// settle waits until a run has completed and the cluster has been quiet
// for Quiet (and at least minAfterFaults have passed since the last
// fault), or the deadline passes after the last fault. It reports whether
// the trial ended quiet.
func (tr *trial) settle() bool {
	deadline := tr.lastFault.Add(tr.opt.Deadline)
	var quietSince time.Time
	why := ""
	for {
		tr.poll()
		now := time.Now()
		q := false
		if len(tr.completed()) > 0 {
			q, why = tr.quietNow()
		} else {
			why = "no completed run"
		}
		if !q {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = now
		}
		if q && now.Sub(quietSince) >= tr.opt.Quiet && now.Sub(tr.lastFault) >= minAfterFaults {
			return true
		}
		if now.After(deadline) {
			if _, state := tr.quietNow(); state != "" {
				why += "; " + state
			}
			tr.t.Logf("%s: deadline %s after the last fault: %s", tr.sc.Name, tr.opt.Deadline, why)
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
