package events

import (
	"fmt"
	"slices"
	"strings"
)

// Filter selects events by type and, for user, check and health events, by
// name. Its text form is serf's, extended: `member-join`, `user`,
// `user:deploy`, `check:web-http`, `health:critical`, `*`.
type Filter struct {
	// Type is the event type matched; empty with Any set.
	Type Type
	// Name narrows a filter: the user event's name, the check's id, or the
	// new health status. Empty matches all.
	Name string
	// Any matches every event (`*`).
	Any bool
}

// String returns the filter in its text form.
func (f Filter) String() string {
	switch {
	case f.Any:
		return "*"
	case f.Name != "":
		return string(f.Type) + ":" + f.Name
	default:
		return string(f.Type)
	}
}

// Match reports whether the event passes the filter.
func (f Filter) Match(e *Event) bool {
	if f.Any {
		return true
	}
	if f.Type != e.Type {
		return false
	}
	if f.Name == "" {
		return true
	}
	switch f.Type {
	case User:
		return e.User != nil && e.User.Name == f.Name
	case Check:
		return e.Check != nil && e.Check.ID == f.Name
	case Health:
		return e.Health != nil && string(e.Health.Status) == f.Name
	}
	return false
}

// ParseFilter parses one filter: an event type, `user:NAME`, or `*`.
func ParseFilter(s string) (Filter, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return Filter{Any: true}, nil
	}
	typ, name, hasName := strings.Cut(s, ":")
	switch Type(typ) {
	case User, Check:
		if hasName && name == "" {
			return Filter{}, fmt.Errorf("event filter %q: empty name after the colon", s)
		}
		return Filter{Type: Type(typ), Name: name}, nil
	case Health:
		if hasName && !slices.Contains(HealthStatuses, HealthStatus(name)) {
			return Filter{}, fmt.Errorf("event filter %q: want health:passing, health:warning, health:critical or health:maintenance", s)
		}
		return Filter{Type: Health, Name: name}, nil
	case MemberJoin, MemberLeave, MemberFailed, MemberUpdate, MemberReap, Damped, Brake, Refuted:
		if hasName {
			return Filter{}, fmt.Errorf("event filter %q: only user, check and health events take a :NAME", s)
		}
		return Filter{Type: Type(typ)}, nil
	case "query":
		return Filter{}, fmt.Errorf("event filter %q: vigil does not run serf queries", s)
	case "":
		return Filter{}, fmt.Errorf("empty event filter")
	default:
		return Filter{}, fmt.Errorf("unknown event filter %q (want member-join, member-leave, member-failed, member-update, member-reap, user[:NAME], check[:ID], health[:STATUS], damped, brake, refuted or *)", s)
	}
}

// ParseFilters parses a list of filters; an empty list means every event.
func ParseFilters(list []string) (Filters, error) {
	if len(list) == 0 {
		return Filters{{Any: true}}, nil
	}
	out := make(Filters, 0, len(list))
	for _, s := range list {
		f, err := ParseFilter(s)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Filters is a list of filters; an event passes when any one matches.
type Filters []Filter

// Match reports whether any filter matches the event.
func (fs Filters) Match(e *Event) bool {
	for _, f := range fs {
		if f.Match(e) {
			return true
		}
	}
	return false
}

// Strings returns the filters in text form.
func (fs Filters) Strings() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}
