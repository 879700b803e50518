package hook

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// TestHookRetries: a hook with retries runs again after a non-zero exit,
// 1 s then 2 s later, until it succeeds or its retries are spent; every
// attempt is recorded with its number, and each failed one that is
// retried says when. A hook without retries runs once. The hooks are
// real processes that count their own runs in a file.
func TestHookRetries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		retries  int
		failures int // runs that exit 1 before one exits 0
		want     []events.Outcome
		reasons  []string
	}{
		{"no retries: one failed run", 0, 5, []events.Outcome{events.OutcomeFailed}, []string{""}},
		{"succeeds on the third attempt", 2, 2,
			[]events.Outcome{events.OutcomeFailed, events.OutcomeFailed, events.OutcomeOK},
			[]string{"retrying in 1s (attempt 2 of 3)", "retrying in 2s (attempt 3 of 3)", ""}},
		{"retries spent", 1, 5,
			[]events.Outcome{events.OutcomeFailed, events.OutcomeFailed},
			[]string{"retrying in 1s (attempt 2 of 2)", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			count := filepath.Join(t.TempDir(), "count")
			r := newStormRunner(t, 0, 0, Hook{Name: "flaky", Timeout: 10 * time.Second, Retries: tt.retries,
				Shell: fmt.Sprintf(`echo x >> %s; [ "$(wc -l < %s)" -gt %d ]`, count, count, tt.failures)})
			r.Dispatch(failedEvent(1, "db-1"))
			waitFor(t, 15*time.Second, fmt.Sprintf("%d runs", len(tt.want)), func() bool { return len(runsOf(r, "flaky")) == len(tt.want) })
			time.Sleep(2500 * time.Millisecond) // no attempt beyond the last: the next backoff would be 1-4 s
			runs := runsOf(r, "flaky")
			if len(runs) != len(tt.want) {
				t.Fatalf("%d runs, want %d: %+v", len(runs), len(tt.want), runs)
			}
			for i, run := range runs {
				wantAttempt := i + 1
				if tt.retries == 0 {
					wantAttempt = 0 // not numbered without retries
				}
				if run.Outcome != tt.want[i] || run.Attempt != wantAttempt || strings.TrimSpace(run.Reason) != tt.reasons[i] {
					t.Errorf("run %d: outcome %s, attempt %d, reason %q; want %s, %d, %q", i+1, run.Outcome, run.Attempt, run.Reason, tt.want[i], wantAttempt, tt.reasons[i])
				}
				if i > 0 {
					if gap, min := run.Start.Sub(runs[i-1].Start), time.Duration(1<<(i-1))*time.Second; gap < min {
						t.Errorf("attempt %d started %s after the one before, want at least the backoff %s", i+1, gap, min)
					}
				}
			}
		})
	}
}

// TestRetryBackoffFreesTheSlot: with one hook process slot
// (hook_max_concurrent: 1), a hook waiting out a retry's backoff does not
// hold the slot: another hook's event that arrives meanwhile runs before
// the retry's next attempt, not after it.
func TestRetryBackoffFreesTheSlot(t *testing.T) {
	r := newStormRunner(t, 1, 0,
		Hook{Name: "flaky", Filters: mustFilters("member-failed"), Timeout: 10 * time.Second, Retries: 1, Shell: `exit 1`},
		Hook{Name: "quick", Filters: mustFilters("member-join"), Timeout: 10 * time.Second, Shell: `true`},
	)
	r.Dispatch(failedEvent(1, "db-1"))
	waitFor(t, 10*time.Second, "flaky's first attempt", func() bool { return len(runsOf(r, "flaky")) == 1 })
	r.Dispatch(joinEvent(2, "db-2"))
	waitFor(t, 10*time.Second, "both of flaky's attempts and quick's run", func() bool {
		return len(runsOf(r, "flaky")) == 2 && len(runsOf(r, "quick")) == 1
	})
	quick, retry := runsOf(r, "quick")[0], runsOf(r, "flaky")[1]
	if quick.Outcome != events.OutcomeOK {
		t.Fatalf("quick: %+v", quick)
	}
	if !quick.Start.Before(retry.Start) {
		t.Errorf("quick started %s after flaky's retry: the backoff held the only process slot", quick.Start.Sub(retry.Start))
	}
}
