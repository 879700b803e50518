package chaos

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/etcdtest"
	"github.com/vigil-agent/vigil/internal/failoverchaos"
)

// The failover chaos run's settings. CI runs the defaults: every scenario,
// 3 trials at once, on the fast profile (lan's detection makes a trial
// 15-25 s, too slow for 30 trials in CI); scripts/chaos-failover passes its
// own after -args (lan, 20 trials, one at a time).
var (
	chaosScenario = flag.String("failover.scenario", "", "TestFailoverChaos: comma-separated scenarios to run (default: all)")
	chaosTrials   = flag.Int("failover.trials", 3, "TestFailoverChaos: trials per scenario")
	chaosProfile  = flag.String("failover.profile", "fast", "TestFailoverChaos: gossip profile of the agents")
	chaosDeadline = flag.Duration("failover.deadline", 0, "TestFailoverChaos: a trial's wait after its last fault (default: per profile)")
	chaosLock     = flag.String("failover.lock", "gossip", "TestFailoverChaos: claim mode: gossip, or etcd (an embedded etcd; in network namespaces one per trial on the namespaces' bridge)")
	chaosParallel = flag.Int("failover.parallel", 3, "TestFailoverChaos: trials of a scenario run at once, each its own cluster (1: one at a time, for timings)")
	chaosOut      = flag.String("failover.out", "", "TestFailoverChaos: directory for summary.txt, summary.md and trials.jsonl")
)

// fenceState records what the completed runs of this test binary have
// shown about VIGIL_FENCE: whether any run completed, and whether any
// completed run carried a fence.
var fenceState struct {
	sync.Mutex
	completed, fenced bool
}

func noteFences(r failoverchaos.Result) {
	fenceState.Lock()
	defer fenceState.Unlock()
	fenceState.completed = fenceState.completed || r.Completed > 0
	fenceState.fenced = fenceState.fenced || r.FenceSeen
}

// TestFailoverChaos runs every failover chaos scenario (issue 11, item 8;
// see internal/failoverchaos) for -failover.trials trials each, as
// subtests TestFailoverChaos/SCENARIO/TRIAL, and asserts per scenario what
// issue 11's "done when" asks: no trial without a completed run, and no
// trial whose completed runs do not carry strictly increasing fences (nor
// a scenario whose every trial was excluded); with -failover.lock etcd, no
// trial with two completed runs at all.
//
// Until the claim protocol lands these fail on main, so the assertion is
// gated: a failing scenario is skipped, with its counts in the message,
// when VIGIL_CHAOS_STRICT is unset or empty AND the agent binary lacks
// fence support. The binary has fence support when a completed run in this
// test binary logged a non-empty VIGIL_FENCE; if no run has completed yet
// when a scenario is judged, one kill-primary trial is run to find out (a
// binary that completes no run at all is judged as having fences, so the
// failure shows). With VIGIL_CHAOS_STRICT set, or once fences appear, the
// assertions bite.
func TestFailoverChaos(t *testing.T) {
	skipShort(t)
	scenarios, err := failoverchaos.Select(*chaosScenario)
	if err != nil {
		t.Fatal(err)
	}
	opt := failoverchaos.Options{Profile: *chaosProfile, Deadline: *chaosDeadline}
	switch *chaosLock {
	case "gossip":
	case "etcd":
		opt.Etcd = etcdtest.Start(t).Endpoint()
		opt.EtcdOn = func(t testing.TB, host string) string { return etcdtest.StartOn(t, host).Endpoint() }
	default:
		t.Fatalf("-failover.lock %q: want gossip or etcd", *chaosLock)
	}
	runChaos(t, scenarios, opt, *chaosTrials)
}

// TestFailoverChaosEtcd runs, with the etcd lock, the scenario in which
// the etcd mode promises more than the gossip claim: a runner whose agent
// is stopped (SIGSTOP) mid-hook past its lease. Its hook guard records the
// completion in etcd (or kills the hook at the lease's deadline), so no
// trial may complete twice. The other scenarios with etcd are
// scripts/chaos-failover -lock etcd's (docs/failover.md, Measured).
func TestFailoverChaosEtcd(t *testing.T) {
	skipShort(t)
	if *chaosLock != "gossip" || *chaosScenario != "" {
		t.Skip("TestFailoverChaos runs the scenarios chosen by the -failover flags")
	}
	scenarios, err := failoverchaos.Select("pause-runner")
	if err != nil {
		t.Fatal(err)
	}
	opt := failoverchaos.Options{Profile: *chaosProfile, Deadline: *chaosDeadline, Etcd: etcdtest.Start(t).Endpoint()}
	runChaos(t, scenarios, opt, *chaosTrials)
}

// runChaos runs trials of each scenario as subtests SCENARIO/TRIAL, up to
// -failover.parallel at once, and judges each scenario (judgeChaos).
func runChaos(t *testing.T, scenarios []failoverchaos.Scenario, opt failoverchaos.Options, trials int) {
	t.Helper()
	var sums []failoverchaos.Summary
	var all []failoverchaos.Result
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			// Each trial is a subtest; up to -failover.parallel run at once
			// (t.Run from several goroutines, so -test.parallel does not
			// limit them), and each cleans up its own cluster.
			res := make([]*failoverchaos.Result, trials)
			ok := make([]bool, trials)
			sem := make(chan struct{}, max(1, *chaosParallel))
			var wg sync.WaitGroup
			for n := 1; n <= trials; n++ {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					ok[n-1] = t.Run(strconv.Itoa(n), func(t *testing.T) {
						r := failoverchaos.RunTrial(t, sc, n, opt)
						res[n-1] = &r
					})
				}()
			}
			wg.Wait()
			var results []failoverchaos.Result
			skipped := 0
			for i, r := range res {
				switch {
				case r != nil:
					noteFences(*r)
				case ok[i]: // skipped: no network namespaces here
					skipped++
					continue
				default:
					r = &failoverchaos.Result{Scenario: sc.Name, Profile: opt.Profile, Lock: opt.Lock(), Trial: i + 1, Excluded: "the harness failed (see the trial's log)"}
				}
				results = append(results, *r)
				all = append(all, *r)
			}
			if skipped > 0 && len(results) == 0 {
				t.Skip("every trial was skipped (network namespaces need root)")
			}
			s := failoverchaos.Summarize(sc, opt, results)
			sums = append(sums, s)
			t.Logf("\n%s", failoverchaos.Table([]failoverchaos.Summary{s}))
			judgeChaos(t, s, opt)
		})
	}
	if len(sums) == 0 {
		return
	}
	table, md := failoverchaos.Table(sums), failoverchaos.Markdown(sums)
	t.Logf("failover chaos, %d trials per scenario:\n%s\n%s", trials, table, md)
	if *chaosOut != "" {
		writeChaosOut(t, *chaosOut, table, md, all)
	}
}

// judgeChaos fails t when the summary shows a problem, or skips it under
// the gate TestFailoverChaos describes.
func judgeChaos(t *testing.T, s failoverchaos.Summary, opt failoverchaos.Options) {
	t.Helper()
	problems := s.Problems()
	if len(problems) == 0 {
		return
	}
	msg := s.Scenario + ": " + strings.Join(problems, "; ")
	if os.Getenv("VIGIL_CHAOS_STRICT") == "" && !binaryHasFences(t, opt) {
		t.Skipf("waiting for the claim protocol (issue 11): %s (the agents give no VIGIL_FENCE; VIGIL_CHAOS_STRICT=1 makes this fail)", msg)
	}
	t.Errorf("%s", msg)
}

// binaryHasFences reports whether a completed run in this test binary
// carried a VIGIL_FENCE, running one kill-primary trial first if no run
// has completed yet. A binary that completes no run at all counts as
// having fences: there is nothing to wait for.
func binaryHasFences(t *testing.T, opt failoverchaos.Options) bool {
	t.Helper()
	fenceState.Lock()
	known := fenceState.completed
	fenceState.Unlock()
	if !known {
		probe, _ := failoverchaos.Select("kill-primary")
		t.Run("fence-probe", func(t *testing.T) {
			noteFences(failoverchaos.RunTrial(t, probe[0], 1, opt))
		})
	}
	fenceState.Lock()
	defer fenceState.Unlock()
	if !fenceState.completed {
		t.Logf("no run completed in this test binary, not even a kill-primary probe: judging as a binary with fences")
		return true
	}
	return fenceState.fenced
}

// writeChaosOut writes the tables and every trial's result to dir.
func writeChaosOut(t *testing.T, dir, table, md string, all []failoverchaos.Result) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	var lines []byte
	for _, r := range all {
		b, err := json.Marshal(r)
		if err != nil {
			t.Error(err)
			return
		}
		lines = append(append(lines, b...), '\n')
	}
	stamp := time.Now().UTC().Format("2006-01-02 15:04 UTC")
	header := "failover chaos, " + stamp + ", " + strconv.Itoa(*chaosTrials) + " trials per scenario\n\n"
	for name, body := range map[string]string{"summary.txt": header + table, "summary.md": md, "trials.jsonl": string(lines)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("failover chaos: real agent processes")
	}
}
