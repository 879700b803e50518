package hook

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// StdinDocument is the JSON document a hook with `stdin: json` reads.
type StdinDocument struct {
	// ID is the event's id, as in VIGIL_EVENT_ID.
	ID uint64 `json:"id"`
	// Event is the event type.
	Event events.Type `json:"event"`
	// Time is when this agent received the event.
	Time time.Time `json:"time"`
	// Self is the member running the hook.
	Self events.Member `json:"self"`
	// Members are the members the event concerns; empty for user events.
	Members []events.Member `json:"members"`
	// UserEvent is set for user events.
	UserEvent *events.UserEvent `json:"user_event,omitempty"`
	// Check is set for check events.
	Check *events.CheckChange `json:"check,omitempty"`
	// Health is set for health events.
	Health *events.HealthChange `json:"health,omitempty"`
	// Key is the failure's cluster-wide key (run_on: one hooks).
	Key string `json:"key,omitempty"`
	// Fence is the run's fencing token (claimed failover runs).
	Fence uint64 `json:"fence,omitempty"`
	// TakeoverFrom names the runner this run took over from.
	TakeoverFrom string `json:"takeover_from,omitempty"`
}

// JSONStdin encodes the stdin document for ev.
func JSONStdin(ev *events.Event, self events.Member) ([]byte, error) {
	members := ev.Members
	if members == nil {
		members = []events.Member{}
	}
	doc := StdinDocument{ID: ev.ID, Event: ev.Type, Time: ev.Time, Self: self, Members: members, UserEvent: ev.User, Check: ev.Check, Health: ev.Health, Key: ev.Key, Fence: ev.Fence, TakeoverFrom: ev.TakeoverFrom}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode stdin for event %d: %w", ev.ID, err)
	}
	return append(b, '\n'), nil
}

// serfClean escapes tabs and newlines as serf does, so a value can't split a
// line or a field.
func serfClean(v string) string {
	v = strings.ReplaceAll(v, "\t", `\t`)
	return strings.ReplaceAll(v, "\n", `\n`)
}

// SerfStdin renders ev in serf's event-handler stdin format: for member
// events one line per member, NAME\tADDR\tROLE\tk=v,k=v; for user events the
// payload with a trailing newline added when missing. Tags are sorted by key
// (serf leaves them in map order).
func SerfStdin(ev *events.Event) []byte {
	if ev.User != nil {
		p := ev.User.Payload
		if p != "" && !strings.HasSuffix(p, "\n") {
			p += "\n"
		}
		return []byte(p)
	}
	var b strings.Builder
	for _, m := range ev.Members {
		keys := make([]string, 0, len(m.Tags))
		for k := range m.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + m.Tags[k]
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", serfClean(m.Name), m.Addr, serfClean(m.Tags["role"]), serfClean(strings.Join(pairs, ",")))
	}
	return []byte(b.String())
}
