package membership

import (
	"bytes"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"
)

// Re-announcing after a refutation.
//
// When a peer accuses this member (a suspect or dead message about it),
// memberlist refutes: it takes a newer incarnation and gossips one alive
// message, retransmitted RetransmitMult × log10(N+1) times (twice with the
// local profile below ten members). Every peer that adopted the accusation
// started its own suspicion timer for this member and stops it only when
// that alive message reaches it. If no copy does, the timer runs out and
// the peer declares this live member failed. Copies are lost more often
// than the numbers suggest: some go to the accuser itself, and when the
// accuser is a host that can send but not receive (a broken receive path,
// a one-way firewall) they are wasted on it; and memberlist gives no second
// chance: a peer probing a suspect member attaches the suspicion to its
// ping, but memberlist ignores an accusation older than its incarnation
// without refuting again. The e2e test TestReceiveDeadHost saw one live
// member declared failed in about one run in three that way.
//
// vigil therefore re-announces the member after every refutation: a fresh
// alive message with a newer incarnation and the same tags (memberlist's
// UpdateNode, which serf's SetTags uses), each with a full retransmit
// budget of its own, at reannounceDelays after the refutation. Peers that
// already heard the refutation take the newer incarnation silently (no
// member event: the tags have not changed). Refutations that arrive while
// a round is under way join that round, so a member accused by many peers
// at once sends at most len(reannounceDelays) extra alive messages per
// round.

// reannounceDelays are the delays after a refutation at which the member
// re-announces itself, in probe intervals. The first lets the refutation's
// own retransmissions go out first; both fall well inside the shortest
// suspicion timeout (SuspicionMult probe intervals, at least 3), so a peer
// holding the accusation hears one of them before its timer can expire.
var reannounceDelays = []float64{0.5, 1.5}

// refutationMarks are memberlist's log messages for a refutation of an
// accusation against this member (state.go: suspectNode, deadNode).
// memberlist has no callback for them; its logger is the only signal.
var refutationMarks = [][]byte{
	[]byte("memberlist: Refuting a suspect message"),
	deadRefutationMark,
}

// deadRefutationMark is memberlist's log message for the refutation of a
// dead message: some member declared this one failed.
var deadRefutationMark = []byte("memberlist: Refuting a dead message")

// isRefutation reports whether a memberlist log line reports a refutation.
func isRefutation(line []byte) bool {
	for _, m := range refutationMarks {
		if bytes.Contains(line, m) {
			return true
		}
	}
	return false
}

// reannounceLoop runs rounds of re-announcements, one round per burst of
// refutations, until the cluster stops.
func (c *Cluster) reannounceLoop() {
	defer close(c.reannounceDone)
	interval := c.timing.ProbeInterval
	for {
		select {
		case <-c.stop:
			return
		case <-c.refuted:
		}
		start := time.Now()
		for _, d := range reannounceDelays {
			if !c.sleepUntil(start.Add(time.Duration(d * float64(interval)))) {
				return
			}
			// Refutations since the round began are covered by this round.
			select {
			case <-c.refuted:
			default:
			}
			c.reannounce(min(interval, time.Second))
		}
	}
}

// reannounce gossips a fresh alive message for the local member, with the
// next epoch tag (so a member that was declared failed comes back with a
// new failover key; peers report no member-update for it), unless it is
// leaving or gone, or this agent sees a membership storm (storm.go). serf's SetTags waits up to its broadcast timeout for
// the message to go out (SetTags and Shutdown wait behind it).
func (c *Cluster) reannounce(time.Duration) {
	c.tagsMu.Lock()
	defer c.tagsMu.Unlock()
	if c.serf.State() != serf.SerfAlive {
		return
	}
	if c.inStorm() {
		gometrics.IncrCounter([]string{"membership", "reannounce_skipped"}, 1)
		c.logger.Debug().Msg("no re-announcement in a membership storm (storm.go)")
		return
	}
	c.reannounced.Add(1)
	gometrics.IncrCounter([]string{"membership", "reannounce"}, 1)
	if err := c.serf.SetTags(c.withEpoch(c.serf.LocalMember().Tags)); err != nil {
		// The message is queued; only the wait for its sending timed out.
		c.logger.Debug().Err(err).Msg("re-announce after a refutation")
		return
	}
	c.logger.Debug().Msg("re-announced this member after refuting an accusation")
}
