// Package http serves vigil's local HTTP API: JSON over 127.0.0.1 by
// default. It talks to the agent only through the Agent interface. Callers
// import it under another name (vigilhttp) to keep net/http's name free.
package http

import (
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/probes"
)

// Self is GET /v1/self: the local member record plus agent facts.
type Self struct {
	events.Member
	// Profile is the gossip timing profile.
	Profile string `json:"profile"`
	// Version is vigil's version.
	Version string `json:"version"`
	// HTTPAddr is the address this API listens on.
	HTTPAddr string `json:"http_addr"`
	// Service is the local service's name, empty when none is set.
	Service string `json:"service,omitempty"`
	// Health is the local service's health, empty when no service is set.
	Health events.HealthStatus `json:"health,omitempty"`
	// MaintenanceReason is set while the instance is in maintenance.
	MaintenanceReason string `json:"maintenance_reason,omitempty"`
}

// Agent is what the HTTP API needs from the running agent.
type Agent interface {
	// Members returns every known member, sorted by name.
	Members() []events.Member
	// Self returns the local member and agent facts.
	Self() Self
	// Join joins the cluster through the given host:port addresses and
	// returns how many it reached.
	Join(addrs []string) (int, error)
	// Leave starts a graceful leave, after which the agent exits. It
	// returns once the leave has started.
	Leave() error
	// UserEvent fires a user event across the cluster. Its errors are the
	// caller's: an error wrapping ErrRateLimited (the event's name is over
	// the rate limit) is answered 429, any other (a name or payload over
	// serf's size limit) 400.
	UserEvent(name string, payload []byte) error
	// Events is the agent's event ring.
	Events() *events.Ring
	// HookRuns returns the recent hook runs, oldest first.
	HookRuns() []events.Run

	// Checks returns the local checks' states, sorted by id.
	Checks() []probes.State
	// UpdateTTL reports a TTL check's status. Errors wrap
	// probes.ErrUnknownCheck (404) or probes.ErrNotTTL (400).
	UpdateTTL(id string, status probes.Status, note string) error
	// Instances returns every member offering the named service, sorted by
	// node name. A member that is not alive has health critical.
	Instances(service string) []Instance
	// RTT estimates the round trip to a member from network coordinates;
	// false when unknown.
	RTT(node string) (time.Duration, bool)
	// SetMaintenance drains (enable) or restores this instance; peers see
	// health "maintenance" and stop picking it.
	SetMaintenance(enable bool, reason string) error

	// FailoverStatus returns the failover guards' state.
	FailoverStatus() failover.Status
	// ReleaseFailover lifts the mass-failure brake; it reports whether the
	// brake was engaged.
	ReleaseFailover() bool
	// Reload re-reads the configuration and applies what it can; its
	// errors are the configuration's (400).
	Reload() (ReloadResult, error)

	// ForceLeave marks a failed member as left across the cluster (and,
	// with prune, erases it from the member lists), for a member that will
	// never come back. Errors wrap ErrUnknownMember (404) or
	// ErrMemberNotFailed (409); others are answered 500.
	ForceLeave(name string, prune bool) error
}

// Instance is one member offering a service, as GET /v1/health/service
// and GET /v1/pick return it.
type Instance struct {
	// Node is the member's name.
	Node string `json:"node"`
	// Addr is where the service answers (the member's address unless the
	// service sets its own).
	Addr string `json:"addr"`
	// Port is the service's port.
	Port int `json:"port"`
	// Tags are the service's tags.
	Tags map[string]string `json:"tags"`
	// Health is passing, warning, critical or maintenance, and left once
	// the member left gracefully.
	Health events.HealthStatus `json:"health"`
	// Status is the member's status: alive, leaving, left, failed.
	Status events.MemberStatus `json:"status"`
}

// ReloadResult answers POST /v1/reload: what the reload changed.
type ReloadResult struct {
	// HooksAdded, HooksChanged and HooksRemoved name hooks by change.
	HooksAdded   []string `json:"hooks_added"`
	HooksChanged []string `json:"hooks_changed"`
	HooksRemoved []string `json:"hooks_removed"`
	// ChecksChanged is true when the checks were restarted.
	ChecksChanged bool `json:"checks_changed"`
	// LogLevel is the new log level, when it changed.
	LogLevel string `json:"log_level,omitempty"`
	// NeedsRestart names changed settings that take effect only after a
	// restart.
	NeedsRestart []string `json:"needs_restart"`
}
