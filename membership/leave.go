package membership

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/vigil-agent/vigil/events"
)

// Serf's graceful leave is one gossiped intent followed by memberlist's
// leave. A peer that misses the intent, or gets memberlist's dead message
// first, reports the leaving member as failed, and a failover hook fires for
// what was a planned shutdown. vigil closes that gap: before serf's leave,
// the leaving agent sends a serf query, leaveQuery, asking every member for
// a delivery ack and waiting for all of them (bounded by leaveAnnounceTimeout).
// Each peer notes the name; a member-failed for a noted member is reported
// as member-leave, and serf's later "forced" member-leave for it is dropped
// as a duplicate.

// leaveQuery is the serf query a leaving vigil agent sends first.
const leaveQuery = "vigil-leave"

const (
	// leaveAnnounceTimeout bounds the wait for acks of the leave query.
	leaveAnnounceTimeout = 3 * time.Second
	// leaveAnnounceRound is how long one send of the query waits for acks
	// before it is sent again to the members that have not acked.
	leaveAnnounceRound = 500 * time.Millisecond
	// leavingMemory is how long a peer remembers a leave announcement.
	leavingMemory = 2 * time.Minute
)

// leaveTracker remembers announced leaves, on the drain goroutine only.
type leaveTracker struct {
	mu        sync.Mutex
	announced map[string]time.Time // member → when its leave was announced
	reported  map[string]bool      // member → a leave was already reported
}

func (t *leaveTracker) announce(name string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.announced == nil {
		t.announced = map[string]time.Time{}
	}
	t.announced[name] = now
}

// rewrite returns the event type to report for a member event, and false
// when the event is a duplicate to drop.
func (t *leaveTracker) rewrite(typ events.Type, name string, now time.Time) (events.Type, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n, at := range t.announced {
		if now.Sub(at) > leavingMemory {
			delete(t.announced, n)
		}
	}
	switch typ {
	case events.MemberFailed:
		if _, ok := t.announced[name]; ok {
			delete(t.announced, name)
			if t.reported == nil {
				t.reported = map[string]bool{}
			}
			t.reported[name] = true
			return events.MemberLeave, true
		}
	case events.MemberLeave:
		delete(t.announced, name)
		if t.reported[name] {
			delete(t.reported, name)
			return typ, false
		}
	case events.MemberJoin:
		delete(t.announced, name)
		delete(t.reported, name)
	}
	return typ, true
}

// announceLeave tells every alive member that this one is leaving and waits
// until all have acked or the timeout passes. Gossip reaches a random few
// members per round, so in a small cluster one send can miss a member
// entirely; the query is sent again, to the members that have not acked,
// in rounds of leaveAnnounceRound. It returns how many acked and how many
// were asked.
func (c *Cluster) announceLeave(ctx context.Context) (acked, asked int) {
	self := c.serf.LocalMember().Name
	pending := map[string]bool{}
	for _, m := range c.serf.Members() {
		if m.Status == serf.StatusAlive && m.Name != self {
			pending[m.Name] = true
		}
	}
	asked = len(pending)
	deadline := time.Now().Add(leaveAnnounceTimeout)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		names := make([]string, 0, len(pending))
		for n := range pending {
			names = append(names, n)
		}
		resp, err := c.serf.Query(leaveQuery, []byte(self), &serf.QueryParam{
			FilterNodes: queryFilter(names), RequestAck: true, Timeout: leaveAnnounceRound})
		if err != nil {
			c.logger.Warn().Err(err).Msg("could not announce leave")
			break
		}
		c.collectAcks(ctx, resp, pending)
	}
	return asked - len(pending), asked
}

// collectAcks removes acking members from pending until the query closes,
// none are pending, or ctx ends.
func (c *Cluster) collectAcks(ctx context.Context, resp *serf.QueryResponse, pending map[string]bool) {
	defer resp.Close()
	for len(pending) > 0 {
		select {
		case from, ok := <-resp.AckCh():
			if !ok {
				return
			}
			delete(pending, from)
		case <-ctx.Done():
			return
		}
	}
}

// handleQuery answers the queries vigil knows; others are ignored.
func (c *Cluster) handleQuery(q *serf.Query) {
	if h, ok := c.queries[q.Name]; ok {
		payload := append([]byte(nil), q.Payload...)
		go func() {
			if out := h(payload); out != nil {
				if err := q.Respond(out); err != nil {
					c.logger.Debug().Err(err).Str("query", q.Name).Msg("could not answer a query")
				}
			}
		}()
		return
	}
	switch q.Name {
	case leaveQuery:
		c.leaves.announce(string(q.Payload), time.Now())
		c.logger.Debug().Str("member", string(q.Payload)).Msg("member announced its leave")
	case pingQuery:
		go c.answerPing(q)
	case refuteQuery:
		c.answerRefute(q)
	case rejoinCheckQuery:
		c.answerRejoinCheck(q)
	}
}

// leftAfterAnnounce reports whether name was reported as having left on
// an announced leave while serf still calls it failed.
func (t *leaveTracker) leftAfterAnnounce(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reported[name]
}
