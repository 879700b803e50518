package failoverchaos

import (
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// hookScript is the failover hook every agent runs: it appends a start line,
// sleeps, then appends an end line, each with one printf and >> (one
// O_APPEND write, so the agents' lines never interleave). %[1]s is the
// shared log file, %[2]d the sleep in seconds. An empty variable is logged
// as "-", so every line has its six fields:
//
//	start|end UNIX-NANO VIGIL_SELF_NAME VIGIL_FENCE VIGIL_EVENT_ID PID
//
// PID ($$, the shell the agent started) pairs an end with its start, and
// lets the harness see when a run without an end has died.
const hookScript = `#!/bin/sh
# failoverchaos: log the run's start and end, with its fence.
out='%[1]s'
printf 'start %%s %%s %%s %%s %%s\n' "$(date +%%s%%N)" "${VIGIL_SELF_NAME:--}" "${VIGIL_FENCE:--}" "${VIGIL_EVENT_ID:--}" "$$" >> "$out"
sleep %[2]d
printf 'end %%s %%s %%s %%s %%s\n' "$(date +%%s%%N)" "${VIGIL_SELF_NAME:--}" "${VIGIL_FENCE:--}" "${VIGIL_EVENT_ID:--}" "$$" >> "$out"
`

// Run is one run of the hook, as the hook log tells it.
type Run struct {
	// Agent is VIGIL_SELF_NAME: the agent that ran it.
	Agent string `json:"agent"`
	// Fence is VIGIL_FENCE, "" when the agent gave none.
	Fence string `json:"fence,omitempty"`
	// EventID is VIGIL_EVENT_ID.
	EventID string `json:"event_id"`
	// PID is the hook shell's process id.
	PID int `json:"pid"`
	// Start is when the hook started.
	Start time.Time `json:"start"`
	// End is when it logged its end; zero if it did not (yet).
	End time.Time `json:"end,omitzero"`
	// Gone is when the harness first saw the process gone without an end
	// line (killed with its agent, or by it); zero if never seen gone.
	Gone time.Time `json:"gone,omitzero"`
}

// Completed reports whether the run logged its end.
func (r Run) Completed() bool { return !r.End.IsZero() }

// stop returns when the run stopped running: its end, or when it was seen
// gone, or else trialEnd.
func (r Run) stop(trialEnd time.Time) time.Time {
	switch {
	case !r.End.IsZero():
		return r.End
	case !r.Gone.IsZero():
		return r.Gone
	}
	return trialEnd
}

// String describes the run, e.g. "n3 fence=7 +4.21s..+9.23s".
func (r Run) String() string {
	f := r.Fence
	if f == "" {
		f = "none"
	}
	end := "no end"
	if r.Completed() {
		end = "ended"
	} else if !r.Gone.IsZero() {
		end = "died"
	}
	return fmt.Sprintf("%s (pid %d, fence %s, %s, id %s)", r.Agent, r.PID, f, end, r.EventID)
}

// parseHookLog reads the runs from the hook log's complete lines, in the
// order they started, and describes the lines it could not read.
func parseHookLog(b []byte) (runs []Run, bad []string) {
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i] // a last line without its newline is still being written
	} else {
		text = ""
	}
	open := map[string]int{} // agent/pid → index in runs of a run with no end yet
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 || (f[0] != "start" && f[0] != "end") {
			bad = append(bad, strconv.Quote(line))
			continue
		}
		nano, err1 := strconv.ParseInt(f[1], 10, 64)
		pid, err2 := strconv.Atoi(f[len(f)-1])
		if err1 != nil || err2 != nil {
			bad = append(bad, strconv.Quote(line))
			continue
		}
		dash := func(s string) string {
			if s == "-" {
				return ""
			}
			return s
		}
		r := Run{Agent: f[2], Fence: dash(f[3]), EventID: dash(strings.Join(f[4:len(f)-1], " ")), PID: pid}
		at := time.Unix(0, nano)
		k := r.Agent + "/" + f[len(f)-1]
		if f[0] == "start" {
			r.Start = at
			open[k] = len(runs)
			runs = append(runs, r)
			continue
		}
		i, ok := open[k]
		if !ok {
			bad = append(bad, "an end without a start: "+strconv.Quote(line))
			continue
		}
		delete(open, k)
		runs[i].End = at
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Start.Before(runs[j].Start) })
	return runs, bad
}

// readHookLog reads and parses the hook log at path; a missing file holds
// no runs.
func readHookLog(path string) ([]Run, []string, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	runs, bad := parseHookLog(b)
	return runs, bad, nil
}

// analysis is what a trial's runs add up to.
type analysis struct {
	started, completed int
	maxConcurrent      int
	// fenceViolation describes why two completed runs, in the order they
	// started, do not carry strictly increasing fences; "" if they do (or
	// fewer than two completed).
	fenceViolation string
	// fenceSeen is whether a completed run carried a non-empty fence.
	fenceSeen bool
	// firstEnd is the earliest end of a completed run; zero if none.
	firstEnd time.Time
}

// analyze counts runs. A run is running from its start to its end, or to
// when its process was seen gone, or (neither known) to trialEnd.
func analyze(runs []Run, trialEnd time.Time) analysis {
	var a analysis
	var done []Run
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range runs {
		a.started++
		edges = append(edges, edge{r.Start, +1}, edge{r.stop(trialEnd), -1})
		if !r.Completed() {
			continue
		}
		a.completed++
		done = append(done, r)
		if r.Fence != "" {
			a.fenceSeen = true
		}
		if a.firstEnd.IsZero() || r.End.Before(a.firstEnd) {
			a.firstEnd = r.End
		}
	}
	// Ends before starts at the same instant: touching runs do not overlap.
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	cur := 0
	for _, e := range edges {
		cur += e.delta
		a.maxConcurrent = max(a.maxConcurrent, cur)
	}
	a.fenceViolation = fenceViolation(done)
	return a
}

// fenceViolation checks that completed runs, ordered by start, carry
// strictly increasing integer fences. With two or more completed runs a
// missing fence is a violation.
func fenceViolation(done []Run) string {
	if len(done) < 2 {
		return ""
	}
	sort.SliceStable(done, func(i, j int) bool { return done[i].Start.Before(done[j].Start) })
	var prev *big.Int
	for i, r := range done {
		if r.Fence == "" {
			return fmt.Sprintf("%d completed runs, and %s's carries no fence", len(done), r.Agent)
		}
		cur, ok := new(big.Int).SetString(r.Fence, 10)
		if !ok {
			return fmt.Sprintf("%s's fence %q is not an integer", r.Agent, r.Fence)
		}
		if i > 0 && cur.Cmp(prev) <= 0 {
			return fmt.Sprintf("%s's run started after %s's but its fence %s is not larger than %s",
				r.Agent, done[i-1].Agent, r.Fence, done[i-1].Fence)
		}
		prev = cur
	}
	return ""
}
