package failover

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"
)

// Transport carries the claim protocol's requests to other members (a
// serf query in the agent) and brings their answers back.
type Transport interface {
	// Ask sends payload to each named member and returns the answers
	// that arrived within timeout or before ctx ended, by member name.
	Ask(ctx context.Context, to []string, payload []byte, timeout time.Duration) map[string][]byte
}

// Member is a member as the claim protocol sees it.
type Member struct {
	// Name is the member's name.
	Name string
	// Boot is its boot tag: a new value at each start of the agent.
	Boot string
	// Alive is whether this agent sees it alive.
	Alive bool
}

// Defaults of QuorumConfig.
const (
	// DefaultLease is how long a grant lasts without a renewal. A runner
	// renews every third of it; a runner that cannot renew kills its hook
	// before it ends; another member may take over only after it ended.
	// Longer: a paused or cut-off runner delays a takeover longer. Shorter:
	// more claim traffic while a hook runs, and a runner whose renewals
	// are slow (a loaded host) loses its lease sooner.
	DefaultLease = 10 * time.Second
	// DefaultClaimTimeout bounds one claim (or completion) round trip to
	// every member, resends included.
	DefaultClaimTimeout = 2 * time.Second
	// claimResend is how long one send waits before it is sent again to
	// the members that have not answered.
	claimResend = 500 * time.Millisecond
)

// QuorumConfig configures a Quorum lock.
type QuorumConfig struct {
	// Grants are this agent's own grants; it answers its own claims.
	Grants *Grants
	// Transport reaches the other members.
	Transport Transport
	// Peers returns this agent and every member that has not left
	// (alive or failed, this agent included): a claim needs grants from a
	// strict majority of them.
	Peers func() (self Member, members []Member)
	// Lease is the lease's length (DefaultLease when zero).
	Lease time.Duration
	// ClaimTimeout bounds a claim round (DefaultClaimTimeout when zero).
	ClaimTimeout time.Duration
	// Logger receives lease losses and refused completions.
	Logger zerolog.Logger
}

// Quorum is the gossip Lock: a claim is granted by a strict majority of
// the members, each granting at most one live claim per task and only to
// a higher term than any before. A run therefore gets a fence (its term)
// larger than every earlier grant's, and no two agents hold a live lease
// on one task in the same majority. It cannot stop a runner that was
// paused past its lease and whose hook kept running: the fence is what
// makes that run harmless.
type Quorum struct {
	cfg QuorumConfig
	now func() time.Time
}

// NewQuorum returns a gossip lock.
func NewQuorum(cfg QuorumConfig) *Quorum {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.ClaimTimeout <= 0 {
		cfg.ClaimTimeout = DefaultClaimTimeout
	}
	return &Quorum{cfg: cfg, now: time.Now}
}

// Grants returns the lock's own grants.
func (q *Quorum) Grants() *Grants { return q.cfg.Grants }

// roundResult sums the answers to one request.
type roundResult struct {
	granted  int
	answered int
	done     *answer
	held     *answer
	maxTerm  uint64
	prev     string
	back     int      // granters that see the failed member alive again
	grantees []string // the other members that granted
}

// ask sends m to every member, this agent first, and sums the answers.
// With stopAt > 0 it stops once that many granted. A renewal (m's term
// already granted) ignores a completion with a smaller fence: a run that
// a newer claim replaced must not stop the newer run.
func (q *Quorum) ask(ctx context.Context, m message, self Member, members []Member, stopAt int, renewal bool) roundResult {
	var r roundResult
	add := func(from string, a answer) {
		r.answered++
		if a.Term > r.maxTerm {
			r.maxTerm = a.Term
		}
		switch {
		case a.Done && m.Op != opDone && renewal && a.Term < m.Term:
			// a stale completion: neither a grant nor the end
		case a.Done && m.Op != opDone:
			r.done = &a
		case a.Granted || a.Done:
			r.granted++
			if a.Prev != "" {
				r.prev = a.Prev
			}
			if from != self.Name {
				r.grantees = append(r.grantees, from)
			}
		case a.Back:
			r.back++
		case a.Holder != "":
			if r.held == nil || a.LeftMS > r.held.LeftMS {
				r.held = &a
			}
		}
	}
	add(self.Name, q.cfg.Grants.handle(&m))
	pending := map[string]bool{}
	for _, p := range members {
		if p.Name != self.Name {
			pending[p.Name] = true
		}
	}
	payload, _ := json.Marshal(m)
	deadline := q.now().Add(q.cfg.ClaimTimeout)
	for len(pending) > 0 && r.done == nil && (stopAt <= 0 || r.granted < stopAt) && ctx.Err() == nil {
		left := deadline.Sub(q.now())
		if left <= 0 {
			break
		}
		to := make([]string, 0, len(pending))
		for n := range pending {
			to = append(to, n)
		}
		for from, raw := range q.cfg.Transport.Ask(ctx, to, payload, min(claimResend, left)) {
			if !pending[from] {
				continue
			}
			var a answer
			if json.Unmarshal(raw, &a) != nil {
				continue
			}
			delete(pending, from)
			add(from, a)
		}
	}
	return r
}

// Acquire implements Lock.
func (q *Quorum) Acquire(ctx context.Context, task TaskID, opts ClaimOptions) (Lease, error) {
	aliveOnly := opts.AliveOnly
	self, members := q.peers(aliveOnly)
	need := len(members)/2 + 1
	term := max(q.cfg.Grants.maxTerm(task)+1, uint64(q.now().UnixMilli()))
	for attempt := 0; ; attempt++ {
		m := message{Op: opClaim, Hook: task.Hook, Key: task.Key, Name: self.Name, Boot: self.Boot, Term: term,
			LeaseMS: q.cfg.Lease.Milliseconds(), Subj: opts.Subject, Life: opts.Life}
		sent := q.now()
		r := q.ask(ctx, m, self, members, need, false)
		if r.done != nil {
			q.cfg.Grants.handle(&message{Op: opDone, Hook: task.Hook, Key: task.Key, Name: r.done.Holder, Term: r.done.Term, Outcome: r.done.Outcome})
			return nil, &DoneError{Runner: r.done.Holder, Fence: r.done.Term, Outcome: r.done.Outcome}
		}
		if r.granted >= need {
			log := q.cfg.Logger.With().Str("hook", task.Hook).Str("key", task.Key).Uint64("fence", term).Logger()
			l := &quorumLease{LeaseKeeper: NewLeaseKeeper(sent, q.cfg.Lease, log), q: q, task: task, self: self, term: term, prev: r.prev, aliveOnly: aliveOnly}
			go l.Run(q.cfg.Lease/3, "could not renew the lease from a majority in time", l.renew)
			return l, nil
		}
		// Not granted: give back the grants this claim got, so that it
		// does not block another claimant until the lease ends.
		q.release(context.WithoutCancel(ctx), task, self, r.grantees, term)
		if r.back > 0 {
			return nil, &BackError{Subject: opts.Subject, Seen: r.back}
		}
		if r.held != nil {
			return nil, &HeldError{Holder: r.held.Holder, Fence: r.held.Term, Left: time.Duration(r.held.LeftMS) * time.Millisecond}
		}
		if r.maxTerm >= term && attempt < 2 && ctx.Err() == nil {
			term = r.maxTerm + 1 // a stale term: try once more above it
			continue
		}
		return nil, &NoMajorityError{Granted: r.granted, Answered: r.answered, Needed: need, Members: len(members)}
	}
}

// peers returns this agent and the members a claim's majority counts.
func (q *Quorum) peers(aliveOnly bool) (Member, []Member) {
	self, members := q.cfg.Peers()
	if !aliveOnly {
		return self, members
	}
	alive := members[:0:0]
	for _, m := range members {
		if m.Alive || m.Name == self.Name {
			alive = append(alive, m)
		}
	}
	return self, alive
}

// release tells this agent and the given members that self gives term up.
func (q *Quorum) release(ctx context.Context, task TaskID, self Member, to []string, term uint64) {
	m := message{Op: opRelease, Hook: task.Hook, Key: task.Key, Name: self.Name, Boot: self.Boot, Term: term}
	q.cfg.Grants.handle(&m)
	if len(to) == 0 {
		return
	}
	payload, _ := json.Marshal(m)
	q.cfg.Transport.Ask(ctx, to, payload, claimResend)
}

// quorumLease is a live claim, renewed every third of the lease.
type quorumLease struct {
	*LeaseKeeper
	q    *Quorum
	task TaskID
	self Member
	term uint64
	prev string
	// aliveOnly: the majority counts the members seen alive (quorum: none).
	aliveOnly bool
}

// Fence implements Lease.
func (l *quorumLease) Fence() uint64 { return l.term }

// Previous names the agent whose ended lease this one replaced, if any.
func (l *quorumLease) Previous() string { return l.prev }

// renew is one renewal: the same claim, granted again by a majority.
func (l *quorumLease) renew(ctx context.Context) Renewal {
	self, members := l.q.peers(l.aliveOnly)
	need := len(members)/2 + 1
	m := message{Op: opClaim, Hook: l.task.Hook, Key: l.task.Key, Name: l.self.Name, Boot: l.self.Boot, Term: l.term, LeaseMS: l.q.cfg.Lease.Milliseconds()}
	sent := l.q.now()
	r := l.q.ask(ctx, m, self, members, need, true)
	switch {
	case r.done != nil:
		return Renewal{Gone: "the task was completed by " + r.done.Holder}
	case r.granted >= need:
		return Renewal{Deadline: Deadline(sent, l.q.cfg.Lease)}
	}
	return Renewal{}
}

// Complete implements Lease: the completion is sent to every member (and
// kept by this agent), so a member that missed it learns it from any
// granter. It is refused when a newer claim replaced this one.
func (l *quorumLease) Complete(ctx context.Context, outcome string) error {
	l.Stop()
	self, members := l.q.peers(l.aliveOnly)
	m := message{Op: opDone, Hook: l.task.Hook, Key: l.task.Key, Name: l.self.Name, Boot: l.self.Boot, Term: l.term, Outcome: outcome}
	r := l.q.ask(ctx, m, self, members, 0, false)
	if r.maxTerm > l.term && r.granted < len(members)/2+1 {
		return &StaleError{Fence: l.term, Newer: r.maxTerm}
	}
	return nil
}

// Release implements Lease.
func (l *quorumLease) Release(ctx context.Context) {
	if !l.Stop() {
		return
	}
	_, members := l.q.cfg.Peers()
	to := make([]string, 0, len(members))
	for _, m := range members {
		if m.Name != l.self.Name {
			to = append(to, m.Name)
		}
	}
	l.q.release(ctx, l.task, l.self, to, l.term)
}
