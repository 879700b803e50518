package membership

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"

	"github.com/vigil-agent/vigil/events"
)

// Join anti-entropy.
//
// A join is one push/pull with the member joined; everything else reaches
// the new member, and the new member reaches everyone else, by gossip: an
// alive message retransmitted RetransmitMult × log10(N+1) times (4 times
// with the local profile at N = 50). A member that misses every copy of a
// join learns it only at the next push/pull, which memberlist stretches
// with N (PushPullInterval × (⌈log2 N − 5⌉ + 1) above 32 members: 60 s on
// lan and 30 s on local at N = 50). 50 agents joining one seed at once on
// local took 42 s to converge, and after a graceful leave and restart under
// the same name some members still did not list the member alive 30 s
// later (docs/architecture.md, "Joins and rejoins").
//
// After a join (Join, JoinRetry, the remembered peers of the data dir, or
// a refutation of a "dead" message: peers had this member failed or left,
// so it is rejoining them), vigil therefore runs extra full state syncs:
// rounds of push/pulls with joinSyncFanout random live members (serf
// joins in the first joinSyncIntentRounds rounds), the first round about
// joinSyncFirst after the join and then backing off by
// joinSyncBackoff up to joinSyncMaxGap, with ±joinSyncJitter, until this
// member's view (each member's name, status and address, and its own
// refutations) has not changed for joinSyncStable rounds in a row that
// each reached a peer, or
// after the configured number of rounds. A round also counts as a change
// when a peer it synced with (or a peer that joined this member) lacked a
// member this one sees alive, or had it left: then others may lack it
// too, and the next round pushes it to two more. A serf join to a known member is
// memberlist's push/pull (both sides merge the other's full member list,
// serf's Lamport times and recent user events) followed by serf's join
// intent with this member's current Lamport time, which is newer than any
// leave intent of its previous life that peers still hold. A join during
// a round of syncs starts the rounds again. A join whose peers already
// listed this member's name with another boot tag is a restart under that
// name (listsPreviousLife): its rounds are
// a rejoin's, and its first two also re-announce the member
// (joinSyncRestarted). After the first round of a rejoin and after its
// last, the member asks every member whether it lists it alive and joins
// again those that answer no, and asks again after each such repair
// (rejoincheck.go).

const (
	// joinSyncFanout is how many random live members each round syncs
	// with.
	joinSyncFanout = 2
	// joinSyncFirst is the gap before the first round: long enough for the
	// join's own gossip to spread (a few gossip intervals), short enough
	// that a miss costs about a second.
	joinSyncFirst = time.Second
	// joinSyncBackoff multiplies the gap after each round, up to
	// joinSyncMaxGap.
	joinSyncBackoff = 1.5
	joinSyncMaxGap  = 8 * time.Second
	// joinSyncJitter is the random share added to or taken from each gap,
	// so members that joined together do not sync in lockstep.
	joinSyncJitter = 0.2
	// joinSyncStable is how many rounds in a row must leave the view
	// unchanged (with at least one sync each) for the syncs to stop before
	// their limit.
	joinSyncStable = 2
	// joinSyncIntentRounds is how many rounds, the first ones, end with a
	// serf join intent; the later rounds are push/pulls alone. Every
	// member gossips each new intent on (serf rebroadcasts an intent newer
	// than the member's status time), so an intent per round and peer, as
	// the rounds were first written, cost N × RetransmitMult × log10(N+1)
	// messages each: 100 agents joining one seed at once on local (2
	// cores) saturated the machine and the seed's queue of serf messages
	// (memberlist: handler queue full, hundreds dropped), and no run
	// converged within 10 s (docs/architecture.md, Joins and rejoins). The
	// second intent is the one that matters for a rejoin: newer than any
	// leave intent of the member's previous life, which its clock has
	// witnessed by then.
	joinSyncIntentRounds = 2
	// joinSyncJoined is the trigger of a join (Join, JoinRetry). Every
	// other trigger is a rejoin (the remembered peers of the data dir, a
	// refuted "dead" message: peers had this member failed or left, a peer
	// that found it alive after its failure), and then every round ends
	// with a join intent: a member that missed the first intents can still
	// hold the member's previous life as left and hand it on in a push/pull
	// as a leave intent, which marks the live member leaving; only a newer
	// join intent ends that (serf's MergeRemoteState). Without them, 3 of
	// 10 graceful rejoins into 99 agents on local left one agent listing
	// the member not alive 30 s later.
	joinSyncJoined = "join"
	// joinSyncRestarted is the trigger of a join (Join) whose peers
	// already listed this member's name, in memberlist's state handed over
	// by the join's push/pull: the agent was restarted under its name
	// (a rolling restart, a graceful leave and start, a crash) and peers
	// still hold its previous life as left or failed. Such a join is a
	// rejoin: every round ends with a join intent, and the first
	// joinSyncReannounceRounds rounds also re-announce the member (a fresh
	// alive message with a newer incarnation, reannounce.go). The join's
	// own alive message is gossiped once, RetransmitMult × log10(N+1)
	// times by each member that takes it, and a member that misses every
	// copy keeps the previous life as left: nothing but a push/pull with
	// it brings the new one, and the rounds reach 2 of N members each. 1
	// of 10 graceful restarts into 49 agents on local (N = 50) left one
	// agent listing the member not alive 30 s later (docs/benchmarks.md,
	// Join anti-entropy). Each re-announcement is a new epidemic that
	// every member takes, since its incarnation is newer than any it
	// holds: a member that missed the join's copies gets a second and a
	// third chance, and serf reports it joined. The cost is two alive
	// messages per restart, not per join: a join storm of new members
	// does not pay it.
	joinSyncRestarted = "rejoin: the members joined knew this member's name (a restart)"
	// joinSyncDataDir is the trigger of a rejoin through the peers
	// remembered in the data dir (peers.go): a restart too.
	joinSyncDataDir = "rejoin"
	// joinSyncReannounceRounds is how many of a restart's first rounds
	// re-announce the member.
	joinSyncReannounceRounds = 2
)

// DefaultJoinSyncRounds is the default limit on the rounds of state syncs
// after a join: at most 8 rounds (16 push/pulls) spread over about 37 s,
// fewer when the view settles sooner (2 rounds, about 2.5 s, when the
// first join already brought everything).
const DefaultJoinSyncRounds = 8

// joinSyncGaps returns the gaps before each of rounds rounds, without
// jitter.
func joinSyncGaps(rounds int) []time.Duration {
	gaps := make([]time.Duration, 0, rounds)
	gap := joinSyncFirst
	for range rounds {
		gaps = append(gaps, gap)
		gap = min(time.Duration(float64(gap)*joinSyncBackoff), joinSyncMaxGap)
	}
	return gaps
}

// nextStable returns how many rounds in a row have left the view
// unchanged, after a round that synced with synced peers and changed the
// view or not. A round counts as stable only when a sync got through: a
// round whose syncs all failed (a busy peer's push/pull past the profile's
// TCP timeout, 1 s on local) saw nothing and proves nothing.
func nextStable(stable int, changed bool, synced int) int {
	switch {
	case changed:
		return 0
	case synced > 0:
		return stable + 1
	default:
		return stable
	}
}

// jittered returns d moved by up to ±joinSyncJitter of itself.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + joinSyncJitter*(2*rand.Float64()-1)))
}

// startJoinSync starts (or starts again) the rounds of state syncs; why
// says what triggered them, for the log.
func (c *Cluster) startJoinSync(why string) {
	if c.joinSyncRounds <= 0 {
		return
	}
	select {
	case c.joinSyncTrigger <- why:
	default: // a start is already pending
	}
}

// joinSyncLoop runs the rounds of state syncs after each trigger until
// the cluster stops.
func (c *Cluster) joinSyncLoop() {
	defer close(c.joinSyncDone)
	var why string
	for {
		select {
		case <-c.stop:
			return
		case why = <-c.joinSyncTrigger:
		}
		c.joinSyncBusy.Store(true)
	rounds:
		for {
			start := time.Now()
			view := c.viewPrint()
			stable, done, syncs := 0, 0, 0
			checkAfter, rechecks := rejoinCheckPlan(why)
			for _, gap := range joinSyncGaps(c.joinSyncRounds) {
				t := time.NewTimer(jittered(gap))
				select {
				case <-c.stop:
					t.Stop()
					return
				case why = <-c.joinSyncTrigger:
					t.Stop()
					c.logger.Debug().Str("trigger", why).Msg("join anti-entropy: new join, starting the rounds again")
					continue rounds
				case <-t.C:
				}
				if c.serf.State() != serf.SerfAlive {
					return
				}
				n := c.syncRound(done < joinSyncIntentRounds || why != joinSyncJoined)
				if why == joinSyncRestarted && done < joinSyncReannounceRounds && !c.noRestartReannounce {
					c.reannounce(0)
				}
				syncs += n
				done++
				if why != joinSyncJoined && done == checkAfter && !c.noRejoinCheck {
					c.sendRejoinCheck(fmt.Sprintf("round %d", checkAfter), rechecks)
				}
				now := c.viewPrint()
				stable = nextStable(stable, now != view, n)
				view = now
				if stable >= joinSyncStable {
					break
				}
			}
			if why != joinSyncJoined && done > checkAfter && !c.noRejoinCheck {
				c.sendRejoinCheck("the last round", rechecks)
			}
			c.logger.Debug().Str("trigger", why).Int("rounds", done).Int("syncs", syncs).
				Bool("settled", stable >= joinSyncStable).Dur("took", time.Since(start)).
				Msg("join anti-entropy done")
			c.joinSyncBusy.Store(false)
			break
		}
	}
}

// syncMerge is serf's merge delegate: it hands every member announcement
// to the gossip input gate (when there is one) and notes, for the join
// anti-entropy, each push/pull of a join whose peer misses a member this
// one sees alive. serf calls it with all of a peer's members for a join's
// push/pull, on both sides (the peer's view), and with one member for an
// alive message.
type syncMerge struct {
	c    *Cluster
	gate serf.MergeDelegate // nil without the gossip input check
}

// NotifyMerge implements serf.MergeDelegate.
func (d *syncMerge) NotifyMerge(members []*serf.Member) error {
	if d.gate != nil {
		if err := d.gate.NotifyMerge(members); err != nil {
			return err
		}
	}
	if len(members) > 1 && d.c.started.Load() && d.c.missesAlive(members) {
		d.c.viewDiffs.Add(1)
	}
	if len(members) > 1 && d.c.joining.Load() && d.c.started.Load() && listsPreviousLife(members, d.c.serf.LocalMember()) {
		d.c.knownBefore.Store(true)
	}
	return nil
}

// listsPreviousLife reports whether a peer's members (a join's push/pull:
// more than one member; an alive message carries one) include self's
// name with another boot tag (events.BootTag, unique to each start of an
// agent) or, when self has none, at all: the peer knew a previous life of
// this member, so this is a restart under the same name. A peer that
// lists this start's boot tag took this member from an earlier join of
// this start: a retried join whose first push/pull timed out on this side
// but reached the peer, which is not a restart.
func listsPreviousLife(members []*serf.Member, self serf.Member) bool {
	boot := self.Tags[events.BootTag]
	for _, m := range members {
		if m.Name == self.Name && (boot == "" || m.Tags[events.BootTag] != boot) {
			return true
		}
	}
	return false
}

// missesAlive reports whether a peer's view (its members, serf status
// left or none: memberlist does not tell alive from dead there) lacks a
// member this one sees alive, itself included, or has it left: that peer
// had not heard of a join or a rejoin, so others may not have either.
func (c *Cluster) missesAlive(peer []*serf.Member) bool {
	known := make(map[string]bool, len(peer))
	for _, m := range peer {
		known[m.Name] = m.Status != serf.StatusLeft
	}
	for _, m := range c.serf.Members() {
		if m.Status == serf.StatusAlive && !known[m.Name] {
			return true
		}
	}
	return false
}

// syncRound pushes and pulls the full state with up to joinSyncFanout
// random live members and returns how many answered. With intent it is one
// serf join to them all (a push/pull with each, then one join intent at
// this member's current Lamport time, gossiped to every member); without,
// memberlist's push/pulls alone, which carry serf's state (Lamport times,
// each member's status time, left members, recent user events) to the peer
// and back but gossip nothing. Old user events are not ignored: the join at
// start already set where this member's events begin, and a user event
// missed since then is one to deliver, not to drop (serf's event buffer
// drops those already seen).
func (c *Cluster) syncRound(intent bool) int {
	self := c.serf.LocalMember().Name
	var live []string
	for _, m := range c.serf.Members() {
		if m.Name != self && m.Status == serf.StatusAlive {
			// NAME/ADDR: memberlist checks the name it reaches there.
			live = append(live, m.Name+"/"+net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
		}
	}
	if len(live) == 0 {
		return 0
	}
	rand.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	peers := live[:min(joinSyncFanout, len(live))]
	var n int
	var err error
	if intent && c.inStorm() {
		intent = false // storm.go: no gossip of ours in a storm
	}
	if intent {
		n, err = c.serf.Join(peers, false)
	} else {
		n, err = c.serf.Memberlist().Join(peers)
	}
	if n > 0 {
		c.joinSyncs.Add(uint64(n))
		gometrics.IncrCounter([]string{"membership", "join_sync"}, float32(n))
	}
	if n < len(peers) {
		c.logger.Debug().Err(err).Strs("members", peers).Int("synced", n).Bool("intent", intent).
			Msg("join anti-entropy: state sync failed")
	}
	return n
}

// viewPrint returns a hash of this member's view of the others (name,
// status, address), of its refutations so far and of the join push/pulls
// whose peer missed a live member: equal prints mean nothing changed in
// between that a sync could have brought, and every peer synced with
// already knew every live member.
func (c *Cluster) viewPrint() uint64 {
	self := c.serf.LocalMember().Name
	ms := c.serf.Members()
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	h := fnv.New64a()
	for _, m := range ms {
		if m.Name == self {
			continue
		}
		addr := ""
		if m.Addr != nil {
			addr = m.Addr.String()
		}
		h.Write([]byte(m.Name + "\x00" + m.Status.String() + "\x00" + addr + ":" + strconv.Itoa(int(m.Port)) + "\x00"))
	}
	h.Write([]byte(strconv.FormatUint(c.refutations.Load(), 10) + "/" + strconv.FormatUint(c.viewDiffs.Load(), 10)))
	return h.Sum64()
}
