package events

import (
	"strings"
	"testing"
)

func TestParseFilterAndMatch(t *testing.T) {
	join := &Event{Type: MemberJoin}
	deploy := &Event{Type: User, User: &UserEvent{Name: "deploy"}}
	other := &Event{Type: User, User: &UserEvent{Name: "other"}}
	checkWeb := &Event{Type: Check, Check: &CheckChange{ID: "web", Status: "critical"}}
	checkDisk := &Event{Type: Check, Check: &CheckChange{ID: "disk", Status: "critical"}}
	healthCrit := &Event{Type: Health, Health: &HealthChange{Service: "web", Status: "critical"}}
	healthPass := &Event{Type: Health, Health: &HealthChange{Service: "web", Status: "passing"}}
	tests := []struct {
		in      string
		wantErr string
		matches []*Event
		misses  []*Event
	}{
		{in: "*", matches: []*Event{join, deploy}},
		{in: "member-join", matches: []*Event{join}, misses: []*Event{deploy}},
		{in: "user", matches: []*Event{deploy, other}, misses: []*Event{join}},
		{in: "user:deploy", matches: []*Event{deploy}, misses: []*Event{other, join}},
		{in: " member-failed ", misses: []*Event{join}},
		{in: "member-join:x", wantErr: "only user, check and health events"},
		{in: "user:", wantErr: "empty name"},
		{in: "check", matches: []*Event{checkWeb, checkDisk}, misses: []*Event{join, healthCrit}},
		{in: "check:web", matches: []*Event{checkWeb}, misses: []*Event{checkDisk}},
		{in: "health", matches: []*Event{healthCrit, healthPass}, misses: []*Event{checkWeb}},
		{in: "health:critical", matches: []*Event{healthCrit}, misses: []*Event{healthPass}},
		{in: "health:sick", wantErr: "want health:passing"},
		{in: "member-fialed", wantErr: "unknown event filter"},
		{in: "query", wantErr: "does not run serf queries"},
		{in: "", wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFilter(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			for _, e := range tt.matches {
				if !f.Match(e) {
					t.Errorf("%q does not match %+v", tt.in, e)
				}
			}
			for _, e := range tt.misses {
				if f.Match(e) {
					t.Errorf("%q matches %+v", tt.in, e)
				}
			}
		})
	}
}
