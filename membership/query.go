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
		resp, err := c.serf.Query(quorumQuery, nil, &serf.QueryParam{FilterNodes: queryFilter(names), RequestAck: true, Timeout: leaveAnnounceRound})
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

// queryFilterBudget is how many bytes of a serf query the names of its
// FilterNodes may take. serf refuses to send a query whose encoding is
// larger than its QuerySizeLimit (1,024 bytes by default) with "query
// exceeds limit"; the query's own fields (name, payload, the sender's
// name and address, ids and times) take the rest. About 60 members of
// 10-character names fit; at N = 100 every leave announcement failed with
// that error, acked by nobody (docs/benchmarks.md, Join anti-entropy).
const queryFilterBudget = 600

// queryFilter returns names as a query's FilterNodes when they fit in
// queryFilterBudget, or nil: the query then goes to every member, and the
// caller keeps only the answers and acks of the members it asked.
func queryFilter(names []string) []string {
	size := 0
	for _, n := range names {
		size += len(n) + 2 // msgpack: a string header of 1-2 bytes
	}
	if size > queryFilterBudget {
		return nil
	}
	return names
}

// Ask sends the serf query name with payload to the named members only
// and returns the responses that arrive within timeout or before ctx ends,
// by member. A member that is unreachable simply does not answer.
func (c *Cluster) Ask(ctx context.Context, name string, to []string, payload []byte, timeout time.Duration) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(to) == 0 {
		return out, nil
	}
	asked := make(map[string]bool, len(to))
	for _, n := range to {
		asked[n] = true
	}
	resp, err := c.serf.Query(name, payload, &serf.QueryParam{FilterNodes: queryFilter(to), Timeout: timeout})
	if err != nil {
		return out, fmt.Errorf("query %s: %w", name, err)
	}
	defer resp.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for len(out) < len(asked) {
		select {
		case r, ok := <-resp.ResponseCh():
			if !ok {
				return out, nil
			}
			if asked[r.From] {
				out[r.From] = r.Payload
			}
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}
