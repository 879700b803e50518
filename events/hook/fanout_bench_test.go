package hook

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"

	"github.com/rs/zerolog"
)

// BenchmarkDispatchFanout measures fanning one event out to many hooks:
// each op is one Runner.Dispatch of a member-failed event to H built-in
// hooks (no processes), and the benchmark waits until every hook has run
// every event, so ns/op is the runner's whole cost per event (filter
// match, queueing, worker hand-off, run record) at H hooks.
func BenchmarkDispatchFanout(b *testing.B) {
	for _, h := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("hooks=%d", h), func(b *testing.B) {
			var ran atomic.Int64
			hooks := make([]Hook, h)
			for i := range hooks {
				hooks[i] = Hook{Name: fmt.Sprintf("h%d", i), Filters: events.Filters{{Type: events.MemberFailed}},
					Builtin: func(context.Context, *events.Event) (string, error) { ran.Add(1); return "", nil }}
			}
			r, err := NewRunner(RunnerConfig{Logger: zerolog.Nop(), Env: []string{}, QueueLimit: 1 << 30}, hooks)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			ev := events.Event{Type: events.MemberFailed, Time: time.Now(), Members: []events.Member{{Name: "peer", Addr: "10.0.0.2", Port: 7946, Status: "failed"}}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ev.ID = uint64(i + 1)
				r.Dispatch(ev)
			}
			want := int64(b.N) * int64(h)
			deadline := time.Now().Add(time.Minute)
			for ran.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d hook runs after a minute", ran.Load(), want)
				}
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/hook-run")
		})
	}
}

// BenchmarkHookStart measures Dispatch → hook process started, one event
// at a time: the hook is `date +%s%N`, run directly (argv) or through
// /bin/sh -c (a -hook spec), which prints the time at which it runs. It
// reports the p50 and p99 of that latency; ns/op is the whole cycle
// (dispatch, process run and exit, run record).
func BenchmarkHookStart(b *testing.B) {
	for _, tc := range []struct {
		name string
		hook Hook
	}{
		{"argv", Hook{Name: "date", Command: []string{"date", "+%s%N"}}},
		{"shell", Hook{Name: "date", Shell: "date +%s%N"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runs := make(chan events.Run, 1)
			r, err := NewRunner(RunnerConfig{Logger: zerolog.Nop(), OnRun: func(run events.Run) { runs <- run }}, []Hook{tc.hook})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			var lat []float64
			n := 0
			for b.Loop() {
				n++
				t0 := time.Now().UnixNano()
				r.Dispatch(events.Event{ID: uint64(n), Type: events.MemberFailed, Time: time.Now(), Members: []events.Member{{Name: "peer", Status: "failed"}}})
				run := <-runs
				started, err := strconv.ParseInt(strings.TrimSpace(run.Output), 10, 64)
				if err != nil {
					b.Fatalf("hook output %q: %v", run.Output, err)
				}
				lat = append(lat, float64(started-t0)/1e6)
			}
			b.ReportMetric(quantile(lat, 0.50), "p50-ms")
			b.ReportMetric(quantile(lat, 0.99), "p99-ms")
		})
	}
}

// quantile returns the q-quantile (nearest rank) of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
