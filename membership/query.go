package membership

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/serf/serf"
)

// The serf queries failover coordination sends: the quorum confirmation
// and the named-member questions of the claim protocol.

// quorumQuery is the serf query a vigil agent sends to confirm quorum
// before a quorum-guarded failover; the agents only ack it.
const quorumQuery = "vigil-quorum"

// quorumConfirmTimeout bounds the wait for acks of the quorum query.
const quorumConfirmTimeout = 2 * time.Second

// ConfirmQuorum asks every member this agent sees alive for a direct ack
// and returns how many answered, this agent included, and how many
// members count toward quorum (every one not known to have left).
func (c *Cluster) ConfirmQuorum() (acked, total int) {
	self := c.serf.LocalMember().Name
	pending := map[string]bool{}
	for _, m := range c.serf.Members() {
		if m.Status == serf.StatusLeft || (m.Status == serf.StatusFailed && c.leaves.leftAfterAnnounce(m.Name)) {
			continue
		}
		total++
		if m.Status == serf.StatusAlive && m.Name != self {
			pending[m.Name] = true
		}
	}
	asked := len(pending)
	if asked == 0 {
		return 1, total
	}
	// Sent again, in rounds, to the members that have not acked: a query's
	// gossip can miss a member, and acks travel by UDP (on the local
	// profile one send alone left members unheard in about half the tries).
	ctx, cancel := context.WithTimeout(context.Background(), quorumConfirmTimeout)
	defer cancel()
	for len(pending) > 0 && ctx.Err() == nil {
		names := make([]string, 0, len(pending))
		for n := range pending {
			names = append(names, n)
		}
		resp, err := c.serf.Query(quorumQuery, nil, &serf.QueryParam{FilterNodes: names, RequestAck: true, Timeout: leaveAnnounceRound})
		if err != nil {
			c.logger.Warn().Err(err).Msg("could not ask the members to confirm quorum")
			break
		}
		round, stop := context.WithTimeout(ctx, leaveAnnounceRound)
		c.collectAcks(round, resp, pending)
		stop()
	}
	return 1 + asked - len(pending), total
}

// Ask sends the serf query name with payload to the named members only
// and returns the responses that arrive within timeout or before ctx ends,
// by member. A member that is unreachable simply does not answer.
func (c *Cluster) Ask(ctx context.Context, name string, to []string, payload []byte, timeout time.Duration) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(to) == 0 {
		return out, nil
	}
	resp, err := c.serf.Query(name, payload, &serf.QueryParam{FilterNodes: to, Timeout: timeout})
	if err != nil {
		return out, fmt.Errorf("query %s: %w", name, err)
	}
	defer resp.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for len(out) < len(to) {
		select {
		case r, ok := <-resp.ResponseCh():
			if !ok {
				return out, nil
			}
			out[r.From] = r.Payload
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}
