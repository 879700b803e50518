package membership

import (
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Timing overrides the failure-detection and gossip timings of a profile.
// A zero field keeps the profile's value (memberlist's for the first six,
// serf's for the reconnect pair). The agent validates the values; this
// package applies them as given.
type Timing struct {
	// ProbeInterval is how often this member probes one other member.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes start. It must be shorter than ProbeInterval.
	ProbeTimeout time.Duration
	// SuspicionMult scales the suspicion timeout (a multiple of
	// ProbeInterval and of log10 of the cluster size).
	SuspicionMult int
	// GossipInterval is how often gossip messages are sent.
	GossipInterval time.Duration
	// GossipNodes is how many random members each gossip round reaches.
	GossipNodes int
	// RetransmitMult scales how many times a message is retransmitted
	// (RetransmitMult × log10(N+1)).
	RetransmitMult int
	// ReconnectInterval is how often serf tries to reconnect to failed
	// members.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long serf keeps trying a failed member before
	// it reaps it from the member list.
	ReconnectTimeout time.Duration
}

// applyMemberlist sets the memberlist fields of t that are not zero.
func (t Timing) applyMemberlist(c *memberlist.Config) {
	if t.ProbeInterval > 0 {
		c.ProbeInterval = t.ProbeInterval
	}
	if t.ProbeTimeout > 0 {
		c.ProbeTimeout = t.ProbeTimeout
	}
	if t.SuspicionMult > 0 {
		c.SuspicionMult = t.SuspicionMult
	}
	if t.GossipInterval > 0 {
		c.GossipInterval = t.GossipInterval
	}
	if t.GossipNodes > 0 {
		c.GossipNodes = t.GossipNodes
	}
	if t.RetransmitMult > 0 {
		c.RetransmitMult = t.RetransmitMult
	}
}

// applySerf sets the serf fields of t that are not zero.
func (t Timing) applySerf(c *serf.Config) {
	if t.ReconnectInterval > 0 {
		c.ReconnectInterval = t.ReconnectInterval
	}
	if t.ReconnectTimeout > 0 {
		c.ReconnectTimeout = t.ReconnectTimeout
	}
}

// timingOf returns the timings memberlist and serf will run with.
func timingOf(ml *memberlist.Config, sc *serf.Config) Timing {
	return Timing{
		ProbeInterval:     ml.ProbeInterval,
		ProbeTimeout:      ml.ProbeTimeout,
		SuspicionMult:     ml.SuspicionMult,
		GossipInterval:    ml.GossipInterval,
		GossipNodes:       ml.GossipNodes,
		RetransmitMult:    ml.RetransmitMult,
		ReconnectInterval: sc.ReconnectInterval,
		ReconnectTimeout:  sc.ReconnectTimeout,
	}
}

// EffectiveTiming returns the timings a member of profile p runs with once
// the non-zero fields of overrides are applied.
func EffectiveTiming(p Profile, overrides Timing) (Timing, error) {
	ml, err := MemberlistConfig(p)
	if err != nil {
		return Timing{}, err
	}
	sc := serf.DefaultConfig()
	overrides.applyMemberlist(ml)
	overrides.applySerf(sc)
	return timingOf(ml, sc), nil
}

// Timing returns the timings this member runs with: its profile's, with
// the configured overrides applied.
func (c *Cluster) Timing() Timing { return c.timing }
