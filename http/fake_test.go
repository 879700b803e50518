package http

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/probes"
)

// fakeAgent is an Agent with canned members and a real event ring.
type fakeAgent struct {
	ring *events.Ring

	mu         sync.Mutex
	members    []events.Member
	self       Self
	runs       []events.Run
	joinErr    error
	joins      [][]string
	leaves     int
	leaveErr   error
	userErr    error
	userEvents []events.UserEvent
	panicMsg   string

	checks      []probes.State
	ttl         []string // "id status note" per UpdateTTL
	instances   []Instance
	rtt         map[string]time.Duration
	maintenance []string // "true reason" per SetMaintenance
	maintErr    error
	brake       bool
	reloadErr   error
	forceLeaves []string // "name prune" per successful ForceLeave
	forceErr    error
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{
		ring: events.NewRing(0),
		members: []events.Member{
			{Name: "alpha", Addr: "10.0.0.1", Port: 7946, Status: "alive", Tags: map[string]string{"role": "web", "dc": "east"}},
			{Name: "bravo", Addr: "10.0.0.2", Port: 7946, Status: "failed"},
			{Name: "charlie", Addr: "10.0.0.3", Port: 7950, Status: "left", Tags: map[string]string{}},
		},
		self: Self{
			Member:   events.Member{Name: "alpha", Addr: "10.0.0.1", Port: 7946, Status: "alive", Tags: map[string]string{"role": "web", "dc": "east"}},
			Profile:  "lan",
			Version:  "1.2.3",
			HTTPAddr: "127.0.0.1:7947",
		},
	}
}

func (f *fakeAgent) Members() []events.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	return append([]events.Member(nil), f.members...)
}

func (f *fakeAgent) Self() Self {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.self
}

func (f *fakeAgent) Join(addrs []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, addrs)
	if f.joinErr != nil {
		return 0, f.joinErr
	}
	return len(addrs), nil
}

func (f *fakeAgent) Leave() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaves++
	return f.leaveErr
}

func (f *fakeAgent) UserEvent(name string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.userErr != nil {
		return f.userErr
	}
	f.userEvents = append(f.userEvents, events.UserEvent{Name: name, Payload: string(payload)})
	return nil
}

func (f *fakeAgent) Events() *events.Ring { return f.ring }

func (f *fakeAgent) HookRuns() []events.Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

func (f *fakeAgent) Checks() []probes.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks
}

func (f *fakeAgent) UpdateTTL(id string, status probes.Status, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.checks {
		if c.ID != id {
			continue
		}
		if c.Kind != "ttl" {
			return fmt.Errorf("check %q: %w", id, probes.ErrNotTTL)
		}
		f.ttl = append(f.ttl, id+" "+string(status)+" "+note)
		return nil
	}
	return fmt.Errorf("check %q: %w", id, probes.ErrUnknownCheck)
}

func (f *fakeAgent) Instances(service string) []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Instance
	for _, in := range f.instances {
		if in.Tags["service"] == service {
			out = append(out, in)
		}
	}
	return out
}

func (f *fakeAgent) RTT(node string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.rtt[node]
	return d, ok
}

func (f *fakeAgent) SetMaintenance(enable bool, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maintErr != nil {
		return f.maintErr
	}
	f.maintenance = append(f.maintenance, fmt.Sprintf("%v %s", enable, reason))
	return nil
}

func (f *fakeAgent) FailoverStatus() failover.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return failover.Status{Brake: f.brake, Quorum: true, Damped: map[string]time.Time{}, Pending: []failover.Pending{}}
}

func (f *fakeAgent) Reload() (ReloadResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reloadErr != nil {
		return ReloadResult{}, f.reloadErr
	}
	return ReloadResult{HooksAdded: []string{"new"}}, nil
}

func (f *fakeAgent) ReleaseFailover() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.brake
	f.brake = false
	return was
}

// ForceLeave refuses unknown and alive members as the agent does, and
// records the others.
func (f *fakeAgent) ForceLeave(name string, prune bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forceErr != nil {
		return f.forceErr
	}
	for _, m := range f.members {
		if m.Name != name {
			continue
		}
		if m.Status == "alive" || m.Status == "leaving" {
			return fmt.Errorf("force-leave %q: it is %s: %w", name, m.Status, ErrMemberNotFailed)
		}
		f.forceLeaves = append(f.forceLeaves, fmt.Sprintf("%s %v", name, prune))
		return nil
	}
	return fmt.Errorf("force-leave %q: %w", name, ErrUnknownMember)
}

var errFake = errors.New("fake failure")

var _ Agent = (*fakeAgent)(nil)

// localRequest is httptest.NewRequest as the vigil commands send it: to a
// loopback Host, and with a JSON Content-Type when there is a body.
func localRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:7947"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
