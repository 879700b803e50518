package membership

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/serf/serf"
)

// ForceLeave errors; Cluster.ForceLeave wraps them with the member's name.
var (
	// ErrUnknownMember: no member of that name is known here.
	ErrUnknownMember = errors.New("no such member")
	// ErrNotFailed: the member is alive (or leaving, or this member), so
	// forcing it out would only make it refute: serf itself does not
	// refuse, it marks an alive member leaving until the member answers.
	ErrNotFailed = errors.New("only a failed member can be forced to leave")
)

// ForceLeave marks a failed member as left across the cluster (serf's
// RemoveFailedNode), for a member that will never come back: peers stop
// trying to reconnect to it and report member-leave, and it no longer
// counts as failed. With prune, it is also erased from every member list
// at once (member-reap) instead of after serf's tombstone timeout (24 h).
// A member that already left is erased with prune and left alone without.
// Errors wrap ErrUnknownMember or ErrNotFailed, or are serf's (the
// broadcast timing out).
func (c *Cluster) ForceLeave(name string, prune bool) error {
	self := c.serf.LocalMember().Name
	var status serf.MemberStatus
	found := false
	for _, m := range c.serf.Members() {
		if m.Name == name {
			status, found = m.Status, true
			break
		}
	}
	switch {
	case !found:
		return fmt.Errorf("force-leave %q: %w", name, ErrUnknownMember)
	case name == self:
		return fmt.Errorf("force-leave %q: it is this agent: %w; use vigil leave", name, ErrNotFailed)
	case status == serf.StatusAlive || status == serf.StatusLeaving:
		return fmt.Errorf("force-leave %q: it is %s: %w; stop it with vigil leave on its host", name, status, ErrNotFailed)
	case status == serf.StatusLeft && !prune:
		return nil
	}
	remove := c.serf.RemoveFailedNode
	if prune {
		remove = c.serf.RemoveFailedNodePrune
	}
	if err := remove(name); err != nil {
		return fmt.Errorf("force-leave %q: %w", name, err)
	}
	c.logger.Info().Str("member", name).Bool("prune", prune).Str("was", status.String()).Msg("forced a failed member to leave")
	if prune {
		go c.repeatPrune(name)
	}
	return nil
}

// pruneRepeats are the delays after a pruning force-leave at which it is
// gossiped again.
//
// serf gossips the prune once, RetransmitMult × log10(N+1) times (twice
// with the local profile below ten members), some copies to the dead
// member itself while memberlist still gossips to it. A member that gets
// no copy keeps the member as left until serf's tombstone timeout (24 h):
// push/pull does not carry prunes, and the members that did prune no
// longer know the member at all. Repeating the prune (a newer Lamport
// time, a full retransmit budget) makes one lost packet harmless; members
// that already pruned just note the intent. A member that came back
// meanwhile is left alone.
var pruneRepeats = []time.Duration{time.Second, 3 * time.Second}

// repeatPrune gossips the prune of name again at pruneRepeats, unless the
// member is back or gossip stops.
func (c *Cluster) repeatPrune(name string) {
	start := time.Now()
	for _, d := range pruneRepeats {
		if !c.sleepUntil(start.Add(d)) {
			return
		}
		if c.serf.State() != serf.SerfAlive {
			return
		}
		for _, m := range c.serf.Members() {
			if m.Name == name && m.Status == serf.StatusAlive {
				return // it came back
			}
		}
		if err := c.serf.RemoveFailedNodePrune(name); err != nil {
			c.logger.Debug().Err(err).Str("member", name).Msg("repeating a force-leave prune")
		}
	}
}
