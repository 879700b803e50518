package membership

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"

	"github.com/vigil-agent/vigil/events"
)

// Confirming a failure before reporting it.
//
// memberlist declares a member dead when its suspicion timer runs out
// without a refutation reaching this member. That verdict can be wrong
// while the member is alive and reachable: a cut that healed after the
// suspicions were raised (the accused member never heard them and so never
// refuted; docs/reliability.md, Limits 2), or a refutation whose copies
// were all lost. serf then reports member-failed and, without more, every
// member-failed hook runs for a live member.
//
// With ConfirmFailures, a member-failed event is held until this agent has
// checked the member itself: a memberlist ping to its address (the same
// UDP ping memberlist probes with) and, at the same time, a serf query to
// up to confirmHelpers other live members asking each to ping it too. The
// first answer that reached the member refutes the failure: the event is
// reported as events.Refuted instead (no member-failed hook, no failover
// sees it), and the member is asked, by the serf query refuteQuery, to
// re-announce itself, so that every view takes it back as alive (it comes
// back as a newer incarnation: serf reports a member-join, which is not
// reported again, since the failure was not). Nobody answering within the
// confirm timeout (the profile's probe timeout by default) confirms the
// failure, and member-failed is reported then: a real failure costs that
// much more latency, a refuted one costs nothing.
//
// The wait does not hold serf: events go on arriving in the queue of
// drain. It holds only the member's own later events (a member-join of
// the member that refuted meanwhile, say), which are reported after the
// verdict and in serf's order; other members' events pass.
//
// A refuted member that is still failed in serf's view a while later
// (refuteRecheck) is checked again: an agent that answers pings but never
// comes back alive (its gossip still cut) is reported failed after
// confirmAttempts checks.

// pingQuery is the serf query asking a member to ping another for this
// agent: the payload names the member (confirmRequest); a member that
// reaches it answers "ok", others do not answer.
const pingQuery = "vigil-ping"

// refuteQuery is the serf query asking a member that another agent
// declared failed, and found alive, to re-announce itself. Its payload is
// the member's name (serf filters the query to that member too).
const refuteQuery = "vigil-refute"

// confirmHelpers is how many other live members are asked to ping a
// failed member (k of issue 13), chosen at random.
const confirmHelpers = 3

// helperQueriesPerFailure and promptsPerFailure bound, on average over
// the cluster, how many agents ask helpers about one failure and how many
// prompt the member found alive. A serf query is relayed by every member,
// so one per agent and failure would cost N² messages; beyond these
// numbers of live members each agent asks with probability limit/N, and
// the cluster sends about limit queries per failure, limit × N relays,
// whatever its size. An agent that does not ask relies on its own ping; a
// member not prompted still refutes the dead message gossip brings it,
// and a refuted member still failed at the recheck is prompted again.
//
// Four, not more: up to 6 members every agent still asks (the clusters
// of the healed-cut rows in docs/reliability.md have 5), while a real
// failure, where nobody can answer, costs 4 queries. With 32, at N = 100
// on 2 cores, the 32 queries and their 96 helpers' pings, all in the
// same fraction of a second as 99 confirmations, stretched the first to
// last survivor's member-failed hook from 0.29-0.43 s to 0.86-0.97 s
// (docs/benchmarks, detection at N = 100). Above 6 members an agent whose
// own ping is lost asks helpers less often (at N = 100 one in 25 instead
// of one in 3): at such N the helpers were never the whole answer, the
// agent's own ping is.
const (
	helperQueriesPerFailure = 4
	promptsPerFailure       = 4
)

// confirmAttempts bounds the checks of one failure: after that many
// refutations of a member that never came back alive in serf's view, its
// failure is reported.
const confirmAttempts = 3

// confirmRequest is the payload of pingQuery.
type confirmRequest struct {
	Name string `json:"name"`
}

// confirmResult is what the confirmation of one failure found; it comes
// back to the translating goroutine through the event queue.
type confirmResult struct {
	name string
	// by is who reached the member: "direct" (this agent's ping) or a
	// helper's name; empty when nobody did.
	by      string
	elapsed time.Duration
}

// EventType implements serf.Event; confirmResult is vigil's own.
func (confirmResult) EventType() serf.EventType { return -1 }

// String implements serf.Event.
func (r confirmResult) String() string { return "vigil-confirm-result " + r.name }

// confirmRecheck asks the translating goroutine to check a refuted member
// again if serf still has it failed.
type confirmRecheck struct{ name string }

// EventType implements serf.Event.
func (confirmRecheck) EventType() serf.EventType { return -2 }

// String implements serf.Event.
func (r confirmRecheck) String() string { return "vigil-confirm-recheck " + r.name }

// pendingFailure is a member-failed event held while it is confirmed,
// with the member's later events held behind it.
type pendingFailure struct {
	event    events.Event
	held     []events.Event
	attempts int
	started  time.Time
}

// confirmState is the confirmation's state, used by the translating
// goroutine only.
type confirmState struct {
	pending map[string]*pendingFailure
	// refuted are members whose failure was refuted, with the attempts
	// made: their next member-join is their comeback, not news.
	refuted map[string]int
}

// deliverMember reports one member event, or holds it: a member-failed
// while ConfirmFailures is on starts a confirmation, an event of a member
// whose failure is being confirmed waits behind it, and the member-join
// of a member whose failure was refuted is dropped.
func (c *Cluster) deliverMember(ev events.Event) {
	m, _ := ev.Subject()
	st := &c.confirm
	if p := st.pending[m.Name]; p != nil {
		p.held = append(p.held, ev)
		return
	}
	if _, ok := st.refuted[m.Name]; ok {
		delete(st.refuted, m.Name)
		if ev.Type == events.MemberJoin {
			c.logger.Debug().Str("member", m.Name).Msg("the member whose failure was refuted is alive again")
			return
		}
	}
	if ev.Type != events.MemberFailed || !c.confirmOn {
		c.handler(ev)
		return
	}
	c.startConfirm(&pendingFailure{event: ev, started: time.Now()})
}

// startConfirm records p as pending and checks its member in the
// background; the result comes back as a confirmResult.
func (c *Cluster) startConfirm(p *pendingFailure) {
	m, _ := p.event.Subject()
	if c.confirm.pending == nil {
		c.confirm.pending = map[string]*pendingFailure{}
	}
	c.confirm.pending[m.Name] = p
	p.attempts++
	first := p.attempts == 1
	go func() {
		start := time.Now()
		if first && !c.sleepUntil(start.Add(c.newsDelay())) {
			return
		}
		by := c.reach(m)
		c.enqueue(confirmResult{name: m.Name, by: by, elapsed: time.Since(start)})
	}()
}

// finishConfirm reports the verdict on a held failure, then the member's
// events held behind it.
func (c *Cluster) finishConfirm(r confirmResult) {
	p := c.confirm.pending[r.name]
	if p == nil {
		return
	}
	delete(c.confirm.pending, r.name)
	log := c.logger.With().Str("member", r.name).Dur("took", r.elapsed).Int("check", p.attempts).Logger()
	switch {
	case r.by == "":
		gometrics.IncrCounter([]string{"membership", "failure", "confirmed"}, 1)
		log.Debug().Msg("member failure confirmed: nobody reached it")
		c.handler(p.event)
	case p.attempts >= confirmAttempts:
		gometrics.IncrCounter([]string{"membership", "failure", "confirmed"}, 1)
		log.Warn().Str("reached_by", r.by).Msg("a member answers pings but has not come back alive after its failure was refuted; reporting it failed")
		c.handler(p.event)
	default:
		gometrics.IncrCounter([]string{"membership", "failure", "refuted"}, 1)
		log.Info().Str("reached_by", r.by).Msg("member failure refuted: the member answered; no member-failed hook runs")
		ev := p.event
		ev.Type = events.Refuted
		ev.RefutedBy = r.by
		c.handler(ev)
		if c.confirm.refuted == nil {
			c.confirm.refuted = map[string]int{}
		}
		c.confirm.refuted[r.name] = p.attempts
		go c.promptRefute(r.name)
		go c.scheduleRecheck(r.name)
	}
	for _, h := range p.held {
		c.deliverMember(h)
	}
}

// recheck checks a refuted member again if serf still has it failed and
// nothing else happened to it since.
func (c *Cluster) recheck(name string) {
	attempts, ok := c.confirm.refuted[name]
	if !ok || c.confirm.pending[name] != nil {
		return
	}
	for _, m := range c.serf.Members() {
		if m.Name != name {
			continue
		}
		if m.Status != serf.StatusFailed {
			return
		}
		delete(c.confirm.refuted, name)
		mem := toMember(m)
		c.logger.Debug().Str("member", name).Msg("a refuted member is still failed in serf's view: checking it again")
		c.startConfirm(&pendingFailure{
			event:    events.Event{Type: events.MemberFailed, Members: []events.Member{mem}},
			attempts: attempts,
			started:  time.Now(),
		})
		return
	}
}

// scheduleRecheck queues a recheck of name after refuteRecheck.
func (c *Cluster) scheduleRecheck(name string) {
	if c.sleepUntil(time.Now().Add(c.refuteRecheck())) {
		c.enqueue(confirmRecheck{name: name})
	}
}

// refuteRecheck is how long a refuted member has to come back alive
// before it is checked again: its re-announcements go out within 1.5
// probe intervals of the prompt, and gossip them around takes a few more.
func (c *Cluster) refuteRecheck() time.Duration {
	return max(5*c.timing.ProbeInterval, 2*time.Second)
}

// newsDelay is how long the first check of a failure waits before it
// pings the member (newsWait for this cluster's size and timing).
func (c *Cluster) newsDelay() time.Duration {
	// The failed member is no longer among memberlist's live members, but
	// still in the count its retransmit budget was taken from.
	n := c.serf.Memberlist().NumMembers() + 1
	return newsWait(n, c.timing.RetransmitMult, c.timing.GossipNodes, c.timing.GossipInterval)
}

// newsWait is how long a failure's first check waits, in a cluster of n
// members, before it pings the member: long enough for memberlist's gossip
// to spend the failure's dead message on live members, when that is quick.
// memberlist's Ping piggybacks its queued broadcasts on the ping, and each
// copy counts against the message's retransmit budget (mult ×
// ⌈log10(n+1)⌉); the confirmation's pings (this agent's, and the helpers'
// it serves) would take copies that live members need. With 5 members on
// lan the budget is 4 and every agent asks 3 helpers, so those pings could
// take all of it: 4 of 20 trials left a survivor that never got the dead
// message and ran its member-failed hook on its own suspicion timer, 2-8 s
// after the others (docs/benchmarks.md, Detection with the confirmation
// on). Gossip spends nodes copies a gossip interval, so the budget is
// gone after ⌈budget/nodes⌉ intervals; when that is at most two, the
// check waits two intervals (400 ms on lan up to 9 members, 200 ms on
// local up to 999 and on fast up to 99). A larger budget (lan from 10
// members: 8 copies) outlasts that wait, the pings then take one or two
// copies of it whether they wait or not, and the check does not wait.
// Two intervals, not one, where one would spend the budget (local and
// fast up to 9 members): with one, TestConfirmByHelper (3 members on
// fast) failed in 2 of 20 runs under the race detector (a's helper query
// never reached b), with two in none of 20; why is not established.
func newsWait(n, mult, nodes int, interval time.Duration) time.Duration {
	if nodes < 1 {
		return 0
	}
	budget := mult * int(math.Ceil(math.Log10(float64(n+1))))
	if (budget+nodes-1)/nodes > 2 {
		return 0
	}
	return 2 * interval
}

// reach checks whether m answers: this agent's memberlist ping and up to
// confirmHelpers other live members' (pingQuery), at once. It returns who
// reached it first ("direct" or a helper's name), or "" when nobody did
// within the confirm timeout.
func (c *Cluster) reach(m events.Member) string {
	if c.confirmStarting != nil {
		c.confirmStarting(m.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.confirmTimeout)
	defer cancel()
	found := make(chan string, 1+confirmHelpers)
	if ip := net.ParseIP(m.Addr); ip != nil {
		go func() {
			if c.pingUntil(ctx, m.Name, &net.UDPAddr{IP: ip, Port: int(m.Port)}) {
				found <- "direct"
			}
		}()
	}
	if helpers, alive := c.helpers(m.Name); len(helpers) > 0 && chance(helperQueriesPerFailure, alive) && !c.inStorm() {
		payload, _ := json.Marshal(confirmRequest{Name: m.Name})
		resp, err := c.serf.Query(pingQuery, payload, &serf.QueryParam{FilterNodes: helpers, Timeout: c.confirmTimeout})
		if err != nil {
			c.logger.Debug().Err(err).Str("member", m.Name).Msg("could not ask members to ping a failed member")
		} else {
			defer resp.Close()
			go func() {
				for r := range resp.ResponseCh() {
					if string(r.Payload) == "ok" {
						found <- r.From
						return
					}
				}
			}()
		}
	}
	select {
	case by := <-found:
		return by
	case <-ctx.Done():
		return ""
	case <-c.stop:
		return ""
	}
}

// helpers picks up to confirmHelpers live members at random, other than
// this one and the one to check, and returns how many live members it
// chose from.
func (c *Cluster) helpers(failed string) ([]string, int) {
	self := c.serf.LocalMember().Name
	var alive []string
	for _, m := range c.serf.Members() {
		if m.Status == serf.StatusAlive && m.Name != self && m.Name != failed {
			alive = append(alive, m.Name)
		}
	}
	rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	return alive[:min(len(alive), confirmHelpers)], len(alive)
}

// chance reports true always when n is at most limit, else with
// probability limit/n: among n agents deciding alike, limit on average do.
func chance(limit, n int) bool {
	return n <= limit || rand.IntN(n) < limit
}

// pingUntil pings the member name at addr until it answers or ctx is
// done, and reports whether it answered. memberlist's Ping sends one ping
// and waits the probe timeout for its ack (an ack later than that is
// dropped), so a confirm timeout longer than the probe timeout pings
// again and again: a member that was stalled (SIGSTOP, a GC pause) when
// the first ping arrived answers the ping that is current when it runs
// again. With the default confirm timeout (the probe timeout) it is one
// ping.
func (c *Cluster) pingUntil(ctx context.Context, name string, addr net.Addr) bool {
	for ctx.Err() == nil {
		sent := time.Now()
		if _, err := c.serf.Memberlist().Ping(name, addr); err == nil {
			return true
		}
		// A ping that failed at once (it could not be sent) is tried
		// again after what a lost one costs, not in a busy loop.
		t := time.NewTimer(time.Until(sent.Add(c.timing.ProbeTimeout)))
		select {
		case <-c.stop:
			t.Stop()
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	return false
}

// answerPing answers a pingQuery: it pings the member named, at the
// address this agent knows for it (never one taken from the query), until
// it answers or the query's deadline, and answers "ok" if it answered.
// Unknown members and failed pings get no answer.
func (c *Cluster) answerPing(q *serf.Query) {
	var req confirmRequest
	if err := json.Unmarshal(q.Payload, &req); err != nil || req.Name == "" {
		return
	}
	for _, m := range c.serf.Members() {
		if m.Name != req.Name || m.Addr == nil {
			continue
		}
		addr := &net.UDPAddr{IP: m.Addr, Port: int(m.Port)}
		ctx, cancel := context.WithDeadline(context.Background(), q.Deadline())
		defer cancel()
		if !c.pingUntil(ctx, m.Name, addr) {
			return
		}
		if err := q.Respond([]byte("ok")); err != nil {
			c.logger.Debug().Err(err).Str("member", req.Name).Msg("could not answer a ping request")
		}
		return
	}
}

// promptRefute asks the member name, found alive after serf declared it
// failed, to re-announce itself (refuteQuery). It does not wait for an
// answer.
func (c *Cluster) promptRefute(name string) {
	if _, alive := c.helpers(name); !chance(promptsPerFailure, alive) || c.inStorm() {
		return
	}
	resp, err := c.serf.Query(refuteQuery, []byte(name), &serf.QueryParam{FilterNodes: []string{name}, Timeout: c.confirmTimeout})
	if err != nil {
		c.logger.Debug().Err(err).Str("member", name).Msg("could not ask a refuted member to re-announce itself")
		return
	}
	resp.Close()
}

// answerRefute handles a refuteQuery addressed to this member: some agent
// had it failed and found it alive. It re-announces itself as after a
// refutation (reannounce.go) and syncs its state with two members (join
// anti-entropy), so that every view takes it back.
func (c *Cluster) answerRefute(q *serf.Query) {
	if string(q.Payload) != c.serf.LocalMember().Name {
		return
	}
	c.logger.Debug().Msg("a member had this one failed and found it alive: re-announcing")
	select {
	case c.refuted <- struct{}{}:
	default: // a round is already due
	}
	if c.joinSyncRounds > 0 {
		select {
		case c.joinSyncTrigger <- "a peer found this member alive after its failure":
		default:
		}
	}
}

// confirmTimeoutFor is the confirm timeout: the one configured, or the
// profile's probe timeout.
func confirmTimeoutFor(configured, probeTimeout time.Duration) time.Duration {
	if configured > 0 {
		return configured
	}
	return probeTimeout
}
