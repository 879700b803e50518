package hook

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// StdinFormat chooses what a hook process reads on stdin.
type StdinFormat string

const (
	// StdinJSON writes one JSON document describing the event (the default
	// for hooks from the config file).
	StdinJSON StdinFormat = "json"
	// StdinSerf writes serf's own line format, so a serf event handler runs
	// unchanged (the format of every -hook flag spec).
	StdinSerf StdinFormat = "serf"
)

// DefaultHookTimeout is the timeout of a hook that sets none and runs on an
// agent that sets no -hook-timeout.
const DefaultHookTimeout = 60 * time.Second

// BuiltinFunc is an in-process hook. It returns output to record with the run.
type BuiltinFunc func(ctx context.Context, ev *events.Event) (output string, err error)

// Hook is one handler attached to events: a process (Command or Shell) or a
// built-in function, with the filters that select its events.
type Hook struct {
	// Name identifies the hook in logs and /v1/hooks. The agent names
	// unnamed -hook specs hook-1, hook-2, ...
	Name string
	// Filters select the events the hook runs for; empty means every event.
	Filters events.Filters
	// Command is an argv list run without a shell. Exactly one of Command,
	// Shell and Builtin is set.
	Command []string
	// Shell is a script run by /bin/sh -c.
	Shell string
	// Builtin is an in-process hook, such as -dev's event logger.
	Builtin BuiltinFunc
	// Timeout bounds one run; at the timeout the hook's process group gets
	// SIGTERM, then SIGKILL after the runner's kill grace. Zero means the
	// runner's default.
	Timeout time.Duration
	// Stdin is the stdin format; empty means StdinJSON.
	Stdin StdinFormat
	// Match selects events by the tags of the member they concern: every
	// key must be equal. Empty matches every member.
	Match map[string]string
	// RunOn says which agents run the hook: all (serf's behaviour), one
	// (a single survivor chosen by every agent alike) or self (only the
	// agent the event is about). Empty means all.
	RunOn RunOn
	// Eligible lists the tags an agent needs to be chosen for RunOn one.
	Eligible map[string]string
	// Quorum holds failover runs while this agent sees no strict majority
	// of the cluster alive.
	Quorum bool
	// Settle is how long a failover waits for views to converge before the
	// runner is chosen (and the guards are checked).
	Settle time.Duration
	// Retries is how many times a run that exits non-zero is run again,
	// with a backoff of 1 s, 2 s, 4 s ... between attempts.
	Retries int
	// Budget limits how often the hook runs (max_runs_per: 3/10m), so a
	// self-healing restart hook can't loop forever on a crash-looping
	// service. The zero Budget is unlimited.
	Budget Budget
}

// RunOn says which agents run a hook.
type RunOn string

// The RunOn values.
const (
	// RunOnAll runs the hook on every agent that sees the event.
	RunOnAll RunOn = "all"
	// RunOnOne runs the hook on one agent: the highest rendezvous hash of
	// (hook, failure) among alive eligible members.
	RunOnOne RunOn = "one"
	// RunOnSelf runs the hook only on the agent the event is about.
	RunOnSelf RunOn = "self"
)

// matchesSubject reports whether the event's member has every Match tag.
func (h *Hook) matchesSubject(ev *events.Event) bool {
	if len(h.Match) == 0 {
		return true
	}
	m, ok := ev.Subject()
	if !ok {
		return false
	}
	return HasTags(m.Tags, h.Match)
}

// HasTags reports whether tags hold every key of want with its value.
func HasTags(tags, want map[string]string) bool {
	for k, v := range want {
		if tags[k] != v {
			return false
		}
	}
	return true
}

// Budget is a run limit: at most Runs runs within any window of Per.
type Budget struct {
	// Runs is the number of runs allowed per window; 0 means no limit.
	Runs int
	// Per is the window's length.
	Per time.Duration
}

// String returns the budget as written in the config: 3/10m.
func (b Budget) String() string {
	if b.Runs == 0 {
		return ""
	}
	return strconv.Itoa(b.Runs) + "/" + b.Per.String()
}

// ParseBudget parses max_runs_per: RUNS/DURATION, such as 3/10m.
func ParseBudget(s string) (Budget, error) {
	if s == "" {
		return Budget{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	runs, err := strconv.Atoi(n)
	if !ok || err != nil || runs < 1 {
		return Budget{}, fmt.Errorf("max_runs_per %q: want RUNS/DURATION with RUNS >= 1, like 3/10m", s)
	}
	per, err := time.ParseDuration(d)
	if err != nil || per <= 0 {
		return Budget{}, fmt.Errorf("max_runs_per %q: %q is not a positive duration, like 10m", s, d)
	}
	return Budget{Runs: runs, Per: per}, nil
}

// Validate reports the first thing that makes the hook unusable.
func (h *Hook) Validate() error {
	set := 0
	if len(h.Command) > 0 {
		set++
	}
	if h.Shell != "" {
		set++
	}
	if h.Builtin != nil {
		set++
	}
	switch {
	case h.Name == "":
		return fmt.Errorf("hook has no name")
	case set == 0:
		return fmt.Errorf("hook %q: needs a command or a shell script", h.Name)
	case set > 1:
		return fmt.Errorf("hook %q: set only one of command and shell", h.Name)
	case len(h.Command) > 0 && h.Command[0] == "":
		return fmt.Errorf("hook %q: command has an empty program name", h.Name)
	case h.Timeout < 0:
		return fmt.Errorf("hook %q: timeout %s is negative", h.Name, h.Timeout)
	}
	switch h.Stdin {
	case "", StdinJSON, StdinSerf:
	default:
		return fmt.Errorf("hook %q: stdin %q: want json or serf", h.Name, h.Stdin)
	}
	switch h.RunOn {
	case "", RunOnAll, RunOnOne, RunOnSelf:
	default:
		return fmt.Errorf("hook %q: run_on %q: want all, one or self", h.Name, h.RunOn)
	}
	if len(h.Eligible) > 0 && h.RunOn != RunOnOne {
		return fmt.Errorf("hook %q: eligible applies only with run_on: one", h.Name)
	}
	if h.Settle < 0 || h.Retries < 0 {
		return fmt.Errorf("hook %q: settle and retries must not be negative", h.Name)
	}
	return nil
}

// Describe returns the hook's command line for logs.
func (h *Hook) Describe() string {
	switch {
	case h.Builtin != nil:
		return "(built-in)"
	case h.Shell != "":
		return h.Shell
	default:
		return fmt.Sprintf("%q", h.Command)
	}
}
