package membership

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"
)

// The rejoin check.
//
// A member that rejoins (a restart under its name, the remembered peers
// of a data dir, a refuted "dead" message) reaches the others by gossip:
// the join's alive message and its two re-announcements (joinsync.go),
// each an epidemic that a member can miss entirely, and rounds of
// push/pulls with two random members each, which stop once the rejoining
// member's own view settles. A member that missed all of them keeps the
// member's previous life as left, and it does harm: at each push/pull
// (memberlist's periodic one, 30-60 s apart at N = 50) serf hands its
// left members on as leave intents one Lamport tick newer than the
// status time it holds (serf's MergeRemoteState), which can outrank the
// rejoin's join intent. The peer then lists the live member "leaving",
// silently: a leave intent taken from a push/pull is not gossiped on, so
// the rejoining member never hears it and never refutes it. Both were
// seen in TestJoinSyncRestartMissedByOne; the rejoining member cannot aim
// its rounds at such members, since it does not know who they are.
//
// So after its second round and again after its last, a rejoining member
// asks every member, with one serf query (rejoinCheckQuery), whether it
// lists it alive at its current address. A member that does says nothing;
// one that does not answers what it lists instead (left, leaving, failed,
// alive at an old address, unknown). The rejoining member runs a serf
// join with the members that answered, at most rejoinRepairMax of them
// per check: the push/pulls bring them the new life, and this member's
// clock witnesses theirs, so the join intent that follows, gossiped to
// every member, is newer than any leave intent they hold or have handed
// on. The members that answered sync with nobody themselves: a push/pull
// of a stale view with a third member would hand that member the leave
// intent. The cost is two queries per rejoin, not per join, none in a
// membership storm (storm.go), and at most rejoinRepairMax push/pulls
// per check. Every agent answers the check, whatever its own
// join_sync_rounds.

// rejoinCheckQuery is the serf query of the rejoin check; its payload is
// a rejoinCheck.
const rejoinCheckQuery = "vigil-rejoin-check"

// rejoinCheck is the payload of rejoinCheckQuery: the rejoining member's
// name and gossip address (host:port).
type rejoinCheck struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// sendRejoinCheck asks every member whether it lists this one alive at
// its address (rejoinCheckQuery); after names the round it follows, for
// the log. It does not wait: the answers are handled as they arrive,
// until the query's timeout (repairRejoins).
func (c *Cluster) sendRejoinCheck(after string) {
	if c.inStorm() {
		gometrics.IncrCounter([]string{"membership", "rejoin_check_skipped"}, 1)
		c.logger.Debug().Msg("no rejoin check in a membership storm (storm.go)")
		return
	}
	self := c.serf.LocalMember()
	payload, _ := json.Marshal(rejoinCheck{Name: self.Name, Addr: memberAddr(self)})
	resp, err := c.serf.Query(rejoinCheckQuery, payload, nil)
	if err != nil {
		c.logger.Debug().Err(err).Msg("could not send the rejoin check")
		return
	}
	c.rejoinChecks.Add(1)
	gometrics.IncrCounter([]string{"membership", "rejoin_check"}, 1)
	c.logger.Debug().Str("after", after).Msg("rejoin check sent")
	go c.repairRejoins(resp)
}

// repairRejoins runs a serf join with the members that answer a rejoin
// check (they do not list this member alive), the answers of
// rejoinRepairBatch taken together, until rejoinRepairMax were joined or
// the query's answers end.
func (c *Cluster) repairRejoins(resp *serf.QueryResponse) {
	answers := resp.ResponseCh()
	for joined := 0; answers != nil && joined < rejoinRepairMax; {
		had := map[string]string{}
		select {
		case r, ok := <-answers:
			if !ok {
				return
			}
			had[r.From] = string(r.Payload)
		case <-c.stop:
			return
		}
		wait := time.NewTimer(rejoinRepairBatch)
	batching:
		for {
			select {
			case r, ok := <-answers:
				if !ok {
					answers = nil
					break batching
				}
				had[r.From] = string(r.Payload)
			case <-wait.C:
				break batching
			case <-c.stop:
				wait.Stop()
				return
			}
		}
		wait.Stop()
		var batch []string
		for _, m := range c.serf.Members() {
			if _, ok := had[m.Name]; ok && m.Addr != nil {
				batch = append(batch, m.Name+"/"+memberAddr(m))
			}
		}
		rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		batch = batch[:min(len(batch), rejoinRepairMax-joined)]
		if len(batch) == 0 {
			continue
		}
		n, err := c.serf.Join(batch, false)
		joined += len(batch)
		c.rejoinRepairs.Add(uint64(n))
		gometrics.IncrCounter([]string{"membership", "rejoin_repair"}, float32(n))
		c.logger.Info().Interface("had", had).Int("joined", len(batch)).Int("synced", n).AnErr("error", err).
			Msg("rejoin check: members had missed this one's rejoin: joined them again")
	}
	// Later answers are not read: serf drops what its buffer cannot take.
}

// rejoinRepairBatch is how long repairRejoins gathers answers after the
// first before it joins the members that answered, in one serf join (one
// join intent for them all).
const rejoinRepairBatch = 200 * time.Millisecond

// rejoinRepairMax is how many of the members that answered one check the
// rejoining member joins again, at random. One join intent newer than
// the stale ones reaches every member by gossip, so a few pushes and
// pulls are enough to repair many; a check answered by dozens (a cluster
// still converging, or overloaded) must not add dozens of push/pulls of
// the whole member list (about 100 bytes a member) to the load.
const rejoinRepairMax = 3

// memberAddr is m's gossip address as host:port.
func memberAddr(m serf.Member) string {
	if m.Addr == nil {
		return ""
	}
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// answerRejoinCheck answers a rejoinCheckQuery when this member does not
// list the sender alive at its address: with what it lists instead.
func (c *Cluster) answerRejoinCheck(q *serf.Query) {
	var req rejoinCheck
	if err := json.Unmarshal(q.Payload, &req); err != nil || req.Name == "" {
		return
	}
	if req.Name == c.serf.LocalMember().Name {
		return // serf hands a query to its sender too
	}
	had := c.listedAs(req.Name, req.Addr)
	if had == "" {
		return
	}
	c.rejoinAnswers.Add(1)
	gometrics.IncrCounter([]string{"membership", "rejoin_check_missed"}, 1)
	c.logger.Info().Str("member", req.Name).Str("had", had).Msg("rejoin check: this agent had missed the member's rejoin")
	go func() {
		if err := q.Respond([]byte(had)); err != nil {
			c.logger.Debug().Err(err).Msg("could not answer a rejoin check")
		}
	}()
}

// listedAs returns "" when this member lists name alive at addr, and
// otherwise what it lists instead: its serf status, "alive at OLD" for
// another address, or "unknown".
func (c *Cluster) listedAs(name, addr string) string {
	for _, m := range c.serf.Members() {
		if m.Name != name {
			continue
		}
		switch {
		case m.Status != serf.StatusAlive:
			return m.Status.String()
		case addr != "" && memberAddr(m) != addr:
			return "alive at " + memberAddr(m)
		default:
			return ""
		}
	}
	return "unknown"
}
