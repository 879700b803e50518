package membership

import (
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

func TestLeaveTrackerRewrites(t *testing.T) {
	now := time.Now()
	type step struct {
		in   events.Type
		want events.Type // "" means dropped
	}
	tests := []struct {
		name     string
		announce bool
		at       time.Duration // announcement age
		steps    []step
	}{
		{name: "no announcement: failed stays failed", steps: []step{{events.MemberFailed, events.MemberFailed}}},
		{name: "announced then failed: a leave, and serf's forced leave dropped", announce: true,
			steps: []step{{events.MemberFailed, events.MemberLeave}, {events.MemberLeave, ""}, {events.MemberJoin, events.MemberJoin}, {events.MemberFailed, events.MemberFailed}}},
		{name: "announced then a normal leave", announce: true,
			steps: []step{{events.MemberLeave, events.MemberLeave}, {events.MemberFailed, events.MemberFailed}}},
		{name: "old announcement is forgotten", announce: true, at: leavingMemory + time.Second,
			steps: []step{{events.MemberFailed, events.MemberFailed}}},
		{name: "rejoin clears the announcement", announce: true,
			steps: []step{{events.MemberJoin, events.MemberJoin}, {events.MemberFailed, events.MemberFailed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr leaveTracker
			if tt.announce {
				tr.announce("db-1", now.Add(-tt.at))
			}
			for i, s := range tt.steps {
				got, keep := tr.rewrite(s.in, "db-1", now)
				if !keep {
					got = ""
				}
				if got != s.want {
					t.Fatalf("step %d: %s became %q, want %q", i, s.in, got, s.want)
				}
			}
		})
	}
}
