package hook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// newConfiguredRunner is newTestRunner with cfg's callbacks and limits.
func newConfiguredRunner(t *testing.T, cfg RunnerConfig, hooks ...Hook) *Runner {
	t.Helper()
	cfg.KillGrace = time.Second
	r, err := NewRunner(cfg, hooks)
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

func userEvent(id uint64, name string) events.Event {
	return events.Event{ID: id, Type: events.User, Time: time.Now(), User: &events.UserEvent{Name: name, Payload: "x", LTime: id}}
}

func joinEvent(id uint64, name string) events.Event {
	return events.Event{ID: id, Type: events.MemberJoin, Time: time.Now(), Members: []events.Member{{Name: name, Addr: "127.0.0.9", Port: 7000, Status: "alive"}}}
}

// floodHook handles user events (slowly: 3,000 of them queue minutes of
// runs) and member-join (at once).
func floodHook() Hook {
	return Hook{
		Name:    "both",
		Filters: mustFilters("user", "member-join"),
		Shell:   `case "$VIGIL_EVENT" in user) sleep 0.05 ;; esac`,
		Timeout: 10 * time.Second,
	}
}

func mustFilters(specs ...string) events.Filters {
	fs, err := events.ParseFilters(specs)
	if err != nil {
		panic(err)
	}
	return fs
}

// waitJoinStart dispatches a member-join after the flood and returns how
// long after its dispatch its run started.
func waitJoinStart(t *testing.T, r *Runner, id uint64) time.Duration {
	t.Helper()
	dispatched := time.Now()
	r.Dispatch(joinEvent(id, "late-joiner"))
	var join events.Run
	waitFor(t, 10*time.Second, "the member-join run", func() bool {
		for _, run := range runsOf(r, "both") {
			if run.Event == events.MemberJoin {
				join = run
				return true
			}
		}
		return false
	})
	if join.Outcome != events.OutcomeOK {
		t.Fatalf("member-join run: %+v", join)
	}
	return join.Start.Sub(dispatched)
}

// TestUserFloodDoesNotDelayMemberJoin is issue 12's flood: 3,000 user
// events queued for a hook that also handles member-join (no rate limit,
// so all 3,000 wait), then one member-join. Its run starts within a
// second of its dispatch: it waits for the user run in progress only,
// not behind the backlog queued before it.
func TestUserFloodDoesNotDelayMemberJoin(t *testing.T) {
	var recorded atomic.Int64
	r := newConfiguredRunner(t, RunnerConfig{OnRun: func(events.Run) { recorded.Add(1) }}, floodHook())
	const flood = 3000
	for i := uint64(1); i <= flood; i++ {
		r.Dispatch(userEvent(i, "deploy"))
	}
	waitFor(t, 10*time.Second, "the flood's first run", func() bool { return len(runsOf(r, "both")) > 0 })
	if d := r.QueueDepth()["both"]; d < flood-100 {
		t.Fatalf("queue depth %d: the flood should still be queued", d)
	}
	delay := waitJoinStart(t, r, flood+1)
	t.Logf("member-join started %s after its dispatch, behind %d queued user events", delay, r.QueueDepth()["both"])
	if delay >= time.Second {
		t.Errorf("member-join started %s after its dispatch; want under 1s", delay)
	}
	// The rest of the flood is cut short: killed and recorded as dropped.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r.Close(ctx)
	if n := recorded.Load(); n != flood+1 {
		t.Errorf("%d runs recorded, want %d: every event run or recorded as dropped", n, flood+1)
	}
}

// TestQueueClassesKeepOrder: non-user events run before user events queued
// earlier, and each class keeps its own order.
func TestQueueClassesKeepOrder(t *testing.T) {
	r := newTestRunner(t, Hook{Name: "both", Filters: mustFilters("*"), Shell: `[ "$VIGIL_EVENT_ID" = 1 ] && sleep 0.3; exit 0`})
	r.Dispatch(failedEvent(1, "blocker")) // runs first, while the rest queue
	waitFor(t, 5*time.Second, "the first run to start", func() bool { return r.QueueDepth()["both"] == 0 })
	r.Dispatch(userEvent(2, "a"))
	r.Dispatch(joinEvent(3, "m1"))
	r.Dispatch(userEvent(4, "b"))
	r.Dispatch(failedEvent(5, "m2"))
	r.Dispatch(userEvent(6, "c"))
	waitFor(t, 10*time.Second, "six runs", func() bool { return len(runsOf(r, "both")) == 6 })
	var got []uint64
	for _, run := range runsOf(r, "both") {
		got = append(got, run.EventID)
	}
	want := []uint64{1, 3, 5, 2, 4, 6}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs in order %v, want %v", got, want)
		}
	}
}

// syncBuffer is a log destination the runner's goroutines share.
type syncBuffer struct{ clustertest.Buffer }

// lines returns the JSON log lines whose message is msg.
func (s *syncBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(s.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestUserFloodRateLimited: the same 3,000-event flood with the default
// limit (10/s per name, burst 50). The member-join still starts within a
// second; the burst runs; every other event is counted, logged at most
// once a second, and recorded in one dropped run per hook (with the count
// in its reason), never lost: runs plus counted events make 3,000.
func TestUserFloodRateLimited(t *testing.T) {
	var limited atomic.Int64
	var firstLimited atomic.Uint64
	logs := &syncBuffer{}
	other := Hook{Name: "deploys-only", Filters: mustFilters("user:deploy"), Shell: "exit 0"}
	r := newConfiguredRunner(t, RunnerConfig{
		UserEventLimit: RateLimit{Rate: DefaultUserEventRate, Burst: DefaultUserEventBurst},
		OnUserEventLimited: func(ev *events.Event) {
			limited.Add(1)
			firstLimited.CompareAndSwap(0, ev.ID)
		},
		Logger: zerolog.New(logs),
	}, floodHook(), other, Hook{Name: "joins-only", Filters: mustFilters("member-join"), Shell: "exit 0"})
	const flood = 3000
	start := time.Now()
	for i := uint64(1); i <= flood; i++ {
		r.Dispatch(userEvent(i, "deploy"))
	}
	floodTook := time.Since(start)
	delay := waitJoinStart(t, r, flood+1)
	t.Logf("flood dispatched in %s; member-join started %s after its dispatch", floodTook, delay)
	if delay >= time.Second {
		t.Errorf("member-join started %s after its dispatch; want under 1s", delay)
	}
	// At most the burst and what the rate refilled while the flood was
	// dispatched may pass.
	maxPass := DefaultUserEventBurst + int(floodTook.Seconds()*DefaultUserEventRate) + 1
	if n := int(limited.Load()); n < flood-maxPass {
		t.Errorf("%d events limited, want at least %d", n, flood-maxPass)
	}
	// The spell ends a second after the last limited event.
	var dropped []events.Run
	waitFor(t, 10*time.Second, "the limited events' dropped records", func() bool {
		dropped = nil
		for _, run := range r.Runs() {
			if run.Outcome == events.OutcomeDropped {
				dropped = append(dropped, run)
			}
		}
		return len(dropped) == 2
	})
	passed := flood - int(limited.Load())
	for _, run := range dropped {
		var n int
		if _, err := fmt.Sscanf(run.Reason[strings.Index(run.Reason, "): ")+3:], "%d user events not run", &n); err != nil {
			t.Fatalf("reason %q: %v", run.Reason, err)
		}
		if n != int(limited.Load()) || run.Event != events.User || run.EventID != firstLimited.Load() {
			t.Errorf("hook %s: dropped record %+v counts %d events, want %d from event %d", run.Hook, run, n, limited.Load(), firstLimited.Load())
		}
		if !strings.Contains(run.Reason, "10/s per name, burst 50") || !strings.Contains(run.Reason, `"deploy" `) {
			t.Errorf("reason %q names neither the rate nor the event", run.Reason)
		}
	}
	if hooks := []string{dropped[0].Hook, dropped[1].Hook}; !(hooks[0] != hooks[1] && (hooks[0] == "both" || hooks[0] == "deploys-only")) {
		t.Errorf("dropped records of hooks %v, want both and deploys-only", hooks)
	}
	// deploys-only's runs: one per event that passed, and the dropped record.
	waitFor(t, 10*time.Second, "the burst's runs", func() bool { return len(runsOf(r, "deploys-only")) == passed+1 })
	// Logged: one line per name per second at most, with the counts adding
	// up to every limited event.
	lines := logs.lines("user events over the rate limit: hooks not run for them")
	total := 0
	for _, l := range lines {
		total += int(l["limited"].(float64))
	}
	if total != int(limited.Load()) || len(lines) > 2+int(time.Since(start).Seconds()) {
		t.Errorf("%d log lines counting %d limited events, want %d events in at most one line a second", len(lines), total, limited.Load())
	}
}
