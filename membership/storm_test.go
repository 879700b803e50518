package membership

import (
	"fmt"
	"testing"
	"time"
)

// TestStormGauge: a storm is at least stormMinChanges member changes
// within stormWindow, and at least one in stormShare of the members; older
// changes no longer count, and the end of a storm is news once.
func TestStormGauge(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		changes int           // noted at t0, t0+step, …
		step    time.Duration // between changes
		at      time.Duration // the check, after t0
		members int
		want    bool
	}{
		{"a restart in a small cluster", 2, 100 * time.Millisecond, time.Second, 5, false},
		{"one member flapping four times", 8, time.Second, 8 * time.Second, 5, false},
		{"ten changes in a small cluster", 10, 500 * time.Millisecond, 5 * time.Second, 5, true},
		{"ten changes among 200", 10, 500 * time.Millisecond, 5 * time.Second, 200, false},
		{"twenty changes among 200", 20, 400 * time.Millisecond, 8 * time.Second, 200, true},
		{"the same twenty, 10 s later", 20, 400 * time.Millisecond, 18 * time.Second, 200, false},
		{"200 failures", 199, 20 * time.Millisecond, 4 * time.Second, 200, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var g stormGauge
			for i := range tt.changes {
				g.noteFailed(t0.Add(time.Duration(i) * tt.step))
			}
			got, changed := g.inStorm(t0.Add(tt.at), tt.members)
			if got != tt.want {
				t.Fatalf("inStorm after %d changes %s apart, checked at +%s, %d members = %v, want %v",
					tt.changes, tt.step, tt.at, tt.members, got, tt.want)
			}
			if changed != tt.want {
				t.Errorf("first check: changed = %v, want %v (news only when a storm starts)", changed, tt.want)
			}
			if _, changed := g.inStorm(t0.Add(tt.at), tt.members); changed {
				t.Errorf("second check at the same time: changed, want no news")
			}
			if tt.want {
				if storm, changed := g.inStorm(t0.Add(tt.at+stormWindow+time.Duration(tt.changes)*tt.step), tt.members); storm || !changed {
					t.Errorf("a window after the last change: storm %v, changed %v; want over, and news", storm, changed)
				}
			}
		})
	}
}

// TestStormGaugeJoins: first joins are no change (an agent's own join
// reports the whole cluster joined at once); joins of members seen before
// (back from a failure, restarted) are.
func TestStormGaugeJoins(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	var g stormGauge
	for i := range 199 {
		g.noteJoined(fmt.Sprintf("m%03d", i), t0)
	}
	if storm, _ := g.inStorm(t0.Add(time.Second), 200); storm {
		t.Fatalf("199 first joins made a storm")
	}
	for i := range 10 {
		g.noteFailed(t0.Add(2 * time.Second))
		g.noteJoined(fmt.Sprintf("m%03d", i), t0.Add(3*time.Second))
	}
	if storm, _ := g.inStorm(t0.Add(4*time.Second), 200); !storm {
		t.Fatalf("10 members failing and joining again among 200 (20 changes in 2 s): no storm")
	}
}
