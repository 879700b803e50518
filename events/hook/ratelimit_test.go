package hook

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestNameLimiter: the token bucket of one name, step by step on a clock
// the test sets.
func TestNameLimiter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		name string
		ms   int // time of the event, from t0
		want bool
	}
	tests := []struct {
		name  string
		limit RateLimit
		steps []step
	}{
		{name: "off: zero value", limit: RateLimit{}, steps: []step{{"a", 0, true}, {"a", 0, true}, {"a", 0, true}}},
		{name: "off: zero rate", limit: RateLimit{Rate: 0, Burst: 5}, steps: []step{{"a", 0, true}, {"a", 0, true}}},
		{name: "off: zero burst", limit: RateLimit{Rate: 10, Burst: 0}, steps: []step{{"a", 0, true}, {"a", 0, true}}},
		{name: "burst then refused", limit: RateLimit{Rate: 1, Burst: 3},
			steps: []step{{"a", 0, true}, {"a", 0, true}, {"a", 0, true}, {"a", 0, false}, {"a", 999, false}}},
		{name: "refill at the rate", limit: RateLimit{Rate: 2, Burst: 1},
			steps: []step{{"a", 0, true}, {"a", 100, false}, {"a", 499, false}, {"a", 500, true}, {"a", 600, false}, {"a", 1000, true}}},
		{name: "refill capped at burst", limit: RateLimit{Rate: 10, Burst: 2},
			steps: []step{{"a", 0, true}, {"a", 0, true}, {"a", 0, false}, {"a", 60_000, true}, {"a", 60_000, true}, {"a", 60_000, false}}},
		{name: "names are separate", limit: RateLimit{Rate: 1, Burst: 1},
			steps: []step{{"a", 0, true}, {"a", 0, false}, {"b", 0, true}, {"b", 0, false}, {"a", 1000, true}}},
		{name: "fractional rate", limit: RateLimit{Rate: 0.5, Burst: 1},
			steps: []step{{"a", 0, true}, {"a", 1000, false}, {"a", 1999, false}, {"a", 2000, true}}},
		{name: "clock going back takes nothing", limit: RateLimit{Rate: 1, Burst: 1},
			steps: []step{{"a", 5000, true}, {"a", 0, false}, {"a", 5999, false}, {"a", 6000, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewNameLimiter(tt.limit)
			for i, s := range tt.steps {
				if got := l.Allow(s.name, at(s.ms)); got != s.want {
					t.Fatalf("step %d (%q at %dms): Allow = %v, want %v", i, s.name, s.ms, got, s.want)
				}
			}
		})
	}
}

func TestNameLimiterNil(t *testing.T) {
	var l *NameLimiter
	if !l.Allow("a", time.Now()) || l.Limit().Enabled() {
		t.Error("a nil limiter limits")
	}
}

// TestNameLimiterBoundsNames: a spray of distinct names keeps at most
// MaxLimitedNames buckets; names past it share one bucket, and buckets
// that have refilled are forgotten so new names get their own again.
func TestNameLimiterBoundsNames(t *testing.T) {
	l := NewNameLimiter(RateLimit{Rate: 1, Burst: 1})
	l.maxNames = 3
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if !l.Allow("n"+strconv.Itoa(i), t0) {
			t.Fatalf("name %d refused", i)
		}
	}
	// The table is full: new names share the overflow bucket (burst 1).
	if !l.Allow("x", t0) || l.Allow("y", t0) || l.Allow("z", t0) {
		t.Error("names past the table's bound do not share one bucket")
	}
	if len(l.buckets) != 3 {
		t.Errorf("%d buckets, want 3", len(l.buckets))
	}
	// A second later every bucket has refilled: the sweep forgets them.
	if !l.Allow("y", t0.Add(time.Second)) {
		t.Error("a new name refused after the table's buckets refilled")
	}
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (y)", len(l.buckets))
	}
}

func TestRateLimitedError(t *testing.T) {
	var err error = &RateLimitedError{Name: "deploy", Limit: RateLimit{Rate: 4, Burst: 20}}
	want := `user event "deploy" is over the rate limit (4/s per name, burst 20): not fired; try again in a moment`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var rle *RateLimitedError
	if !errors.As(err, &rle) || rle.RetryAfter() != 250*time.Millisecond {
		t.Errorf("RetryAfter = %v, want 250ms", rle.RetryAfter())
	}
}
