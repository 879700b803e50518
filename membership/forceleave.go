package membership

import (
	"errors"
	"fmt"

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
	return nil
}
