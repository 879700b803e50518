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

// TestCoalesceMemberFailed: member-failed coalescing is leading-edge.
// The first member-failed event of a quiet hook starts its process at
// once; the member-failed events that arrive within the window after it
// reach one process together, every member on stdin, when the window
// has passed, and each event merged into it is recorded as coalesced; an
// event of another kind ends a batch; run_on: one hooks and a zero window
// run one process per event. Each case dispatches a first event, waits
// for its run, then dispatches the rest together. The hooks are real
// processes writing their stdin, one file per run.
func TestCoalesceMemberFailed(t *testing.T) {
	failed := func(from, n int) []stormEv {
		var out []stormEv
		for i := from; i < from+n; i++ {
			out = append(out, stormEv{events.MemberFailed, fmt.Sprintf("db-%02d", i)})
		}
		return out
	}
	const window = 500 * time.Millisecond
	for _, tt := range []struct {
		name   string
		window time.Duration
		stdin  StdinFormat
		runOn  RunOn
		first  stormEv
		rest   []stormEv
		want   [][]string // members on stdin, one list per process run
		// batched: the second process run waits out the window after the
		// first's start.
		batched bool
	}{
		{"the first at once, 29 more in one run, json", window, StdinJSON, RunOnAll, failed(0, 1)[0], failed(1, 29),
			[][]string{{"db-00"}, names(failed(1, 29))}, true},
		{"the first at once, 29 more in one run, serf format", window, StdinSerf, RunOnAll, failed(0, 1)[0], failed(1, 29),
			[][]string{{"db-00"}, names(failed(1, 29))}, true},
		{"a join ends the batch", window, StdinJSON, RunOnAll, stormEv{events.MemberFailed, "a"},
			[]stormEv{{events.MemberFailed, "b"}, {events.MemberFailed, "c"}, {events.MemberJoin, "d"}, {events.MemberFailed, "e"}},
			[][]string{{"a"}, {"b", "c"}, {"d"}, {"e"}}, true},
		{"the same member twice is listed once", window, StdinJSON, RunOnAll, stormEv{events.MemberFailed, "a"},
			[]stormEv{{events.MemberFailed, "b"}, {events.MemberFailed, "c"}, {events.MemberFailed, "b"}},
			[][]string{{"a"}, {"b", "c"}}, true},
		{"run_on: one is never coalesced", window, StdinJSON, RunOnOne, failed(0, 1)[0], failed(1, 2),
			[][]string{{"db-00"}, {"db-01"}, {"db-02"}}, false},
		{"window 0: one run per event", 0, StdinJSON, RunOnAll, failed(0, 1)[0], failed(1, 2),
			[][]string{{"db-00"}, {"db-01"}, {"db-02"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h := Hook{Name: "h", Stdin: tt.stdin, RunOn: tt.runOn, Shell: `cat > "` + dir + `/run-$VIGIL_EVENT_ID"`}
			r := newStormRunner(t, 0, tt.window, h)
			dispatch := func(id uint64, e stormEv) {
				if e.typ == events.MemberJoin {
					r.Dispatch(joinEvent(id, e.name))
				} else {
					r.Dispatch(failedEvent(id, e.name))
				}
			}
			dispatch(1, tt.first)
			waitFor(t, 15*time.Second, "the first event's run", func() bool { return len(runsOf(r, "h")) == 1 })
			for i, e := range tt.rest {
				dispatch(uint64(i+2), e)
			}
			all := 1 + len(tt.rest)
			waitFor(t, 15*time.Second, "a record of every event", func() bool { return len(runsOf(r, "h")) == all })
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
			coalesced := all - len(runs)
			if want := all - len(tt.want); coalesced != want {
				t.Errorf("%d events recorded as coalesced, want %d", coalesced, want)
			}
			for _, run := range runsOf(r, "h") {
				if run.Outcome == events.OutcomeCoalesced && !strings.Contains(run.Reason, "run with event ") {
					t.Errorf("coalesced record %+v does not name the run it joined", run)
				}
			}
			if tt.batched && len(runs) >= 2 {
				// The second run was formed a window after the first was;
				// each process starts a moment after its run is formed.
				if gap := runs[1].Start.Sub(runs[0].Start); gap < tt.window-100*time.Millisecond {
					t.Errorf("the second run started %s after the first, want about the window (%s) or more", gap, tt.window)
				}
			}
		})
	}
}

// TestCoalesceLeadingEdge: with a window far longer than a process start,
// a lone member-failed event starts its hook at once, not a window late,
// and so does one that comes after a quiet window; 30 events dispatched
// together run in at most two processes (the first at once, the others
// together), with each member once.
func TestCoalesceLeadingEdge(t *testing.T) {
	const window = 3 * time.Second
	dir := t.TempDir()
	h := Hook{Name: "h", Stdin: StdinJSON, Shell: `cat > "` + dir + `/run-$VIGIL_EVENT_ID"`}
	r := newStormRunner(t, 0, window, h)

	lone := func(id uint64, name string, records int) {
		t.Helper()
		at := time.Now()
		r.Dispatch(failedEvent(id, name))
		waitFor(t, 15*time.Second, "the run of "+name, func() bool { return len(runsOf(r, "h")) == records })
		run := runsOf(r, "h")[records-1]
		if d := run.Start.Sub(at); d >= window/2 {
			t.Errorf("a lone member-failed event started its hook %s after the dispatch, want at once (the window is %s)", d, window)
		} else {
			t.Logf("dispatch → hook start %s", d)
		}
	}
	lone(1, "a", 1)
	// After a quiet window the next failure is a leading edge again.
	time.Sleep(window + 100*time.Millisecond)
	lone(2, "b", 2)
	time.Sleep(window + 100*time.Millisecond)

	var want []string
	for i := range 30 {
		name := fmt.Sprintf("db-%02d", i)
		want = append(want, name)
		r.Dispatch(failedEvent(uint64(10+i), name))
	}
	waitFor(t, 30*time.Second, "a record of every event", func() bool { return len(runsOf(r, "h")) == 32 })
	runs := processRuns(r, "h")[2:]
	if len(runs) > 2 {
		t.Errorf("30 failures dispatched together ran %d processes, want at most 2", len(runs))
	}
	var got []string
	for _, run := range runs {
		b, err := os.ReadFile(filepath.Join(dir, "run-"+strconv.FormatUint(run.EventID, 10)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, stdinMembers(t, StdinJSON, b)...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the storm's runs had members %v, want each of %v once, in order", got, want)
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
