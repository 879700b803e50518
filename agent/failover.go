package agent

import (
	"github.com/vigil-agent/vigil/events"
)

// clusterView gives failover coordination the agent's view of the cluster
// and its way to announce and emit.
type clusterView struct{ a *Agent }

// Members implements events.ClusterView.
func (v clusterView) Members() []events.Member { return v.a.Members() }

// Self implements events.ClusterView.
func (v clusterView) Self() events.Member { return v.a.selfMember() }

// Announce implements events.ClusterView: a user event every agent gets.
func (v clusterView) Announce(payload []byte) error {
	return v.a.UserEvent(events.AnnounceEvent, payload)
}

// Emit implements events.ClusterView.
func (v clusterView) Emit(ev events.Event) { v.a.publish(ev) }

// ConfirmQuorum implements events.ClusterView.
func (v clusterView) ConfirmQuorum() (int, int) {
	c := v.a.cluster.Load()
	if c == nil {
		return 0, 1
	}
	return c.ConfirmQuorum()
}

// ReleaseFailover lifts the mass-failure brake here and, by a user event,
// on every agent; it reports whether the brake was engaged here.
func (a *Agent) ReleaseFailover() bool {
	was := a.runner.ReleaseBrake()
	if err := a.UserEvent(events.ReleaseEvent, nil); err != nil {
		a.log.Error().Err(err).Msg("could not tell the other agents to release the brake")
	}
	return was
}

// FailoverStatus returns the failover guards' state.
func (a *Agent) FailoverStatus() events.FailoverStatus { return a.runner.FailoverStatus() }
