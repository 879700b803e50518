package agent

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/events"
	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/probes"
)

// healthState is the local service's gossiped health and the member health
// the agent last saw, for health events.
type healthState struct {
	mu          sync.Mutex
	maintenance bool
	reason      string
	gossiped    events.HealthStatus // the health tag this member gossips now
	seq         int                 // counts gossiped health changes (health_seq tag)

	seenMu sync.Mutex
	seen   map[string]events.HealthStatus // member name → last gossiped health
}

// localHealth computes what this member should gossip: maintenance while
// drained, else the worst check status (passing with no checks).
func (a *Agent) localHealth() events.HealthStatus {
	if a.health.maintenance {
		return events.HealthMaintenance
	}
	if a.probes == nil {
		return events.HealthPassing
	}
	return events.HealthStatus(a.probes.Status())
}

// refreshHealth gossips the local health when it changed. Only a change of
// status is gossiped, never check output.
func (a *Agent) refreshHealth() {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	if a.cfg.Service == nil {
		return
	}
	h := a.localHealth()
	if h == a.health.gossiped {
		return
	}
	c := a.cluster.Load()
	if c == nil {
		return
	}
	if err := c.SetTags(a.cfg.gossipTags(h, a.health.seq+1)); err != nil {
		a.log.Error().Err(err).Str("health", string(h)).Msg("could not gossip health")
		return
	}
	a.log.Info().Str("service", a.cfg.Service.Name).Str("health", string(h)).Str("previous", string(a.health.gossiped)).Msg("service health changed")
	a.health.gossiped = h
	a.health.seq++
}

// redactToken removes the API token from a check's output before the
// probes keep, log or report it (probes.Manager.RedactOutput).
func (a *Agent) redactToken(s string) string { return events.RedactString(s, a.token) }

// onCheckChange publishes a check event and gossips the new health. The
// API token is redacted from the check's output, as from hook output.
func (a *Agent) onCheckChange(ch probes.Change) {
	ch.Output = events.RedactString(ch.Output, a.token)
	a.log.Info().Str("check", ch.ID).Str("status", string(ch.Status)).Str("previous", string(ch.Previous)).
		Str("output", ch.Output).Msg("check status changed")
	a.publish(events.Event{Type: events.Check, Members: []events.Member{a.selfMember()},
		Check: &events.CheckChange{ID: ch.ID, Status: events.HealthStatus(ch.Status), Previous: events.HealthStatus(ch.Previous), Output: ch.Output}})
	a.refreshHealth()
}

// healthEvent returns the health event a member event implies: a known
// member whose gossiped health differs from what was last seen.
func (a *Agent) healthEvent(ev *events.Event) *events.Event {
	m, ok := ev.Subject()
	if !ok || !ev.Type.IsMember() {
		return nil
	}
	a.health.seenMu.Lock()
	defer a.health.seenMu.Unlock()
	if a.health.seen == nil {
		a.health.seen = map[string]events.HealthStatus{}
	}
	prev, known := a.health.seen[m.Name]
	_, has := m.Tags[events.HealthTag]
	h := m.Health()
	switch {
	case ev.Type == events.MemberLeave || ev.Type == events.MemberFailed || ev.Type == events.MemberReap || !has:
		delete(a.health.seen, m.Name)
		return nil
	default:
		a.health.seen[m.Name] = h
	}
	if !known || prev == h {
		return nil
	}
	return &events.Event{Type: events.Health, Members: ev.Members,
		Health: &events.HealthChange{Service: m.Tags[events.ServiceTag], Status: h, Previous: prev}}
}

// probeManager returns the current checks' manager (nil without a
// service); a reload may replace it.
func (a *Agent) probeManager() *probes.Manager {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	return a.probes
}

// Checks implements the HTTP API's Agent. The API token is redacted from
// the checks' output.
func (a *Agent) Checks() []probes.State {
	pm := a.probeManager()
	if pm == nil {
		return []probes.State{}
	}
	states := pm.States()
	for i := range states {
		states[i].Output = events.RedactString(states[i].Output, a.token)
	}
	return states
}

// UpdateTTL implements the HTTP API's Agent.
func (a *Agent) UpdateTTL(id string, status probes.Status, note string) error {
	pm := a.probeManager()
	if pm == nil {
		return fmt.Errorf("check %q: %w", id, probes.ErrUnknownCheck)
	}
	return pm.UpdateTTL(id, status, note)
}

// SetMaintenance implements the HTTP API's Agent.
func (a *Agent) SetMaintenance(enable bool, reason string) error {
	a.health.mu.Lock()
	if a.cfg.Service == nil {
		a.health.mu.Unlock()
		return fmt.Errorf("no service is configured on this agent: nothing to drain")
	}
	if err := saveMaintenance(a.cfg.DataDir, enable, reason); err != nil {
		a.health.mu.Unlock()
		return err
	}
	a.health.maintenance = enable
	a.health.reason = reason
	if !enable {
		a.health.reason = ""
	}
	a.health.mu.Unlock()
	a.log.Info().Bool("maintenance", enable).Str("reason", reason).Msg("maintenance mode")
	a.refreshHealth()
	return nil
}

// offered is the service a member offers, as its gossiped tags describe
// it: the one reading of those tags that the HTTP API, DNS and the Consul
// API share.
type offered struct {
	// Name is the service's name ("" when the member offers none).
	Name string
	// Addr and Port are where it answers: service.address, else the
	// member's gossip IP.
	Addr string
	Port int
	// Tags are the service's own tags (svc:KEY), without the prefix.
	Tags map[string]string
	// Health is the gossiped health while the member is alive, "left"
	// once it left gracefully (stopped on purpose, not broken), and
	// critical once it failed.
	Health events.HealthStatus
	// Passing: alive and passing.
	Passing bool
}

// serviceOf reads the service member m offers from its tags.
func serviceOf(m events.Member) offered {
	o := offered{Name: m.Tags[events.ServiceTag], Addr: m.Addr, Tags: map[string]string{}, Health: m.Health()}
	o.Port, _ = strconv.Atoi(m.Tags[events.ServicePortTag])
	if sa := m.Tags[events.ServiceAddrTag]; sa != "" {
		o.Addr = sa
	}
	for k, v := range m.Tags {
		if name, ok := strings.CutPrefix(k, events.ServiceTagPrefix); ok {
			o.Tags[name] = v
		}
	}
	switch m.Status {
	case events.StatusAlive:
	case events.StatusLeft, events.StatusLeaving:
		o.Health = events.HealthLeft
	default:
		o.Health = events.HealthCritical
	}
	o.Passing = m.Status == events.StatusAlive && o.Health == events.HealthPassing
	return o
}

// Instances implements the HTTP API's Agent.
func (a *Agent) Instances(service string) []vigilhttp.Instance {
	out := []vigilhttp.Instance{}
	for _, m := range a.Members() {
		if m.Tags[events.ServiceTag] != service {
			continue
		}
		o := serviceOf(m)
		out = append(out, vigilhttp.Instance{Node: m.Name, Addr: o.Addr, Port: o.Port, Tags: o.Tags, Health: o.Health, Status: m.Status})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// RTT implements the HTTP API's Agent.
func (a *Agent) RTT(node string) (time.Duration, bool) {
	c := a.cluster.Load()
	if c == nil {
		return 0, false
	}
	return c.RTT(node)
}
