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
// The stale leave time also climbs: each push/pull between two members
// that both list the previous life as left hands each the other's status
// time + 1, which both take, so with every hop among them the leave gets
// one tick newer, and the rejoin's join intents, at the clock of the
// rejoining member and the peers it synced with, can fall behind. In the
// issue-13 benchmark (50 agents on local, a graceful restart seconds
// after they all joined, while their own rounds of push/pulls still ran)
// the leave of one restart went from Lamport time 27 to 39 within a
// second, and the rejoin's intents at 34 and 36 were ignored by the
// members the 39 reached. A serf build logging each intent showed it: in
// 30 of 36 restarts some member was taken to leaving that way, mostly
// for less than a second (a later join intent of the rounds overtook the
// leave), and in 10 for 2.4-3.5 s, until the check after the second
// round (where it was then) or the second round's intent. With the first
// check after the first round, 40 restarts took at most 1.67 s.
//
// So after its first round (a restart; another rejoin after its second,
// rejoinCheckPlan) and again after its last, a rejoining member asks
// every member, with one serf query (rejoinCheckQuery), whether it
// lists it alive at its current address. A member that does says nothing;
// one that does not answers what it lists instead (left, leaving, failed,
// alive at an old address, unknown). The rejoining member runs a serf
// join with the members that answered, at most rejoinRepairMax of them
// per check: the push/pulls bring them the new life, and this member's
// clock witnesses theirs, so the join intent that follows, gossiped to
// every member, is newer than any leave intent they hold or have handed
// on. The members that answered sync with nobody themselves: a push/pull
// of a stale view with a third member would hand that member the leave
// intent. The cost is two queries per rejoin (one when its rounds end at
// the round of the first check), not per join, and after a restart one
// more after each repair; none in a membership storm (storm.go); and at
// most rejoinRepairMax push/pulls per check. After a restart, a check
// that repaired members is followed by another, rejoinRecheckDelay after
// its answers end (the query's timeout, serf's default: 16 gossip
// intervals × ⌈log10(N+1)⌉, 3.2 s on local and 6.4 s on lan at N = 50)
// or after its last repair when it joined rejoinRepairMax members, up to
// rejoinRechecks times: the members beyond rejoinRepairMax, and any that
// a member still listing the previous life as left reached meanwhile,
// answer it. A check that no
// member answers ends the chain: every member that took the query lists
// this one alive, and none lists it left, so no push/pull can hand on a
// stale leave any more (a member that missed the query, or whose answer
// was lost, is the gap left). Every agent answers the check, whatever its
// own join_sync_rounds.

// rejoinCheckQuery is the serf query of the rejoin check; its payload is
// a rejoinCheck.
const rejoinCheckQuery = "vigil-rejoin-check"

// rejoinCheck is the payload of rejoinCheckQuery: the rejoining member's
// name and gossip address (host:port).
type rejoinCheck struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// rejoinCheckPlan returns after which round of a rejoin's syncs its first
// rejoin check goes out, and how many checks may follow one that
// repaired members (the second check follows the last round, when there
// are more). A restart (joinSyncRestarted, joinSyncDataDir) comes back
// after a leave, which peers may hold as left and hand on as a climbing
// leave intent: its first check goes out after the first round (about a
// second after the join) and repairs are checked again. Any other rejoin
// (a refuted "dead" message, a peer's prompt) comes back from "failed",
// which serf hands on as no leave intent: its first check waits for the
// second round, and a repair is not checked again, as before 237eb65.
// Refutations come by the dozen when a large cluster is overloaded, and
// every one of them sends checks: 200 agents starting at once on local
// (2 cores) saturated the machine with 237eb65, which checked every
// rejoin this way, and converged with this split (one run each; not
// shown to be the cause; docs/benchmarks.md, Scale alone).
func rejoinCheckPlan(why string) (firstRound, rechecks int) {
	if why == joinSyncRestarted || why == joinSyncDataDir {
		return 1, rejoinRechecks
	}
	return 2, 0
}

// rejoinRechecks is how many checks may follow, one after another, a
// check that repaired members; rejoinRecheckDelay is the wait before the
// next once the check is done with (repairRejoins returned), time for the
// repair's join intent to reach every member by gossip (a few gossip
// intervals).
const (
	rejoinRechecks     = 3
	rejoinRecheckDelay = time.Second
)

// sendRejoinCheck asks every member whether it lists this one alive at
// its address (rejoinCheckQuery); after names what it follows, for the
// log. It does not wait: the answers are handled as they arrive, until
// the query's timeout (repairRejoins), and when they repaired members,
// another check follows, up to rechecks more.
func (c *Cluster) sendRejoinCheck(after string, rechecks int) {
	if c.serf.State() != serf.SerfAlive {
		return
	}
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
	go func() {
		if c.repairRejoins(resp) == 0 || rechecks == 0 {
			return
		}
		if !c.sleepUntil(time.Now().Add(rejoinRecheckDelay)) {
			return
		}
		c.rejoinFollowUps.Add(1)
		c.sendRejoinCheck("a repair", rechecks-1)
	}()
}

// repairRejoins runs a serf join with the members that answer a rejoin
// check (they do not list this member alive), the answers of
// rejoinRepairBatch taken together, until rejoinRepairMax were joined or
// the query's answers end, and returns how many members it tried to join.
func (c *Cluster) repairRejoins(resp *serf.QueryResponse) (joined int) {
	answers := resp.ResponseCh()
	for answers != nil && joined < rejoinRepairMax {
		had := map[string]string{}
		select {
		case r, ok := <-answers:
			if !ok {
				return joined
			}
			had[r.From] = string(r.Payload)
		case <-c.stop:
			return joined
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
				return joined
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
	// The next check (sendRejoinCheck) asks those members again.
	return joined
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
