package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
)

// HookLatency is the time from handing an event to vigil's hook runner
// (hook.Runner.Dispatch, what the agent does the moment serf reports an
// event) until the hook has started.
type HookLatency struct {
	Kind    string `json:"kind"`
	Command string `json:"command"`
	Samples int    `json:"samples"`
	P50MS   Num    `json:"p50_ms"`
	P90MS   Num    `json:"p90_ms"`
	P99MS   Num    `json:"p99_ms"`
	MaxMS   Num    `json:"max_ms"`
	Errors  int    `json:"errors"`
}

// MeasureHookLatency dispatches samples events one at a time to a runner
// with one hook and measures, for each, Dispatch → hook start:
//
//   - argv: the hook is the command `date +%s%N` run without a shell (a
//     `command:` hook); the process prints the wall-clock time at which it
//     runs, so the latency includes fork, exec and the dynamic loader.
//   - shell: the same through `/bin/sh -c 'date +%s%N'`, as a -hook spec
//     runs (sh starts, then forks date).
//   - builtin: an in-process hook noting time.Now() (the runner's own
//     queueing and goroutine hand-off, no process).
func MeasureHookLatency(kind string, samples int) HookLatency {
	res := HookLatency{Kind: kind, Samples: samples}
	h := hook.Hook{Name: "probe", Timeout: 10 * time.Second}
	var builtinAt chan int64
	switch kind {
	case "argv":
		h.Command = []string{"date", "+%s%N"}
		res.Command = "date +%s%N (command: argv)"
	case "shell":
		h.Shell = "date +%s%N"
		res.Command = "/bin/sh -c 'date +%s%N' (-hook spec)"
	default:
		builtinAt = make(chan int64, 1)
		h.Builtin = func(_ context.Context, _ *events.Event) (string, error) {
			builtinAt <- time.Now().UnixNano()
			return "", nil
		}
		res.Command = "in-process builtin hook"
	}
	runs := make(chan events.Run, 16)
	r, err := hook.NewRunner(hook.RunnerConfig{
		Self:   func() events.Member { return events.Member{Name: "bench", Addr: "127.0.0.1", Port: 7946} },
		Logger: zerolog.Nop(),
		OnRun:  func(run events.Run) { runs <- run },
	}, []hook.Hook{h})
	if err != nil {
		res.Errors = samples
		return res
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	}()
	var lat []float64
	member := events.Member{Name: "peer", Addr: "127.0.0.2", Port: 7946, Status: "failed"}
	for i := range samples {
		now := time.Now()
		ev := events.Event{ID: uint64(i + 1), Type: events.MemberFailed, Time: now, Members: []events.Member{member}}
		t0 := time.Now().UnixNano()
		r.Dispatch(ev)
		var run events.Run
		select {
		case run = <-runs:
		case <-time.After(10 * time.Second):
			res.Errors++
			continue
		}
		var started int64
		if builtinAt != nil {
			started = <-builtinAt
		} else {
			started, err = strconv.ParseInt(strings.TrimSpace(run.Output), 10, 64)
			if err != nil || run.Outcome != events.OutcomeOK {
				res.Errors++
				continue
			}
		}
		lat = append(lat, float64(started-t0)/1e6)
	}
	res.P50MS, res.P90MS, res.P99MS = Num(Percentile(lat, 50)), Num(Percentile(lat, 90)), Num(Percentile(lat, 99))
	res.MaxMS = Num(Max(lat))
	return res
}

// String formats the result for the log.
func (h HookLatency) String() string {
	return fmt.Sprintf("%-8s n=%d p50=%sms p90=%sms p99=%sms max=%sms errors=%d", h.Kind, h.Samples,
		h.P50MS.Fmt(3), h.P90MS.Fmt(3), h.P99MS.Fmt(3), h.MaxMS.Fmt(3), h.Errors)
}
