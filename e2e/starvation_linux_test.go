package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestCPUStarvedMember starves one agent of five of CPU for a bounded
// window and requires that nobody declares anybody failed: memberlist's
// Lifeguard (local health awareness, which stretches the probe timeouts
// of a member that notices it is slow, and suspicion that a member
// refutes once it runs again) must absorb it. Each setting starves the
// agent a different way:
//
//   - pinned: every thread of the agent is pinned to the last CPU together
//     with three busy loops and reniced to 10 (the busy loops run at 0), so
//     its share of that core is about 3.5% and its wakeups wait behind
//     them;
//   - quota: the agent is put in a cgroup (v1 cpu controller) with a quota
//     of 2 ms per 100 ms (2% of a core), so a burst of work (a GC, a
//     push/pull) is throttled for the rest of the period;
//     skipped with a message where the controller is missing or read-only.
//
// The test checks that the starvation took hold (the agent's threads
// waited for a CPU, measured from /proc/PID/task/*/schedstat, or the
// cgroup throttled it) so that it cannot pass without starving anything.
// scripts/chaos (VIGIL_CHAOS=1) runs longer windows and measures the fast
// profile too, which is not expected to hold: it gives a member about a
// second to answer.
func TestCPUStarvedMember(t *testing.T) {
	skipShort(t)
	type setting struct {
		profile string
		mode    string
		level   int  // pinned: the nice value; quota: µs of CPU per 100 ms
		assert  bool // false: a measurement only
	}
	// Asserted: starved, but left enough to do its work (a few percent of
	// a core). Measured only: nice 19 behind three busy loops (about 0.5 %
	// of a core) and the kernel's smallest quota (1 %) leave an agent less
	// than it needs at times; it then stops answering for seconds, which
	// is a failure, not a slow member (measured in scripts/chaos: lan and
	// local both declared such a member failed in some runs).
	// CI asserts the pinned setting only: with the machine loaded by the
	// rest of the suite, local at a 2 % quota was once declared failed
	// within seconds (a quota also throttles the hook processes the agent
	// forks, and local has one indirect probe); scripts/chaos asserts the
	// quota with lan.
	settings := []setting{{"lan", "pinned", 10, true}}
	window := 30 * time.Second
	if chaosLong() {
		window = time.Duration(chaosScale()) * 30 * time.Second
		settings = append(settings, setting{"lan", "quota", 2000, true}, setting{"local", "pinned", 10, true},
			setting{"local", "quota", 2000, false}, setting{"fast", "pinned", 10, false}, setting{"fast", "quota", 2000, false},
			setting{"lan", "pinned", 19, false}, setting{"lan", "quota", 1000, false})
	}
	for _, s := range settings {
		t.Run(fmt.Sprintf("%s/%s-%d", s.profile, s.mode, s.level), func(t *testing.T) {
			agents := clustertest.StartLocalCluster(t, 5, "-profile", s.profile, "-config", writeConfig(t, pauseHooks), "-log-level", "info")
			names := clustertest.Names(agents...)
			waitRuns(t, 30*time.Second, 0, agents, "on-join", func(*clustertest.Agent) counts { return each(1, names) })
			victim := agents[len(agents)-1]

			var starved func() string
			switch s.mode {
			case "pinned":
				starved = pinBesideBusyLoops(t, victim.PID(), 3, s.level)
			case "quota":
				starved = cpuQuota(t, victim.PID(), s.level, 100000)
			default:
				t.Fatalf("unknown mode %q", s.mode)
			}
			// Watch the whole window: a false failure fails at once.
			deadline := time.Now().Add(window)
			for time.Now().Before(deadline) {
				for _, a := range agents {
					if c, _, err := hookRuns(a, "on-failed"); err != nil {
						t.Fatal(err)
					} else if len(c) > 0 && s.assert {
						t.Fatalf("%s declared %v failed while %s was starved (%s, %s)", a.Name, c, victim.Name, s.profile, s.mode)
					}
				}
				time.Sleep(500 * time.Millisecond)
			}
			how := starved()
			// A suspicion raised at the end of the window runs out (or is
			// refuted) after it: lan's longest is 24 s without
			// confirmations, refutation takes a gossip round once the
			// victim runs again.
			clustertest.AllSee(t, 30*time.Second, agents, clustertest.Expect("alive", agents...))
			time.Sleep(3 * time.Second)
			ff := countFalseFailures(t, agents, s.assert, fmt.Sprintf("(%s, %s)", s.profile, s.mode))
			falseFailed, rejoins, suspicions := ff.failed+ff.held, ff.rejoins, ff.suspicions
			kind := "assert"
			if !s.assert {
				kind = "measurement"
			}
			t.Logf("%s starved (%s) for %s with %s: %s; %d false member-failed, %d rejoins, %d suspicions raised",
				victim.Name, s.mode, window, s.profile, how, falseFailed, rejoins, suspicions)
			clustertest.Report(t, clustertest.ReportRow{
				Fault:  fmt.Sprintf("CPU-starved member, %s %d (5 agents, %s)", s.mode, s.level, s.profile),
				Trials: 1, Expected: 0, Seen: falseFailed,
				Note: fmt.Sprintf("%s: %s window; %s; %d rejoins, %d suspicions raised", kind, window, how, rejoins, suspicions),
			})
		})
	}
}

// threads lists the thread IDs of process pid.
func threads(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}

// runDelay is how long the threads of pid have waited for a CPU so far
// (the second field of /proc/PID/task/TID/schedstat, in ns), summed.
func runDelay(pid int) time.Duration {
	var sum time.Duration
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, e.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// setAffinity pins thread tid to one CPU.
func setAffinity(tid, cpu int) error {
	var mask [16]uint64
	mask[cpu/64] |= 1 << (cpu % 64)
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	if errno != 0 {
		return fmt.Errorf("sched_setaffinity %d to CPU %d: %w", tid, cpu, errno)
	}
	return nil
}

// pinBesideBusyLoops starts loops busy loops (shell processes, killed by
// PID at cleanup) pinned to the last CPU, pins every thread of pid to the
// same CPU and renices them to nice. Threads the agent starts later inherit
// both. It returns a function that ends the starvation (kills the loops,
// so the agent shares its CPU with nobody) and describes what the agent
// went through.
func pinBesideBusyLoops(t *testing.T, pid, loops, nice int) func() string {
	t.Helper()
	cpu := runtime.NumCPU() - 1
	var hogs []*exec.Cmd
	stop := func() {
		for _, h := range hogs {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
		hogs = nil
	}
	t.Cleanup(stop)
	for range loops {
		h := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if err := h.Start(); err != nil {
			t.Fatalf("busy loop: %v", err)
		}
		hogs = append(hogs, h)
		if err := setAffinity(h.Process.Pid, cpu); err != nil {
			t.Fatal(err)
		}
	}
	for _, tid := range threads(t, pid) {
		if err := setAffinity(tid, cpu); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			t.Fatalf("renice thread %d of %d: %v", tid, pid, err)
		}
	}
	before, start := runDelay(pid), time.Now()
	return func() string {
		waited, took := runDelay(pid)-before, time.Since(start)
		stop()
		// Idle, the agent waits for a CPU well under 1% of the time; pinned
		// at nice 10 behind busy loops, its wakeups wait (measured: its
		// threads together wait about a tenth of the window; at nice 19
		// about the whole window).
		if waited < took/50 {
			t.Errorf("the agent's threads waited for a CPU only %s in %s: the starvation did not take hold", waited.Round(time.Millisecond), took.Round(time.Second))
		}
		return fmt.Sprintf("nice %d on CPU %d with %d busy loops, its threads waited %s for a CPU in %s", nice, cpu, loops, waited.Round(time.Millisecond), took.Round(time.Second))
	}
}

// cpuQuota moves process pid into a new cgroup (v1 cpu controller) limited
// to quota µs of CPU per period µs, and returns a function that moves it
// back, removes the group and describes how often it was throttled. It
// skips the test where the cpu controller is not mounted or not writable.
func cpuQuota(t *testing.T, pid, quota, period int) func() string {
	t.Helper()
	root := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err != nil {
		t.Skipf("no cgroup v1 cpu controller at %s (%v): cannot limit an agent's CPU here", root, err)
	}
	dir := filepath.Join(root, fmt.Sprintf("vigil-e2e-%d-%d", os.Getpid(), pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup (%v): cannot limit an agent's CPU here", err)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if err := os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
				t.Errorf("move %d back to the root cgroup: %v", pid, err)
			}
		}
		// The group can be removed once empty: the agent moved out, or
		// exited (its cleanup runs after ours only if it was started later).
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	}
	t.Cleanup(restore)
	write := func(name string, v int) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(v)), 0o644); err != nil {
			t.Fatalf("cgroup %s: %v", name, err)
		}
	}
	write("cpu.cfs_period_us", period)
	write("cpu.cfs_quota_us", quota)
	write("cgroup.procs", pid)
	throttled := func() (n int, d time.Duration) {
		b, _ := os.ReadFile(filepath.Join(dir, "cpu.stat"))
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "nr_throttled":
				n = int(v)
			case "throttled_time":
				d = time.Duration(v)
			}
		}
		return n, d
	}
	start := time.Now()
	return func() string {
		n, d := throttled()
		took := time.Since(start)
		restore()
		if n < 3 {
			t.Errorf("the agent was throttled only %d times in %s under a quota of %d µs per %d µs: the starvation did not take hold", n, took.Round(time.Second), quota, period)
		}
		return fmt.Sprintf("cgroup quota %d µs per %d µs, throttled %d times for %s in %s", quota, period, n, d.Round(time.Millisecond), took.Round(time.Second))
	}
}
