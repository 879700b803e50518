package events

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
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
type BuiltinFunc func(ctx context.Context, ev *Event) (output string, err error)

// Hook is one handler attached to events: a process (Command or Shell) or a
// built-in function, with the filters that select its events.
type Hook struct {
	// Name identifies the hook in logs and /v1/hooks. The agent names
	// unnamed -hook specs hook-1, hook-2, ...
	Name string
	// Filters select the events the hook runs for; empty means every event.
	Filters Filters
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
	// Budget limits how often the hook runs (max_runs_per: 3/10m), so a
	// self-healing restart hook can't loop forever on a crash-looping
	// service. The zero Budget is unlimited.
	Budget Budget
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
