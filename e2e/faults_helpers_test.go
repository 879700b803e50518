package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// Helpers of the fault tests (storm, pause and process tests): loopback
// agents, hook run records counted per member, and the long versions that
// scripts/chaos runs.

// chaosLong reports whether the long versions run (scripts/chaos sets
// VIGIL_CHAOS=1).
func chaosLong() bool { return os.Getenv("VIGIL_CHAOS") == "1" }

// chaosScale is how many times more trials the long versions run than
// the short ones: VIGIL_CHAOS_SCALE (default 5) with VIGIL_CHAOS=1, else 1.
func chaosScale() int {
	if !chaosLong() {
		return 1
	}
	if v, err := strconv.Atoi(os.Getenv("VIGIL_CHAOS_SCALE")); err == nil && v > 0 {
		return v
	}
	return 5
}

// chaosSeed returns VIGIL_CHAOS_SEED, else def.
func chaosSeed(def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("VIGIL_CHAOS_SEED"), 10, 64); err == nil {
		return v
	}
	return def
}

// okRuns counts, per member, the agent's runs of hook that ended ok, and
// returns an error for any other outcome (a run dropped, held, timed out).
func okRuns(t *testing.T, a *clustertest.Agent, hook string) (counts, error) {
	t.Helper()
	c, other, err := hookRuns(a, hook)
	if err == nil && len(other) > 0 {
		err = fmt.Errorf("%s", other[0])
	}
	return c, err
}

// hookRuns counts, per member, the agent's runs of hook that ended ok, and
// describes the runs that ended otherwise.
func hookRuns(a *clustertest.Agent, hook string) (counts, []string, error) {
	rs, err := a.Runs(hook)
	if err != nil {
		return nil, nil, err
	}
	c := counts{}
	var other []string
	for _, r := range rs {
		if r.Outcome != "ok" {
			other = append(other, fmt.Sprintf("%s: hook %s for %s %s (event %d): %s %s %s", a.Name, hook, r.Event, r.Member, r.EventID, r.Outcome, r.Reason, r.Error))
			continue
		}
		c[r.Member]++
	}
	return c, other, nil
}

// tally compares what agents ran with what they should have: per agent and
// member, expected runs, seen runs, how many expected never ran (lost) and
// how many ran more often than expected (duplicated), with a description
// of the first few differences.
type tally struct {
	expected, seen, lost, dup int
	diffs                     []string
	other                     []string // runs that did not end ok
	extra                     int      // runs for members no fault touched
}

// sum adds o's counts to ty.
func (ty *tally) sum(o *tally) {
	ty.expected += o.expected
	ty.seen += o.seen
	ty.lost += o.lost
	ty.dup += o.dup
	ty.extra += o.extra
	ty.other = append(ty.other, o.other...)
}

func (ty *tally) add(agent string, want, got counts) {
	names := map[string]bool{}
	for n := range want {
		names[n] = true
	}
	for n := range got {
		names[n] = true
	}
	for n := range names {
		w, g := want[n], got[n]
		ty.expected += w
		ty.seen += g
		if g < w {
			ty.lost += w - g
		}
		if g > w {
			ty.dup += g - w
		}
		if g != w {
			ty.diffs = append(ty.diffs, fmt.Sprintf("%s ran %d for %s, want %d", agent, g, n, w))
		}
	}
}

func (ty *tally) String() string {
	sort.Strings(ty.diffs)
	d := ty.diffs
	if len(d) > 8 {
		d = append(d[:8:8], fmt.Sprintf("… %d more", len(ty.diffs)-8))
	}
	return strings.Join(d, "; ")
}

// waitRuns waits until every agent's ok runs of hook, per member, are
// want(agent) exactly, then waits settle more and checks again, so that a
// late duplicate is caught. A difference at the end, or a run that did not
// end ok, fails the test. It returns the final tally (with the agents'
// runs as they were at the end).
func waitRuns(t *testing.T, d, settle time.Duration, agents []*clustertest.Agent, hook string, want func(a *clustertest.Agent) counts) *tally {
	t.Helper()
	return countRuns(t, d, settle, agents, hook, want, true)
}

// countRuns is waitRuns; with strict false it only measures: differences
// and runs that did not end ok are counted (the latter in tally.other) and
// logged, not failures.
func countRuns(t *testing.T, d, settle time.Duration, agents []*clustertest.Agent, hook string, want func(a *clustertest.Agent) counts, strict bool) *tally {
	t.Helper()
	check := func() *tally {
		ty := &tally{}
		for _, a := range agents {
			got, other, err := hookRuns(a, hook)
			if err != nil {
				t.Fatal(err)
			}
			if strict && len(other) > 0 {
				t.Fatal(other[0])
			}
			ty.other = append(ty.other, other...)
			ty.add(a.Name, want(a), got)
		}
		return ty
	}
	deadline := time.Now().Add(d)
	var last *tally
	for {
		last = check()
		if len(last.diffs) == 0 || last.dup > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(last.diffs) == 0 && settle > 0 {
		time.Sleep(settle)
		last = check()
	}
	if len(last.diffs) > 0 {
		msg := fmt.Sprintf("hook %s: %d runs expected, %d seen, %d lost, %d duplicated: %s", hook, last.expected, last.seen, last.lost, last.dup, last)
		if strict {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	if len(last.other) > 0 {
		t.Logf("hook %s: %d runs did not end ok, e.g. %s", hook, len(last.other), last.other[0])
	}
	return last
}

// falseFailures counts what a fault that should have failed nobody made
// the agents do: member-failed hook runs (ok, or coalesced: a member
// handed to a run of another event's, hook_coalesce), member-failed
// events held or dropped by the failover guards, member-join runs beyond
// the first for a member (a rejoin after a false failure), suspicions
// raised in their logs, and failures the agents refuted (confirm_failures:
// a member-failed that never reached a hook).
type falseFailures struct {
	failed, held, rejoins, suspicions, refuted int
}

// countFalseFailures counts falseFailures over agents, whose on-failed
// and on-join hooks record every member-failed and member-join. With
// assert, each false failure and rejoin is also a test error, described
// with what (e.g. "after pauses of 1s").
func countFalseFailures(t *testing.T, agents []*clustertest.Agent, assert bool, what string) falseFailures {
	t.Helper()
	var ff falseFailures
	for _, a := range agents {
		c, other, err := hookRuns(a, "on-failed")
		if err != nil {
			t.Fatal(err)
		}
		// A coalesced event ran the hook (in another event's run;
		// hookRuns writes the outcome after "(event N): ");
		// runs held (damping, brake) or dropped (alive again) are
		// member-failed events too: count them apart.
		for _, o := range other {
			if strings.Contains(o, "): coalesced ") {
				ff.failed++
			} else {
				ff.held++
			}
		}
		for m, k := range c {
			ff.failed += k
			if assert {
				t.Errorf("%s declared %s failed ×%d %s", a.Name, m, k, what)
			}
		}
		if assert && len(other) > 0 {
			t.Errorf("%s: %s", a.Name, strings.Join(other, "; "))
		}
		j, _, err := hookRuns(a, "on-join")
		if err != nil {
			t.Fatal(err)
		}
		for m, k := range j {
			if k > 1 {
				ff.rejoins += k - 1
				if assert {
					t.Errorf("%s saw %s join %d times %s", a.Name, m, k, what)
				}
			}
		}
		ff.suspicions += countLines(a.Log(), "memberlist: Suspect ")
		ff.refuted += countLines(a.Log(), "member failure refuted")
	}
	return ff
}

// procUsage is a process's resident memory and CPU time so far.
type procUsage struct {
	rssKB int
	cpu   time.Duration
}

// usage reads /proc/PID/status and /proc/PID/stat; zero if unreadable.
func usage(pid int) procUsage {
	var u procUsage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					u.rssKB, _ = strconv.Atoi(f[0])
				}
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			// Fields after the command: state is 3, utime 14, stime 15.
			f := strings.Fields(s[i+1:])
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100
			}
		}
	}
	return u
}

// usageOf sums the usage of running agents.
func usageOf(agents []*clustertest.Agent) (total procUsage, maxRSS int) {
	for _, a := range agents {
		u := usage(a.PID())
		total.rssKB += u.rssKB
		total.cpu += u.cpu
		maxRSS = max(maxRSS, u.rssKB)
	}
	return total, maxRSS
}

// agentNames returns prefix00, prefix01, … for n agents.
func agentNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}
