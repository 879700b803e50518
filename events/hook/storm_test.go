package hook

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// newStormRunner is newTestRunner with the storm bounds set.
func newStormRunner(t *testing.T, maxConcurrent int, window time.Duration, hooks ...Hook) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerConfig{
		Self:           func() events.Member { return events.Member{Name: "self-node"} },
		KillGrace:      time.Second,
		Logger:         zerolog.Nop(),
		MaxConcurrent:  maxConcurrent,
		CoalesceWindow: window,
	}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

// processRuns returns the runs of hook that ran a process (every outcome
// but coalesced).
func processRuns(r *Runner, hook string) []events.Run {
	var out []events.Run
	for _, run := range runsOf(r, hook) {
		if run.Outcome != events.OutcomeCoalesced {
			out = append(out, run)
		}
	}
	return out
}

// TestCoalesceMemberFailed: member-failed events dispatched within the
// coalescing window reach a hook process in one run with every member on
// stdin; each event merged into it is recorded as coalesced; an event of
// another kind ends a batch; run_on: one hooks and a zero window run one
// process per event. The hooks are real processes writing their stdin,
// one file per run.
func TestCoalesceMemberFailed(t *testing.T) {
	failed := func(n int) []stormEv {
		var out []stormEv
		for i := range n {
			out = append(out, stormEv{events.MemberFailed, fmt.Sprintf("db-%02d", i)})
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		window time.Duration
		stdin  StdinFormat
		runOn  RunOn
		events []stormEv
		want   [][]string // members on stdin, one list per process run
	}{
		{"30 failures in one run, json", 500 * time.Millisecond, StdinJSON, RunOnAll, failed(30), [][]string{names(failed(30))}},
		{"30 failures in one run, serf format", 500 * time.Millisecond, StdinSerf, RunOnAll, failed(30), [][]string{names(failed(30))}},
		{"a join ends the batch", 500 * time.Millisecond, StdinJSON, RunOnAll,
			[]stormEv{{events.MemberFailed, "a"}, {events.MemberFailed, "b"}, {events.MemberJoin, "c"}, {events.MemberFailed, "d"}},
			[][]string{{"a", "b"}, {"c"}, {"d"}}},
		{"the same member twice is listed once", 500 * time.Millisecond, StdinJSON, RunOnAll,
			[]stormEv{{events.MemberFailed, "a"}, {events.MemberFailed, "b"}, {events.MemberFailed, "a"}},
			[][]string{{"a", "b"}}},
		{"run_on: one is never coalesced", 500 * time.Millisecond, StdinJSON, RunOnOne, failed(3),
			[][]string{{"db-00"}, {"db-01"}, {"db-02"}}},
		{"window 0: one run per event", 0, StdinJSON, RunOnAll, failed(3),
			[][]string{{"db-00"}, {"db-01"}, {"db-02"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h := Hook{Name: "h", Stdin: tt.stdin, RunOn: tt.runOn, Shell: `cat > "` + dir + `/run-$VIGIL_EVENT_ID"`}
			r := newStormRunner(t, 0, tt.window, h)
			for i, e := range tt.events {
				id := uint64(i + 1)
				if e.typ == events.MemberJoin {
					r.Dispatch(joinEvent(id, e.name))
				} else {
					r.Dispatch(failedEvent(id, e.name))
				}
			}
			waitFor(t, 15*time.Second, "a record of every event", func() bool { return len(runsOf(r, "h")) == len(tt.events) })
			runs := processRuns(r, "h")
			var got [][]string
			for _, run := range runs {
				b, err := os.ReadFile(filepath.Join(dir, "run-"+strconv.FormatUint(run.EventID, 10)))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, stdinMembers(t, tt.stdin, b))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("process runs' members %v, want %v", got, tt.want)
			}
			coalesced := len(runsOf(r, "h")) - len(runs)
			if want := len(tt.events) - len(tt.want); coalesced != want {
				t.Errorf("%d events recorded as coalesced, want %d", coalesced, want)
			}
			for _, run := range runsOf(r, "h") {
				if run.Outcome == events.OutcomeCoalesced && !strings.Contains(run.Reason, "run with event ") {
					t.Errorf("coalesced record %+v does not name the run it joined", run)
				}
			}
		})
	}
}

// stormEv is one event a coalescing test dispatches.
type stormEv struct {
	typ  events.Type
	name string
}

// names returns the member names of evs.
func names(evs []stormEv) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.name)
	}
	return out
}

// stdinMembers returns the member names of a hook's stdin.
func stdinMembers(t *testing.T, format StdinFormat, b []byte) []string {
	t.Helper()
	var out []string
	if format == StdinSerf {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			name, _, _ := strings.Cut(sc.Text(), "\t")
			out = append(out, name)
		}
		return out
	}
	var doc StdinDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("stdin %q: %v", b, err)
	}
	for _, m := range doc.Members {
		out = append(out, m.Name)
	}
	return out
}

// TestMaxConcurrentHookProcesses: six hooks, each started twice at once,
// whose processes record their own start and end in one file. With a
// limit of 2 there are never more than 2 of them at once, and every run
// still happens; without a limit they overlap.
func TestMaxConcurrentHookProcesses(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit int
	}{
		{"limit 2", 2},
		{"limit 1", 1},
		{"no limit", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "spans")
			var hooks []Hook
			for i := range 6 {
				hooks = append(hooks, Hook{Name: fmt.Sprintf("h%d", i), Timeout: 10 * time.Second,
					Shell: `echo "$(date +%s%N) 1" >> ` + log + `; sleep 0.2; echo "$(date +%s%N) -1" >> ` + log})
			}
			r := newStormRunner(t, tt.limit, 0, hooks...)
			r.Dispatch(failedEvent(1, "a"))
			r.Dispatch(failedEvent(2, "b"))
			waitFor(t, 30*time.Second, "12 runs", func() bool { return len(r.Runs()) == 12 })
			for _, run := range r.Runs() {
				if run.Outcome != events.OutcomeOK {
					t.Errorf("run %+v did not succeed", run)
				}
			}
			peak := peakOverlap(t, log)
			switch {
			case tt.limit > 0 && peak > tt.limit:
				t.Errorf("%d hook processes at once, over the limit of %d", peak, tt.limit)
			case tt.limit == 0 && peak <= 2:
				t.Errorf("without a limit at most %d hook processes ran at once; the test does not make them overlap", peak)
			}
			t.Logf("at most %d hook processes at once", peak)
		})
	}
}

// peakOverlap reads "UNIXNANO 1" (start) and "UNIXNANO -1" (end) lines
// and returns the most processes between a start and its end at once.
func peakOverlap(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type mark struct{ at, d int64 }
	var marks []mark
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		at, err1 := strconv.ParseInt(f[0], 10, 64)
		d, err2 := strconv.ParseInt(f[1], 10, 64)
		if len(f) != 2 || err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", line)
		}
		marks = append(marks, mark{at, d})
	}
	// Ends before starts at the same instant: a process that ended does
	// not overlap one that started then.
	sort.Slice(marks, func(i, j int) bool {
		if marks[i].at != marks[j].at {
			return marks[i].at < marks[j].at
		}
		return marks[i].d < marks[j].d
	})
	cur, peak := 0, 0
	for _, m := range marks {
		cur += int(m.d)
		peak = max(peak, cur)
	}
	return peak
}
