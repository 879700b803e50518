package agent

import (
	"context"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
)

// claimQuery is the serf query that carries the failover claim protocol
// (events/failover: claims, renewals, completions, releases).
const claimQuery = "vigil-claim"

// clusterView gives failover coordination the agent's view of the cluster
// and its way to announce and emit.
type clusterView struct{ a *Agent }

// Members implements failover.ClusterView.
func (v clusterView) Members() []events.Member { return v.a.Members() }

// Self implements failover.ClusterView.
func (v clusterView) Self() events.Member { return v.a.selfMember() }

// Announce implements failover.ClusterView: a user event every agent gets.
func (v clusterView) Announce(payload []byte) error {
	return v.a.fireUserEvent(failover.AnnounceEvent, payload)
}

// Emit implements failover.ClusterView.
func (v clusterView) Emit(ev events.Event) { v.a.publish(ev) }

// ConfirmQuorum implements failover.ClusterView.
func (v clusterView) ConfirmQuorum() (int, int) {
	c := v.a.cluster.Load()
	if c == nil {
		return 0, 1
	}
	return c.ConfirmQuorum()
}

// Ask implements failover.ClusterView: a claim protocol request to the named
// members, as a serf query.
func (v clusterView) Ask(ctx context.Context, to []string, payload []byte, timeout time.Duration) map[string][]byte {
	c := v.a.cluster.Load()
	if c == nil {
		select { // no gossip yet: nobody answers
		case <-ctx.Done():
		case <-time.After(timeout):
		}
		return nil
	}
	out, err := c.Ask(ctx, claimQuery, to, payload, timeout)
	if err != nil {
		v.a.log.Warn().Err(err).Msg("failover claim query")
	}
	return out
}

// drainFailovers lets the failover runs this agent holds claims for finish
// (bounded by their hooks' timeouts) before it leaves the cluster, or kills
// them and releases their claims, so a rolling restart never leaves a run
// going while another member takes over.
func (a *Agent) drainFailovers() {
	d := a.coord.DrainTimeout()
	if d > 0 {
		a.log.Info().Dur("up_to", d).Msg("waiting for the failover runs under way before leaving")
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	a.coord.Drain(ctx)
}

// Remembered implements failover.ClusterView.
func (v clusterView) Remembered() []string {
	if c := v.a.cluster.Load(); c != nil {
		return c.Remembered()
	}
	return nil
}

// ReleaseFailover lifts the mass-failure brake here and, by a user event,
// on every agent; it reports whether the brake was engaged here.
func (a *Agent) ReleaseFailover() bool {
	was := a.coord.Release()
	if err := a.fireUserEvent(failover.ReleaseEvent, nil); err != nil {
		a.log.Error().Err(err).Msg("could not tell the other agents to release the brake")
	}
	return was
}

// FailoverStatus returns the failover guards' state.
func (a *Agent) FailoverStatus() failover.Status { return a.coord.Status() }
