package hook

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"

	"github.com/rs/zerolog"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitEvery(t, d, 20*time.Millisecond, what, cond)
}

func newTestRunner(t *testing.T, hooks ...Hook) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerConfig{
		Self: func() events.Member {
			return events.Member{Name: "self-node", Addr: "127.0.0.1", Port: 7946, Tags: map[string]string{"role": "replica"}}
		},
		HTTPAddr:  "127.0.0.1:7947",
		KillGrace: time.Second,
		Logger:    zerolog.Nop(),
	}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

func runsOf(r *Runner, hook string) []events.Run {
	var out []events.Run
	for _, run := range r.Runs() {
		if run.Hook == hook {
			out = append(out, run)
		}
	}
	return out
}

// processGone reports whether pid has exited (a zombie counts as exited).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func failedEvent(id uint64, name string) events.Event {
	return events.Event{ID: id, Type: events.MemberFailed, Time: time.Now(), Members: []events.Member{{Name: name, Addr: "127.0.0.9", Port: 7000, Status: "failed"}}}
}

func TestRunnerOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		hook     Hook
		outcome  events.Outcome
		exitCode int
		output   string
	}{
		{name: "exit 0", hook: Hook{Shell: "echo hello; echo oops >&2"}, outcome: events.OutcomeOK, output: "hello\noops\n"},
		{name: "exit 3", hook: Hook{Shell: "exit 3"}, outcome: events.OutcomeFailed, exitCode: 3},
		{name: "argv without shell", hook: Hook{Command: []string{"/bin/echo", "$HOME", "a b"}}, outcome: events.OutcomeOK, output: "$HOME a b\n"},
		{name: "missing program", hook: Hook{Command: []string{"/nonexistent/vigil-hook"}}, outcome: events.OutcomeError, exitCode: -1},
		{name: "killed by its own signal", hook: Hook{Shell: "kill -9 $$"}, outcome: events.OutcomeFailed, exitCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.hook.Name = "h"
			r := newTestRunner(t, tt.hook)
			r.Dispatch(failedEvent(1, "db-1"))
			waitFor(t, 10*time.Second, "the run", func() bool { return len(r.Runs()) == 1 })
			run := r.Runs()[0]
			if run.Outcome != tt.outcome || run.ExitCode != tt.exitCode {
				t.Errorf("outcome %s exit %d (error %q), want %s exit %d", run.Outcome, run.ExitCode, run.Error, tt.outcome, tt.exitCode)
			}
			if tt.output != "" && run.Output != tt.output {
				t.Errorf("output %q, want %q", run.Output, tt.output)
			}
			if run.Hook != "h" || run.EventID != 1 || run.Event != events.MemberFailed || run.Member != "db-1" {
				t.Errorf("run record %+v does not name its hook and event", run)
			}
		})
	}
}

func TestRunnerTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// The first run spawns a child and hangs; later runs record themselves.
	script := `if [ "$VIGIL_EVENT_ID" = 1 ]; then sleep 300 & echo $! > ` + dir + `/child; sleep 300; fi; echo "$VIGIL_EVENT_ID" >> ` + dir + `/ran`
	r := newTestRunner(t, Hook{Name: "hang", Shell: script, Timeout: 500 * time.Millisecond})
	r.Dispatch(failedEvent(1, "a"))
	r.Dispatch(failedEvent(2, "b"))
	waitFor(t, 15*time.Second, "both runs", func() bool { return len(r.Runs()) == 2 })
	runs := r.Runs()
	if runs[0].Outcome != events.OutcomeTimeout || runs[0].Signal == "" {
		t.Errorf("first run: outcome %s signal %q, want timeout by signal", runs[0].Outcome, runs[0].Signal)
	}
	if runs[1].Outcome != events.OutcomeOK || runs[1].EventID != 2 {
		t.Errorf("second run %+v, want ok for event 2", runs[1])
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, 5*time.Second, "the hook's child to die", func() bool { return processGone(pid) })
	got, _ := os.ReadFile(filepath.Join(dir, "ran"))
	if string(got) != "2\n" {
		t.Errorf("ran = %q, want only event 2", got)
	}
}

func TestRunnerHooksIndependentAndOrdered(t *testing.T) {
	dir := t.TempDir()
	slow := Hook{Name: "slow", Shell: "sleep 2", Timeout: 10 * time.Second}
	fast := Hook{Name: "fast", Shell: `echo "$VIGIL_EVENT_ID" >> ` + dir + `/order`}
	r := newTestRunner(t, slow, fast)
	for i := uint64(1); i <= 5; i++ {
		r.Dispatch(failedEvent(i, "m"))
	}
	// The fast hook finishes all five while the slow one is still on its first.
	waitFor(t, 10*time.Second, "fast hook runs", func() bool { return len(runsOf(r, "fast")) == 5 })
	if n := len(runsOf(r, "slow")); n != 0 {
		t.Errorf("slow hook finished %d runs before fast finished 5; hooks are not independent", n)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "order"))
	if string(got) != "1\n2\n3\n4\n5\n" {
		t.Errorf("fast hook order = %q, want 1..5 in order", got)
	}
	if d := r.QueueDepth()["slow"]; d != 4 {
		t.Errorf("slow queue depth = %d, want 4", d)
	}
}

func TestRunnerGivesEnvAndStdin(t *testing.T) {
	dir := t.TempDir()
	jsonHook := Hook{Name: "json", Filters: events.Filters{{Type: events.MemberFailed}}, Shell: "env > " + dir + "/env; cat > " + dir + "/stdin.json"}
	serfHook := Hook{Name: "serf", Stdin: StdinSerf, Shell: "cat > " + dir + "/stdin.serf"}
	userOnly := Hook{Name: "user-only", Filters: events.Filters{{Type: events.User, Name: "deploy"}}, Shell: "true"}
	r := newTestRunner(t, jsonHook, serfHook, userOnly)
	r.Dispatch(failedEvent(9, "db-1"))
	waitFor(t, 10*time.Second, "runs", func() bool { return len(r.Runs()) == 2 })
	if n := len(runsOf(r, "user-only")); n != 0 {
		t.Errorf("user-only hook ran %d times for a member event", n)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	for _, want := range []string{"VIGIL_EVENT=member-failed", "VIGIL_EVENT_ID=9", "VIGIL_MEMBER_NAME=db-1",
		"VIGIL_MEMBER_ADDR=127.0.0.9", "VIGIL_SELF_NAME=self-node", "SERF_EVENT=member-failed", "SERF_SELF_ROLE=replica",
		"SERF_TAG_ROLE=replica", "VIGIL_HTTP_ADDR=127.0.0.1:7947"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook env lacks %s", want)
		}
	}
	var doc StdinDocument
	b, _ := os.ReadFile(filepath.Join(dir, "stdin.json"))
	if err := json.Unmarshal(b, &doc); err != nil || doc.ID != 9 || doc.Members[0].Name != "db-1" || doc.Self.Name != "self-node" {
		t.Errorf("json stdin %s (err %v)", b, err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "stdin.serf"))
	if string(b) != "db-1\t127.0.0.9\t\t\n" {
		t.Errorf("serf stdin %q", b)
	}
}

func TestRunnerKeepsOutputTail(t *testing.T) {
	r := newTestRunner(t, Hook{Name: "loud", Shell: "head -c 200000 /dev/zero | tr '\\0' x; echo END"})
	r.Dispatch(failedEvent(1, "m"))
	waitFor(t, 10*time.Second, "the run", func() bool { return len(r.Runs()) == 1 })
	run := r.Runs()[0]
	if len(run.Output) != outputTail || !strings.HasSuffix(run.Output, "xEND\n") || run.OutputBytes != 200004 {
		t.Errorf("output len %d total %d suffix %q", len(run.Output), run.OutputBytes, run.Output[len(run.Output)-6:])
	}
}

func TestRunnerCloseKillsAndDrops(t *testing.T) {
	r, err := NewRunner(RunnerConfig{KillGrace: 500 * time.Millisecond, Logger: zerolog.Nop()},
		[]Hook{{Name: "hang", Shell: "sleep 300", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	r.Dispatch(failedEvent(1, "a"))
	r.Dispatch(failedEvent(2, "b"))
	waitFor(t, 5*time.Second, "first run to start", func() bool { return r.QueueDepth()["hang"] == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r.Close(ctx)
	r.Dispatch(failedEvent(3, "c"))
	runs := r.Runs()
	if len(runs) != 3 || runs[0].Outcome != events.OutcomeCancelled || runs[1].Outcome != events.OutcomeDropped || runs[2].Outcome != events.OutcomeDropped {
		t.Fatalf("runs after close: %+v", runs)
	}
}

func TestRunnerBudgetHoldsRuns(t *testing.T) {
	b, err := ParseBudget("2/1h")
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, Hook{Name: "restart", Shell: "true", Budget: b})
	for i := uint64(1); i <= 4; i++ {
		r.Dispatch(failedEvent(i, "m"))
	}
	waitFor(t, 10*time.Second, "four records", func() bool { return len(r.Runs()) == 4 })
	var outcomes []string
	for _, run := range r.Runs() {
		outcomes = append(outcomes, string(run.Outcome))
	}
	if got := strings.Join(outcomes, ","); got != "ok,ok,held,held" {
		t.Errorf("outcomes %s, want ok,ok,held,held", got)
	}
	if run := r.Runs()[2]; !strings.Contains(run.Error, "run budget 2/1h0m0s spent") {
		t.Errorf("held run error %q", run.Error)
	}
}

func TestParseBudget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Budget
		err  bool
	}{
		{in: "3/10m", want: Budget{Runs: 3, Per: 10 * time.Minute}},
		{in: "", want: Budget{}},
		{in: "0/10m", err: true},
		{in: "3", err: true},
		{in: "3/soon", err: true},
		{in: "x/1m", err: true},
	} {
		got, err := ParseBudget(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseBudget(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestRunnerHistoryKeepsTheNewest(t *testing.T) {
	r, err := NewRunner(RunnerConfig{History: 3, Logger: zerolog.Nop()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := Hook{Name: "h"}
	for i := uint64(1); i <= 10; i++ {
		r.record(h, &events.Event{ID: i}, events.Run{Outcome: events.OutcomeOK})
		runs := r.Runs()
		if want := min(int(i), 3); len(runs) != want || runs[len(runs)-1].EventID != i {
			t.Fatalf("after %d runs: %d kept, newest %d", i, len(runs), runs[len(runs)-1].EventID)
		}
	}
	if runs := r.Runs(); runs[0].EventID != 8 {
		t.Errorf("oldest kept %d, want 8", runs[0].EventID)
	}
}

// TestRunHistoryOutputBudget: however many runs there were and however
// much they wrote, the run history holds at most MaxHistoryOutput of
// output, the hidden older half of its batched trim included; the newest
// runs keep their output, older ones keep their records with
// OutputDropped and their byte count.
func TestRunHistoryOutputBudget(t *testing.T) {
	tests := []struct {
		name     string
		output   int // bytes of output per run
		past     int // runs seeded from the journal (4 KiB of output each)
		runs     int
		wantKept int // newest runs that keep their output
	}{
		{name: "64 KiB each", output: outputTail, runs: 3000, wantKept: MaxHistoryOutput / outputTail},
		{name: "8 KiB each", output: 8 << 10, runs: 3000, wantKept: DefaultRunHistory},
		// 100 runs take 6.25 MiB: 448 of the past runs keep their 4 KiB.
		{name: "after a restart", output: outputTail, past: DefaultRunHistory, runs: 100, wantKept: 100 + (MaxHistoryOutput-100*outputTail)/(4<<10)},
		{name: "no output", runs: 3000, wantKept: DefaultRunHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var past []events.Run
			for i := range tt.past {
				past = append(past, events.Run{Hook: "h", EventID: uint64(i + 1), Output: strings.Repeat("p", 4<<10), OutputBytes: 4 << 10})
			}
			r, err := NewRunner(RunnerConfig{PastRuns: past, Logger: zerolog.Nop()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(t.Context()) })
			h := Hook{Name: "h"}
			heldOutput := func() int {
				r.mu.Lock()
				defer r.mu.Unlock()
				held := 0
				for _, run := range r.history {
					if run.Output != OutputDropped {
						held += len(run.Output)
					}
				}
				if held != r.outputHeld {
					t.Fatalf("the history holds %d bytes of output, it counts %d", held, r.outputHeld)
				}
				return held
			}
			before, _ := heapNow(true)
			for i := range tt.runs {
				id := uint64(tt.past + i + 1)
				// Each run's own output, so the heap holds what the history does.
				out := fmt.Sprintf("run %08d\n", id) + strings.Repeat("x", max(0, tt.output-13))
				r.record(h, &events.Event{ID: id}, events.Run{Outcome: events.OutcomeOK, Output: out[:tt.output], OutputBytes: int64(tt.output) * 10})
				if held := heldOutput(); held > MaxHistoryOutput {
					t.Fatalf("after run %d the history holds %d bytes of output, over %d", id, held, MaxHistoryOutput)
				}
			}
			after, _ := heapNow(true)
			runs := r.Runs()
			retained := int64(after) - int64(before)
			t.Logf("%d runs of %d bytes: %.2f MiB of output held, heap %+.2f MiB", tt.runs, tt.output, float64(heldOutput())/mib, float64(retained)/mib)
			if len(runs) != DefaultRunHistory {
				t.Fatalf("%d runs kept, want %d", len(runs), DefaultRunHistory)
			}
			if retained > MaxHistoryOutput+2*mib {
				t.Errorf("the history retains %.2f MiB, want <= %.2f", float64(retained)/mib, float64(MaxHistoryOutput+2*mib)/mib)
			}
			for i, run := range runs {
				newest := i >= len(runs)-tt.wantKept
				if want := uint64(tt.past + tt.runs - len(runs) + i + 1); run.EventID != want {
					t.Fatalf("run %d is event %d, want %d", i, run.EventID, want)
				}
				if run.OutputBytes == 0 {
					continue
				}
				if kept := run.Output != OutputDropped; kept != newest {
					t.Fatalf("run %d (%d from the newest): output kept %v, want %v", run.EventID, len(runs)-i, kept, newest)
				}
				if run.EventID <= uint64(tt.past) {
					continue
				}
				if newest && !strings.HasPrefix(run.Output, fmt.Sprintf("run %08d\n", run.EventID)) {
					t.Fatalf("run %d has another output: %.40q", run.EventID, run.Output)
				}
				if run.OutputBytes != int64(tt.output)*10 {
					t.Fatalf("run %d: output_bytes %d, want %d", run.EventID, run.OutputBytes, tt.output*10)
				}
			}
		})
	}
}

// TestIsZombie: a hook that exited by itself is told apart from one still
// running when its run is cancelled or times out (the agent may have been
// paused while the hook finished), so a completed run is not reported as
// cancelled and run again.
func TestIsZombie(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped process is not seen as exited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if isZombie(pid) {
		t.Error("a reaped process is still seen as a zombie")
	}
	live := exec.Command("sleep", "5")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })
	if isZombie(live.Process.Pid) {
		t.Error("a running process is seen as exited")
	}
}
