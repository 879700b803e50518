// Package events holds vigil's event model (Event, Member, the event
// types and the tags vigil reserves), the filters that select events, the
// event ring served over HTTP and the run record (Run). The hook runner is
// in events/hook, its journal in events/journal, failover coordination in
// events/failover. It knows nothing of serf: the membership package
// translates serf's events into the types defined here.
package events

import (
	"time"
)

// MemberStatus is a member's status (Member.Status): serf's names.
type MemberStatus string

// The member statuses.
const (
	StatusAlive   MemberStatus = "alive"
	StatusLeaving MemberStatus = "leaving"
	StatusLeft    MemberStatus = "left"
	StatusFailed  MemberStatus = "failed"
)

// HealthStatus is a health: a service's (HealthChange.Status, the health
// tag, an instance's health in the APIs), the worst of its checks or
// maintenance, and a check's own (CheckChange.Status). A type of its own,
// like MemberStatus, so that a health is not compared with a member
// status or a stray string without a conversion; in JSON it is the plain
// string.
type HealthStatus string

// The health statuses. A check's status is passing, warning or critical.
const (
	HealthPassing     HealthStatus = "passing"
	HealthWarning     HealthStatus = "warning"
	HealthCritical    HealthStatus = "critical"
	HealthMaintenance HealthStatus = "maintenance"
	// HealthLeft is an instance's health once its member left gracefully
	// (stopped on purpose, not broken); never gossiped.
	HealthLeft HealthStatus = "left"
)

// Type names a kind of event. The names are serf's, so a filter written for
// a serf agent means the same here.
type Type string

// The event types vigil emits.
const (
	MemberJoin   Type = "member-join"
	MemberLeave  Type = "member-leave"
	MemberFailed Type = "member-failed"
	MemberUpdate Type = "member-update"
	MemberReap   Type = "member-reap"
	User         Type = "user"
	// Check: a local check changed status (seen only on this agent).
	Check Type = "check"
	// Health: a member's service health changed (seen on every agent).
	Health Type = "health"
)

// MemberTypes lists the membership event types, in the order serf lists them.
var MemberTypes = []Type{MemberJoin, MemberLeave, MemberFailed, MemberUpdate, MemberReap}

// IsMember reports whether t is one of the membership event types.
func (t Type) IsMember() bool {
	for _, m := range MemberTypes {
		if t == m {
			return true
		}
	}
	return false
}

// Member is one cluster member as vigil shows it: in the HTTP API, in hook
// stdin and in events.
type Member struct {
	// Name is the member's unique node name.
	Name string `json:"name"`
	// Addr is the member's gossip IP address, without port.
	Addr string `json:"addr"`
	// Port is the member's gossip port.
	Port uint16 `json:"port"`
	// Status is serf's member status: alive, leaving, left, failed.
	Status MemberStatus `json:"status"`
	// Tags are the member's serf tags.
	Tags map[string]string `json:"tags"`
}

// Health returns the service health the member gossips (its health tag),
// "" when it gossips none.
func (m Member) Health() HealthStatus { return HealthStatus(m.Tags[HealthTag]) }

// UserEvent is the body of a custom event fired with `vigil event` or
// POST /v1/event.
type UserEvent struct {
	// Name is the user event's name, matched by the `user:NAME` filter.
	Name string `json:"name"`
	// Payload is the event's opaque payload.
	Payload string `json:"payload"`
	// LTime is serf's Lamport time of the event.
	LTime uint64 `json:"ltime"`
}

// Event is one thing that happened, as hooks and the HTTP API see it.
type Event struct {
	// ID is unique on this agent and increases with every event.
	ID uint64 `json:"id"`
	// Type is the event type, such as member-failed.
	Type Type `json:"event"`
	// Time is when this agent received the event.
	Time time.Time `json:"time"`
	// Members are the members the event concerns (membership events only).
	Members []Member `json:"members,omitempty"`
	// User is set for user events.
	User *UserEvent `json:"user_event,omitempty"`
	// Check is set for check events.
	Check *CheckChange `json:"check,omitempty"`
	// Health is set for health events.
	Health *HealthChange `json:"health,omitempty"`
	// Key is the failure's cluster-wide key, the same on every agent, set
	// on the event a run_on: one hook runs for.
	Key string `json:"key,omitempty"`
	// TakeoverFrom names the runner this agent took a failover over from,
	// when the first choice died before announcing.
	TakeoverFrom string `json:"takeover_from,omitempty"`
	// Fence is the fencing token of a claimed failover run: larger than
	// the fence of every earlier grant of the same task, cluster-wide
	// (VIGIL_FENCE). Zero for runs that are not claimed.
	Fence uint64 `json:"fence,omitempty"`
	// RefutedBy is set on a refuted event: who reached the member that
	// serf declared failed, "direct" (this agent) or a member's name.
	RefutedBy string `json:"refuted_by,omitempty"`
}

// CheckChange is the body of a check event: a local check changed status.
type CheckChange struct {
	// ID is the check's id, matched by the `check:ID` filter.
	ID string `json:"id"`
	// Status is the new status: passing, warning or critical.
	Status HealthStatus `json:"status"`
	// Previous is the status before the change.
	Previous HealthStatus `json:"previous"`
	// Output is the probe's output that caused the change.
	Output string `json:"output"`
}

// HealthChange is the body of a health event: a member's service health
// changed, as gossiped in its tags.
type HealthChange struct {
	// Service is the service's name.
	Service string `json:"service"`
	// Status is the new health: passing, warning, critical or maintenance,
	// matched by the `health:STATUS` filter.
	Status HealthStatus `json:"status"`
	// Previous is the health before the change.
	Previous HealthStatus `json:"previous"`
}

// HealthStatuses are the values of a member's gossiped service health.
var HealthStatuses = []HealthStatus{HealthPassing, HealthWarning, HealthCritical, HealthMaintenance}

// Subject returns the member the event concerns, if it concerns exactly one.
func (e *Event) Subject() (Member, bool) {
	if len(e.Members) != 1 {
		return Member{}, false
	}
	return e.Members[0], true
}

// Tag keys vigil reserves in a member's serf tags to gossip its service.
const (
	// ServiceTag holds the service's name.
	ServiceTag = "service"
	// ServicePortTag holds the port the service answers on.
	ServicePortTag = "service_port"
	// ServiceAddrTag holds the address the service answers on, when it is
	// not the member's gossip address.
	ServiceAddrTag = "service_addr"
	// HealthTag holds the service's health: passing, warning, critical or
	// maintenance.
	HealthTag = "health"
	// ServiceTagPrefix prefixes the service's own tags (svc:version=1.4).
	ServiceTagPrefix = "svc:"
)

// Tag keys the failover coordination reads from every member.
const (
	// BootTag holds a value unique to each start of an agent, so a failure
	// has the same key on every agent: subject@boot:event.
	BootTag = "boot"
	// HealthSeqTag counts a member's health changes, so a health failure
	// has the same key on every agent too.
	HealthSeqTag = "health_seq"
	// EpochTag counts the announcements this start of an agent made of
	// itself (tag changes, re-announcements after a refutation): a member
	// declared failed comes back only through one, so with the boot tag it
	// names one life of a member, and a member that comes back and fails
	// again gets a new failure key, the same on every agent.
	EpochTag = "epoch"
)

// The event types of the failover guards.
const (
	// Damped: a member flapped (failed then alive) more than flap_limit
	// times within flap_window; failover hooks for it are held.
	Damped Type = "damped"
	// Brake: more than brake_fraction of the cluster failed within
	// brake_window; failover hooks are held until released.
	Brake Type = "brake"
	// Refuted: serf declared a member failed, and the member answered
	// when this agent checked it (confirm_failures): no member-failed
	// event, so no member-failed hook, follows.
	Refuted Type = "refuted"
)
