package failoverchaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// at returns the unix-nano time s seconds after a fixed instant.
func at(s float64) int64 {
	return time.Unix(1_800_000_000, 0).Add(time.Duration(s * float64(time.Second))).UnixNano()
}

func line(kind string, s float64, agent, fence, id string, pid int) string {
	return fmt.Sprintf("%s %d %s %s %s %d\n", kind, at(s), agent, fence, id, pid)
}

func TestParseHookLog(t *testing.T) {
	log := line("start", 0, "n2", "-", "n0@b:member-failed#1", 100) +
		line("start", 1, "n3", "7", "n0@b:member-failed#1", 200) +
		line("end", 5, "n2", "-", "n0@b:member-failed#1", 100) +
		"garbage\n" +
		line("end", 6, "n3", "7", "n0@b:member-failed#1", 200) +
		line("end", 7, "n4", "8", "x", 300) +
		"start 12" // still being written
	runs, bad := parseHookLog([]byte(log))
	if len(runs) != 2 {
		t.Fatalf("runs %+v, want 2", runs)
	}
	if r := runs[0]; r.Agent != "n2" || r.Fence != "" || r.PID != 100 || !r.Completed() || r.End.Sub(r.Start) != 5*time.Second {
		t.Errorf("first run %+v", r)
	}
	if r := runs[1]; r.Agent != "n3" || r.Fence != "7" || r.EventID != "n0@b:member-failed#1" || !r.Completed() {
		t.Errorf("second run %+v", r)
	}
	if len(bad) != 2 || !strings.Contains(bad[0], "garbage") || !strings.Contains(bad[1], "an end without a start") {
		t.Errorf("bad lines %q", bad)
	}
}

func TestAnalyze(t *testing.T) {
	base := time.Unix(0, at(0))
	sec := func(s float64) time.Time { return time.Unix(0, at(s)) }
	trialEnd := sec(100)
	for _, tc := range []struct {
		name            string
		runs            []Run
		completed, conc int
		violation       string // a substring, "" for none
		fenceSeen       bool
	}{
		{name: "none", runs: nil},
		{name: "one without fence", runs: []Run{{Agent: "n1", Start: sec(1), End: sec(6)}}, completed: 1, conc: 1},
		{name: "two without fence", completed: 2, conc: 2, violation: "carries no fence", runs: []Run{
			{Agent: "n1", Start: sec(1), End: sec(6)}, {Agent: "n2", Start: sec(2), End: sec(7)}}},
		{name: "two increasing, sequential", completed: 2, conc: 1, fenceSeen: true, runs: []Run{
			{Agent: "n1", Fence: "3", Start: sec(1), End: sec(6)}, {Agent: "n2", Fence: "10", Start: sec(6), End: sec(11)}}},
		{name: "two equal", completed: 2, conc: 2, fenceSeen: true, violation: "not larger", runs: []Run{
			{Agent: "n1", Fence: "3", Start: sec(1), End: sec(6)}, {Agent: "n2", Fence: "3", Start: sec(2), End: sec(7)}}},
		{name: "later start smaller fence", completed: 2, conc: 1, fenceSeen: true, violation: "not larger", runs: []Run{
			{Agent: "n2", Fence: "4", Start: sec(7), End: sec(12)}, {Agent: "n1", Fence: "5", Start: sec(1), End: sec(6)}}},
		{name: "one fence missing", completed: 2, conc: 1, fenceSeen: true, violation: "no fence", runs: []Run{
			{Agent: "n1", Fence: "1", Start: sec(1), End: sec(6)}, {Agent: "n2", Start: sec(7), End: sec(12)}}},
		{name: "not an integer", completed: 2, conc: 1, fenceSeen: true, violation: "not an integer", runs: []Run{
			{Agent: "n1", Fence: "1", Start: sec(1), End: sec(6)}, {Agent: "n2", Fence: "x", Start: sec(7), End: sec(12)}}},
		{name: "killed run seen gone does not overlap", completed: 1, conc: 1, runs: []Run{
			{Agent: "n1", Start: sec(1), Gone: sec(2)}, {Agent: "n2", Start: sec(5), End: sec(10)}}},
		{name: "run without end runs to the trial end", completed: 1, conc: 2, runs: []Run{
			{Agent: "n1", Start: sec(1)}, {Agent: "n2", Start: sec(50), End: sec(55)}}},
		{name: "huge fences", completed: 2, conc: 1, fenceSeen: true, runs: []Run{
			{Agent: "n1", Fence: "18446744073709551616", Start: sec(1), End: sec(6)}, {Agent: "n2", Fence: "18446744073709551617", Start: sec(7), End: sec(12)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := analyze(tc.runs, trialEnd)
			if a.completed != tc.completed || a.maxConcurrent != tc.conc || a.fenceSeen != tc.fenceSeen {
				t.Errorf("completed %d, concurrent %d, fence seen %v; want %d, %d, %v", a.completed, a.maxConcurrent, a.fenceSeen, tc.completed, tc.conc, tc.fenceSeen)
			}
			if (tc.violation == "") != (a.fenceViolation == "") || !strings.Contains(a.fenceViolation, tc.violation) {
				t.Errorf("violation %q, want one containing %q", a.fenceViolation, tc.violation)
			}
			if tc.completed > 0 && a.firstEnd.Before(base) {
				t.Errorf("first end %v", a.firstEnd)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	sc := Scenarios()[0]
	rs := []Result{
		{Trial: 1, Completed: 1, MaxConcurrent: 1, KillToFirst: 3 * time.Second, Quiet: true},
		{Trial: 2, Completed: 2, MaxConcurrent: 2, KillToFirst: 4 * time.Second, FenceViolation: "x", Quiet: true},
		{Trial: 3, Completed: 0, Started: 1},
		{Trial: 4, Excluded: "the primary exited before the kill"},
		{Trial: 5, Completed: 1, MaxConcurrent: 1, KillToFirst: 5 * time.Second, Quiet: true, FenceSeen: true},
	}
	s := Summarize(sc, Options{Profile: "lan"}, rs)
	if s.Trials != 4 || s.One != 2 || s.Zero != 1 || s.TwoOrMore != 1 || s.MaxConcurrent != 2 || s.FenceViolations != 1 ||
		s.Excluded != 1 || s.NotQuiet != 1 || !s.FenceSeen || s.P50 != 4*time.Second || s.P90 != 4*time.Second {
		t.Errorf("summary %+v", s)
	}
	if p := s.Problems(); len(p) != 2 {
		t.Errorf("problems %q, want zero runs and fence order", p)
	}
	if p := Summarize(sc, Options{Profile: "lan"}, rs[3:4]).Problems(); len(p) != 1 || !strings.Contains(p[0], "excluded") {
		t.Errorf("all excluded: problems %q", p)
	}
	etcd := Summarize(sc, Options{Profile: "lan", Etcd: "http://127.0.0.1:2379"}, rs)
	if p := etcd.Problems(); len(p) != 3 || !strings.Contains(p[0], "etcd") {
		t.Errorf("etcd problems %q, want two runs, zero runs and fence order", p)
	}
	if md := Markdown([]Summary{etcd}); !strings.Contains(md, "| `lan, etcd` |") {
		t.Errorf("etcd markdown:\n%s", md)
	}
	tab, md := Table([]Summary{s}), Markdown([]Summary{s})
	for _, want := range []string{"kill-primary", "excluded trial 4: the primary exited", "trial 3: no completed run", "trial 2: 2 completed runs, at most 2 at once; fence order violated: x"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if !strings.Contains(md, "| `kill-primary`: primary kill -9'd | `lan` | 4 | 2 | 1 | 1 | 2 | 1 | 1 | 4.00 s / 4.00 s |") {
		t.Errorf("markdown:\n%s", md)
	}
	for _, sc := range Scenarios() {
		row := strings.Split(strings.TrimSpace(Markdown([]Summary{Summarize(sc, Options{Profile: "lan"}, nil)})), "\n")[2]
		if n := strings.Count(strings.ReplaceAll(row, `\|`, ""), "|"); n != 11 {
			t.Errorf("markdown row of %s has %d cells: %s", sc.Name, n-1, row)
		}
	}
}

func TestSelect(t *testing.T) {
	all, err := Select("")
	if err != nil || len(all) != 10 {
		t.Fatalf("Select(\"\") = %d scenarios, %v", len(all), err)
	}
	two, err := Select("pause-runner, kill-primary")
	if err != nil || len(two) != 2 || two[0].Name != "kill-primary" || two[1].Name != "pause-runner" {
		t.Errorf("Select = %v, %v", two, err)
	}
	if _, err := Select("nope"); err == nil {
		t.Error("Select(nope) did not fail")
	}
}

// TestHookScript runs the hook script with and without a fence and parses
// what it logged.
func TestHookScript(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "hooks.log")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(hookScript, log, 0)), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{
		{"VIGIL_SELF_NAME=n1", "VIGIL_EVENT_ID=n0@x:member-failed#1"},
		{"VIGIL_SELF_NAME=n2", "VIGIL_EVENT_ID=n0@x:member-failed#1", "VIGIL_FENCE=42"},
	} {
		cmd := exec.Command("/bin/sh", script)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	runs, _, err := readHookLog(log)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || !runs[0].Completed() || !runs[1].Completed() || runs[0].Fence != "" || runs[1].Fence != "42" ||
		runs[1].Agent != "n2" || runs[1].EventID != "n0@x:member-failed#1" || runs[1].PID == 0 {
		b, _ := os.ReadFile(log)
		t.Fatalf("runs %+v from\n%s", runs, b)
	}
	if time.Since(runs[0].Start) > time.Minute || runs[0].End.Before(runs[0].Start) {
		t.Errorf("times %v .. %v", runs[0].Start, runs[0].End)
	}
}
