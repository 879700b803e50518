// Package http serves vigil's local HTTP API: JSON over 127.0.0.1 by
// default. It talks to the agent only through the Agent interface. Callers
// import it under another name (vigilhttp) to keep net/http's name free.
package http

import (
	"github.com/vigil-agent/vigil/events"
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
	// caller's (a name or payload over serf's size limit).
	UserEvent(name string, payload []byte) error
	// Events is the agent's event ring.
	Events() *events.Ring
	// HookRuns returns the recent hook runs, oldest first.
	HookRuns() []events.Run
}
