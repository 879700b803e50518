package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/events/failover"
)

// Failover coordination: the guards and the choice of one runner that make
// a failover hook run once, by the right survivor, only with a majority,
// and never in a flapping storm. docs/failover.md explains the design.

// Tag keys the failover coordination reads from every member.
const (
	// BootTag holds a value unique to each start of an agent, so a failure
	// has the same key on every agent: subject@boot:event.
	BootTag = "boot"
	// HealthSeqTag counts a member's health changes, so a health failure
	// has the same key on every agent too.
	HealthSeqTag = "health_seq"
	// EpochTag counts the accusations (suspect or dead) this start of an
	// agent refuted: a member declared failed that comes back refutes, so
	// with the boot tag it names one life of a member, and a member that
	// comes back and fails again gets a new failure key, the same on
	// every agent.
	EpochTag = "epoch"
)

// The user events of failover coordination. Hooks never see them.
const (
	// AnnounceEvent: the runner of a run_on: one hook tells every agent
	// the run is over.
	AnnounceEvent = "vigil:failover"
	// ReleaseEvent: an operator released the mass-failure brake; every
	// agent releases its own.
	ReleaseEvent = "vigil:release"
)

// The event types of the failover guards.
const (
	// Damped: a member flapped (failed then alive) more than flap_limit
	// times within flap_window; failover hooks for it are held.
	Damped Type = "damped"
	// Brake: more than brake_fraction of the cluster failed within
	// brake_window; failover hooks are held until released.
	Brake Type = "brake"
)

// FailoverConfig sets the guards shared by every failover hook.
type FailoverConfig struct {
	// FlapLimit is how many failed→alive flaps within FlapWindow a member
	// may make before it is damped. Default 3.
	FlapLimit int
	// FlapWindow is the flap counting window, and how long a damped member
	// must stay stable before its failovers run again. Default 10m.
	FlapWindow time.Duration
	// BrakeFraction: when more than this fraction of the cluster fails
	// within BrakeWindow, failover hooks are held until released (a
	// network fault is likelier than a dead fleet). Default 0.5.
	BrakeFraction float64
	// BrakeWindow is the brake's counting window. Default 30s.
	BrakeWindow time.Duration
	// Lease is how long a run_on: one runner's claim lasts without a
	// renewal (failover.DefaultLease, 10s, when zero); see
	// failover.DefaultLease for the trade-off.
	Lease time.Duration
}

// Defaults of FailoverConfig.
const (
	DefaultFlapLimit     = 3
	DefaultFlapWindow    = 10 * time.Minute
	DefaultBrakeFraction = 0.5
	DefaultBrakeWindow   = 30 * time.Second
	// doneMemory is how long a finished failover's key is remembered, so a
	// late duplicate of its event does not run it again.
	doneMemory = time.Hour
	// taskExpiry bounds how long an agent waits for another runner's
	// announcement before forgetting the task.
	taskExpiry = time.Hour
)

// WithDefaults fills zero fields with the defaults.
func (c FailoverConfig) WithDefaults() FailoverConfig {
	if c.FlapLimit <= 0 {
		c.FlapLimit = DefaultFlapLimit
	}
	if c.FlapWindow <= 0 {
		c.FlapWindow = DefaultFlapWindow
	}
	if c.BrakeFraction <= 0 {
		c.BrakeFraction = DefaultBrakeFraction
	}
	if c.BrakeWindow <= 0 {
		c.BrakeWindow = DefaultBrakeWindow
	}
	if c.Lease <= 0 {
		c.Lease = failover.DefaultLease
	}
	return c
}

// ClusterView is what failover coordination needs from the agent.
type ClusterView interface {
	// Members returns every known member with its current status and tags.
	Members() []Member
	// Self returns the local member.
	Self() Member
	// Announce broadcasts an AnnounceEvent user event with the payload.
	Announce(payload []byte) error
	// Emit publishes a guard event (damped, brake) like any other event.
	// It is called from its own goroutine.
	Emit(ev Event)
	// ConfirmQuorum asks every member this agent believes alive for a
	// direct acknowledgement and returns how many answered (this agent
	// included) and how many members count toward quorum. It blocks up to
	// a short timeout. A view can be stale: in a partition the members of
	// the other side look alive until they are declared failed one by one,
	// so a quorum-guarded run is confirmed by acks before it starts.
	ConfirmQuorum() (acked, total int)
	// Ask sends a claim protocol request to the named members and returns
	// their answers (failover.Transport).
	Ask(ctx context.Context, to []string, payload []byte, timeout time.Duration) map[string][]byte
	// Remembered names the members this agent knew before its last
	// restart (its data dir's peers file). Those not in Members yet count
	// toward quorum as not alive, so that an agent restarted where it
	// reaches no one does not see itself as a majority of one.
	Remembered() []string
}

// Announcement is the payload of an AnnounceEvent.
type Announcement struct {
	// Hook is the hook's name.
	Hook string `json:"h"`
	// Key is the failure's cluster-wide key.
	Key string `json:"k"`
	// Runner is the agent that ran it.
	Runner string `json:"r"`
	// Outcome is the final run's outcome.
	Outcome Outcome `json:"o"`
	// Fence is the run's fencing token.
	Fence uint64 `json:"f,omitempty"`
}

type taskState int

const (
	taskSettling taskState = iota
	taskWaiting
	taskHeld
	taskConfirming
	taskClaiming
	taskRunning
)

// task is one failover on its way: one hook, one failure.
type task struct {
	q       *hookQueue
	key     string // the failure's cluster-wide key
	ev      Event
	state   taskState
	runner  string // the agent chosen to run it (or holding its claim), for run_on: one
	reason  string // why it is held
	created time.Time
	timer   *time.Timer
	// boots are the members' boot tags when the task was submitted: a
	// member that restarted since lost its runs and is not chosen.
	boots map[string]string
	// takeoverFrom is the runner this agent replaces, once it decided to.
	takeoverFrom string
	// backup fires when this agent, ranked after the chosen runner,
	// checks with a claim of its own that the task is under way.
	backup *time.Timer
	// claim is the run's lease while it runs.
	claim *claimedRun
}

// stopTimers stops the task's timers.
func (t *task) stopTimers() {
	for _, tm := range []*time.Timer{t.timer, t.backup} {
		if tm != nil {
			tm.Stop()
		}
	}
}

// claimedRun is the lease of a claimed run_on: one run: the run's context
// ends when the lease is lost (or the agent gives the run up), which kills
// the hook's process group.
type claimedRun struct {
	lease  failover.Lease
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	lost   bool
}

func newClaimedRun(parent context.Context, lease failover.Lease) *claimedRun {
	cr := &claimedRun{lease: lease}
	cr.ctx, cr.cancel = context.WithCancel(parent)
	go func() {
		select {
		case <-lease.Lost():
			cr.mu.Lock()
			cr.lost = true
			cr.mu.Unlock()
			cr.cancel()
		case <-cr.ctx.Done():
		}
	}()
	return cr
}

// leaseLost reports whether the run ended because its lease was lost.
func (cr *claimedRun) leaseLost() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.lost
}

// coordinator applies settle, quorum, damping and the brake, and chooses
// the one runner of run_on: one hooks.
type coordinator struct {
	r      *Runner
	view   ClusterView
	cfg    FailoverConfig
	now    func() time.Time
	lock   failover.Lock
	grants *failover.Grants

	mu         sync.Mutex
	tasks      map[string]*task
	done       map[string]time.Time
	failed     map[string]bool        // members whose last event was a failure
	flaps      map[string][]time.Time // member → recent failed→alive flaps
	damped     map[string]time.Time   // member → damped until
	failures   map[string]time.Time   // member → failure time, for the brake
	brake      bool
	brakeSince time.Time
	brakeBy    map[string]bool // the members whose failures engaged the brake
	// stopping is set when the agent drains: no new claim is made.
	stopping bool
	// running holds the claimed runs under way, by task id.
	running map[string]*claimedRun
}

func newCoordinator(r *Runner, view ClusterView, cfg FailoverConfig, lock failover.Lock, grants *failover.Grants) *coordinator {
	c := &coordinator{
		r: r, view: view, cfg: cfg.WithDefaults(), now: time.Now,
		tasks: map[string]*task{}, done: map[string]time.Time{}, failed: map[string]bool{},
		flaps: map[string][]time.Time{}, damped: map[string]time.Time{}, failures: map[string]time.Time{},
		running: map[string]*claimedRun{},
	}
	if grants == nil {
		grants, _ = failover.OpenGrants("") // in memory: cannot fail
	}
	grants.SetBootOf(c.bootOf)
	c.grants = grants
	if lock == nil {
		lock = failover.NewQuorum(failover.QuorumConfig{
			Grants: grants, Transport: view, Peers: c.peers, Lease: c.cfg.Lease, Logger: r.cfg.Logger,
		})
	}
	c.lock = lock
	return c
}

// bootOf returns a member's current boot tag (failover.Grants).
func (c *coordinator) bootOf(name string) (string, bool) {
	for _, m := range c.view.Members() {
		if m.Name == name {
			return m.Tags[BootTag], true
		}
	}
	return "", false
}

// peers returns this agent and the members that count toward a claim's
// majority: every member that has not left, this agent included.
func (c *coordinator) peers() (failover.Member, []failover.Member) {
	self := c.view.Self()
	me := failover.Member{Name: self.Name, Boot: self.Tags[BootTag], Alive: true}
	out := []failover.Member{me}
	members := c.view.Members()
	for _, m := range members {
		if m.Status != "left" && m.Name != self.Name {
			out = append(out, failover.Member{Name: m.Name, Boot: m.Tags[BootTag], Alive: m.Status == "alive"})
		}
	}
	for _, name := range c.unseen(members) {
		if name != self.Name {
			out = append(out, failover.Member{Name: name})
		}
	}
	return me, out
}

// isFailure reports whether ev is a failure that failover hooks act on.
func isFailure(ev *Event) bool {
	switch ev.Type {
	case MemberFailed:
		return true
	case Health:
		return ev.Health != nil && ev.Health.Status == "critical"
	}
	return false
}

// guarded reports whether runs of h for ev go through the coordinator.
func guarded(h *Hook, ev *Event) bool {
	return h.RunOn == RunOnOne || h.RunOn == RunOnSelf || h.Quorum || h.Settle > 0 || isFailure(ev)
}

// FailureKey is the cluster-wide key of the failure ev reports, the same
// on every agent that sees it, since it is made of what the failed member
// gossiped: NAME@BOOT.EPOCH:member-failed, where BOOT is the member's
// boot tag (new at each start) and EPOCH its epoch tag (one more each
// time the cluster declared it dead and it refuted), or with the health
// status and sequence for health failures.
func FailureKey(ev *Event) string {
	m, ok := ev.Subject()
	if !ok {
		return fmt.Sprintf("event-%d", ev.ID)
	}
	boot, epoch := m.Tags[BootTag], m.Tags[EpochTag]
	if boot == "" {
		boot = "0"
	}
	if epoch == "" {
		epoch = "0"
	}
	key := m.Name + "@" + boot + "." + epoch + ":" + string(ev.Type)
	if ev.Type == Health && ev.Health != nil {
		key += ":" + ev.Health.Status + ":" + m.Tags[HealthSeqTag]
	}
	if ev.Type == Check && ev.Check != nil {
		key = fmt.Sprintf("%s:%s:%d", key, ev.Check.ID, ev.ID)
	}
	return key
}

// observe updates the guards from one event before it is dispatched. It
// reports true when the event is coordination traffic that hooks must
// not see.
func (c *coordinator) observe(ev *Event) bool {
	if ev.Type == User && ev.User != nil {
		switch ev.User.Name {
		case AnnounceEvent:
			c.announced(ev.User.Payload)
			return true
		case ReleaseEvent:
			c.release()
			return true
		}
	}
	m, ok := ev.Subject()
	if !ok || !ev.Type.IsMember() {
		return false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Type {
	case MemberFailed:
		c.failed[m.Name] = true
		c.failures[m.Name] = now
		c.checkBrake(now)
	case MemberJoin, MemberUpdate:
		if m.Status == "alive" && c.failed[m.Name] {
			delete(c.failed, m.Name)
			c.flapped(m, now)
			c.releaseIfAllBack()
		}
	case MemberLeave, MemberReap:
		delete(c.failed, m.Name)
	}
	c.reevaluateLocked()
	return false
}

// flapped counts a failed→alive flap and damps the member past the limit.
func (c *coordinator) flapped(m Member, now time.Time) {
	recent := c.flaps[m.Name][:0]
	for _, t := range c.flaps[m.Name] {
		if now.Sub(t) < c.cfg.FlapWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	c.flaps[m.Name] = recent
	if len(recent) <= c.cfg.FlapLimit {
		return
	}
	until := now.Add(c.cfg.FlapWindow)
	_, already := c.damped[m.Name]
	c.damped[m.Name] = until
	time.AfterFunc(c.cfg.FlapWindow+time.Millisecond, c.reevaluate)
	if !already {
		c.r.cfg.Logger.Warn().Str("member", m.Name).Int("flaps", len(recent)).Dur("window", c.cfg.FlapWindow).
			Time("until", until).Msg("member is flapping: failover hooks for it are held (damped)")
		go c.view.Emit(Event{Type: Damped, Members: []Member{m}})
	}
}

// checkBrake engages the brake when too much of the cluster failed lately.
func (c *coordinator) checkBrake(now time.Time) {
	for name, t := range c.failures {
		if now.Sub(t) > c.cfg.BrakeWindow {
			delete(c.failures, name)
		}
	}
	size := 0
	for _, m := range c.view.Members() {
		if m.Status != "left" {
			size++
		}
	}
	if c.brake || float64(len(c.failures)) <= c.cfg.BrakeFraction*float64(size) {
		return
	}
	c.brake, c.brakeSince = true, now
	c.brakeBy = map[string]bool{}
	for name := range c.failures {
		c.brakeBy[name] = true
	}
	var failed []Member
	for _, m := range c.view.Members() {
		if _, ok := c.failures[m.Name]; ok {
			failed = append(failed, m)
		}
	}
	c.r.cfg.Logger.Error().Int("failed", len(c.failures)).Int("cluster", size).Dur("window", c.cfg.BrakeWindow).
		Msg("mass failure: failover hooks are held until released (vigil failover release)")
	go c.view.Emit(Event{Type: Brake, Members: failed})
}

// releaseIfAllBack lifts the brake once every member whose failure engaged
// it is alive again (a healed partition): nothing is left to hold, and a
// brake left on would hold the next, unrelated failure.
func (c *coordinator) releaseIfAllBack() {
	if !c.brake {
		return
	}
	for name := range c.brakeBy {
		if c.failed[name] {
			return
		}
	}
	c.brake = false
	c.failures = map[string]time.Time{}
	c.r.cfg.Logger.Warn().Msg("mass-failure brake released: every member that engaged it is alive again")
}

// Release lifts the mass-failure brake; held failovers are examined again.
// It reports whether the brake was engaged.
func (c *coordinator) release() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.brake
	c.brake = false
	c.failures = map[string]time.Time{}
	if was {
		c.r.cfg.Logger.Warn().Msg("mass-failure brake released")
	}
	c.reevaluateLocked()
	return was
}

// FailoverStatus describes the guards for the HTTP API.
type FailoverStatus struct {
	// Brake is true while the mass-failure brake holds failovers.
	Brake bool `json:"brake"`
	// BrakeSince is when the brake engaged.
	BrakeSince *time.Time `json:"brake_since,omitempty"`
	// Damped maps damped members to when their damping ends.
	Damped map[string]time.Time `json:"damped"`
	// Quorum is whether this agent sees a strict majority alive.
	Quorum bool `json:"quorum"`
	// Pending lists failovers that wait: settling, held or waiting for
	// another agent's run.
	Pending []PendingFailover `json:"pending"`
}

// PendingFailover is a failover not yet run or finished.
type PendingFailover struct {
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// Key is the failure's cluster-wide key.
	Key string `json:"key"`
	// State is settling, held, waiting or running.
	State string `json:"state"`
	// Runner is the agent chosen to run it (run_on: one).
	Runner string `json:"runner,omitempty"`
	// Reason says why it is held.
	Reason string `json:"reason,omitempty"`
	// Fence is the fence of the run under way on this agent.
	Fence uint64 `json:"fence,omitempty"`
}

var taskStateNames = map[taskState]string{taskSettling: "settling", taskWaiting: "waiting", taskHeld: "held",
	taskConfirming: "confirming quorum", taskClaiming: "claiming", taskRunning: "running"}

func (c *coordinator) status() FailoverStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := FailoverStatus{Brake: c.brake, Damped: map[string]time.Time{}, Pending: []PendingFailover{}}
	if c.brake {
		t := c.brakeSince.UTC()
		st.BrakeSince = &t
	}
	now := c.now()
	for n, until := range c.damped {
		if until.After(now) {
			st.Damped[n] = until.UTC()
		}
	}
	alive, total := c.counts()
	st.Quorum = 2*alive > total
	for _, t := range c.tasks {
		p := PendingFailover{Hook: t.q.hook.Name, Key: t.key, State: taskStateNames[t.state], Runner: t.runner, Reason: t.reason}
		if t.claim != nil {
			p.Fence = t.claim.lease.Fence()
		}
		st.Pending = append(st.Pending, p)
	}
	sort.Slice(st.Pending, func(i, j int) bool { return st.Pending[i].Key < st.Pending[j].Key })
	return st
}

// unseen returns the remembered members that members does not hold,
// while this agent has not joined anyone: once it sees another member
// alive, a push/pull gave it the cluster's full state, and a remembered
// member missing from it was removed while this agent was down.
func (c *coordinator) unseen(members []Member) []string {
	self := c.view.Self().Name
	known := make(map[string]bool, len(members))
	for _, m := range members {
		if m.Name != self && m.Status == "alive" {
			return nil
		}
		known[m.Name] = true
	}
	var out []string
	for _, name := range c.view.Remembered() {
		if !known[name] {
			out = append(out, name)
		}
	}
	return out
}

// counts returns how many members are alive and how many count toward
// quorum: every member except those that left gracefully, and the
// remembered members not seen since the restart.
func (c *coordinator) counts() (alive, total int) {
	members := c.view.Members()
	total = len(c.unseen(members))
	for _, m := range members {
		switch m.Status {
		case "alive":
			alive++
			total++
		case "left":
		default:
			total++
		}
	}
	return alive, total
}

// submit takes one guarded run: it waits settle, then evaluate decides.
// A run_on: one task is journaled at once, so an agent that stops before
// it runs examines it again at its next start (resume).
func (c *coordinator) submit(q *hookQueue, ev Event) {
	key := FailureKey(&ev)
	if q.hook.RunOn == RunOnOne {
		ev.Key = key
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := q.hook.Name + "\x00" + key
	c.prune()
	if _, ok := c.done[id]; ok {
		c.r.record(q.hook, &ev, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: key, Reason: "already run for this failure (announced by its runner)"})
		return
	}
	if _, ok := c.tasks[id]; ok {
		c.r.record(q.hook, &ev, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: key, Reason: "duplicate of a failover already under way"})
		return
	}
	t := c.newTask(q, ev, key)
	c.tasks[id] = t
	if q.hook.RunOn == RunOnOne {
		c.r.cfg.Journal.queued(q.hook.Name, &t.ev)
	}
	if q.hook.Settle > 0 {
		t.timer = time.AfterFunc(q.hook.Settle, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.tasks[id] == t && t.state == taskSettling {
				t.state = taskWaiting // settled; evaluate from scratch
				t.runner = ""
				c.evaluate(id, t)
			}
		})
		return
	}
	t.state = taskWaiting
	c.evaluate(id, t)
}

// newTask makes a task and notes the members' boot tags.
func (c *coordinator) newTask(q *hookQueue, ev Event, key string) *task {
	t := &task{q: q, key: key, ev: ev, created: c.now(), boots: map[string]string{}}
	for _, m := range c.view.Members() {
		t.boots[m.Name] = m.Tags[BootTag]
	}
	return t
}

// resume takes a run_on: one task the journal says a previous start of
// this agent left unfinished. It goes through ranking, the guards and the
// claim like any task: the claim learns from the other members whether it
// was completed or is being run elsewhere.
func (c *coordinator) resume(q *hookQueue, ev Event) {
	if ev.Key == "" {
		ev.Key = FailureKey(&ev)
	}
	ev.Fence, ev.TakeoverFrom = 0, ""
	c.mu.Lock()
	defer c.mu.Unlock()
	id := q.hook.Name + "\x00" + ev.Key
	if _, ok := c.tasks[id]; ok {
		return // the journal had it twice, or it failed again meanwhile
	}
	if _, ok := c.done[id]; ok {
		c.r.cfg.Journal.done(q.hook.Name, &ev)
		return
	}
	t := c.newTask(q, ev, ev.Key)
	t.state = taskWaiting
	c.tasks[id] = t
	c.evaluate(id, t)
}

func (c *coordinator) prune() {
	now := c.now()
	for id, at := range c.done {
		if now.Sub(at) > doneMemory {
			delete(c.done, id)
		}
	}
	for id, t := range c.tasks {
		if t.state != taskRunning && t.state != taskClaiming && now.Sub(t.created) > taskExpiry {
			c.end(id, t, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "expired waiting for the runner's announcement"})
		}
	}
}

// end forgets a task that will not run here, records why, and finishes
// its journal entry. The lock is held.
func (c *coordinator) end(id string, t *task, run Run) {
	delete(c.tasks, id)
	t.stopTimers()
	if run.Outcome != "" {
		c.r.record(t.q.hook, &t.ev, run)
	}
	if t.q.hook.RunOn == RunOnOne {
		c.r.cfg.Journal.done(t.q.hook.Name, &t.ev)
	}
}

func (c *coordinator) reevaluate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reevaluateLocked()
}

// reevaluateLocked examines every waiting and held task again: the view,
// quorum or guards may have changed.
func (c *coordinator) reevaluateLocked() {
	for id, t := range c.tasks {
		if t.state == taskWaiting || t.state == taskHeld {
			c.evaluate(id, t)
		}
	}
}

// hold records why a task waits (once per reason) and holds it.
func (c *coordinator) hold(t *task, reason string) {
	if t.state != taskHeld || t.reason != reason {
		c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeHeld, ExitCode: -1, Key: t.key, Reason: reason})
	}
	t.state, t.reason = taskHeld, reason
}

// evaluate decides a settled task: drop, hold, run here, or wait for the
// chosen runner. The lock is held.
func (c *coordinator) evaluate(id string, t *task) {
	h := &t.q.hook
	subject, _ := t.ev.Subject()
	drop := func(reason string) {
		c.end(id, t, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: reason})
	}
	now, members := c.view.Members(), map[string]Member{}
	for _, m := range now {
		members[m.Name] = m
	}
	cur, known := members[subject.Name]
	switch {
	case t.ev.Type == MemberFailed && known && cur.Status == "alive":
		drop("the member is alive again")
		return
	case isFailure(&t.ev) && t.ev.Type == Health && known && cur.Status == "alive" && cur.Tags[HealthTag] != "critical":
		drop("the member's health recovered")
		return
	}
	if reason := c.holdReason(t); reason != "" {
		c.hold(t, reason)
		return
	}
	self := c.view.Self()
	if h.RunOn != RunOnOne {
		if h.Quorum {
			c.confirmThenRun(id, t, t.ev)
			return
		}
		delete(c.tasks, id)
		c.r.enqueue(t.q, t.ev)
		return
	}
	if c.stopping {
		return // nothing new is claimed while the agent stops
	}
	ranked := Rank(h.Name, t.key, subject.Name, h.Eligible, c.candidates(t, now))
	if len(ranked) == 0 {
		drop("no alive eligible member to run it")
		return
	}
	chosen, pos := ranked[0], -1
	for i, n := range ranked {
		if n == self.Name {
			pos = i
		}
	}
	if chosen != self.Name {
		if t.runner != chosen {
			why := "agent " + chosen + " was chosen to run it"
			if t.runner != "" {
				why = "runner " + t.runner + " is gone; agent " + chosen + " takes over"
			}
			c.r.record(*h, &t.ev, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key, Reason: why})
		}
		t.state, t.runner, t.reason = taskWaiting, chosen, ""
		if pos > 0 && t.backup == nil {
			// Ranked after the chosen runner: check later, with a claim,
			// that it is under way. A claim that finds it held or done
			// changes nothing; one that is granted means the chosen runner
			// never claimed it (it restarted, or missed the failure).
			t.backup = time.AfterFunc(time.Duration(pos)*c.cfg.Lease, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				t.backup = nil
				if c.tasks[id] == t && (t.state == taskWaiting || t.state == taskHeld) && !c.stopping {
					if t.takeoverFrom == "" && t.runner != self.Name {
						t.takeoverFrom = t.runner
					}
					c.claim(id, t)
				}
			})
		}
		return
	}
	if t.runner != "" && t.runner != self.Name && t.takeoverFrom == "" {
		t.takeoverFrom = t.runner
	}
	t.runner, t.reason = self.Name, ""
	c.claim(id, t)
}

// candidates are the members that may run a task: every member, except
// those that restarted since the task was submitted (a new boot tag):
// they lost their runs, and a fast restart may hide the failure from them.
func (c *coordinator) candidates(t *task, members []Member) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		if boot, ok := t.boots[m.Name]; ok && boot != m.Tags[BootTag] {
			continue
		}
		out = append(out, m)
	}
	return out
}

// claimRetry is how soon a claim that found no majority (or an
// unreachable lock store) is tried again when no membership change
// comes first.
const claimRetry = 2 * time.Second

// claim asks the lock for the task; the run starts only with a lease. The
// lock is held; the claim is made without it.
func (c *coordinator) claim(id string, t *task) {
	t.state = taskClaiming
	tid := failover.TaskID{Hook: t.q.hook.Name, Key: t.key}
	go func() {
		lease, err := c.lock.Acquire(c.r.ctx, tid, !t.q.hook.Quorum)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.tasks[id] != t || t.state != taskClaiming || c.stopping {
			if lease != nil {
				go lease.Release(context.Background())
			}
			if c.tasks[id] == t && t.state == taskClaiming {
				t.state = taskWaiting
			}
			return
		}
		var done *failover.DoneError
		var held *failover.HeldError
		switch {
		case err == nil:
			c.start(id, t, lease)
		case errors.As(err, &done):
			c.done[id] = c.now()
			c.end(id, t, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: done.Fence,
				Reason: fmt.Sprintf("agent %s ran it (fence %d, outcome %s)", done.Runner, done.Fence, done.Outcome)})
		case errors.As(err, &held):
			if t.runner != held.Holder {
				c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: held.Fence,
					Reason: "agent " + held.Holder + " holds the claim (fence " + fmt.Sprint(held.Fence) + ")"})
			}
			t.state, t.runner, t.reason = taskWaiting, held.Holder, ""
			// Asked again once the holder's lease could have ended: if the
			// holder finished, the claim learns it; if it died, this agent
			// takes over.
			if t.backup != nil {
				t.backup.Stop()
			}
			t.backup = time.AfterFunc(held.Left+c.cfg.Lease/10, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				t.backup = nil
				if c.tasks[id] == t && t.state == taskWaiting && !c.stopping {
					t.takeoverFrom = held.Holder
					c.claim(id, t)
				}
			})
		default:
			c.hold(t, err.Error())
			time.AfterFunc(claimRetry, c.reevaluate)
		}
	}()
}

// start queues a claimed run, with its fence and lease. The lock is held.
func (c *coordinator) start(id string, t *task, lease failover.Lease) {
	ev := t.ev
	ev.Key, ev.Fence, ev.TakeoverFrom = t.key, lease.Fence(), t.takeoverFrom
	if prev, ok := lease.(interface{ Previous() string }); ok && prev.Previous() != "" && ev.TakeoverFrom == "" {
		ev.TakeoverFrom = prev.Previous()
	}
	ev.claim = newClaimedRun(c.r.ctx, lease)
	t.state, t.claim, t.reason = taskRunning, ev.claim, ""
	c.running[id] = ev.claim
	if !c.r.enqueue(t.q, ev) {
		delete(c.running, id)
		delete(c.tasks, id)
		ev.claim.cancel()
		go lease.Release(context.Background())
	}
}

// confirmRetry is how soon a run whose quorum could not be confirmed is
// examined again when no membership change comes first.
const confirmRetry = 2 * time.Second

// confirmThenRun asks the members for acks before a quorum-guarded
// run_on: all or self run; the run starts only when a strict majority of
// the cluster answered. The lock is held; the question is asked without it.
func (c *coordinator) confirmThenRun(id string, t *task, ev Event) {
	t.state = taskConfirming
	go func() {
		acked, total := c.view.ConfirmQuorum()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.tasks[id] != t || t.state != taskConfirming {
			return // decided meanwhile (a reload)
		}
		if 2*acked > total {
			delete(c.tasks, id)
			c.r.enqueue(t.q, ev)
			return
		}
		c.hold(t, fmt.Sprintf("no quorum: only %d of %d members answered", acked, total))
		time.AfterFunc(confirmRetry, c.reevaluate)
	}()
}

// holdReason says why a task must wait, or "" when it may go on.
func (c *coordinator) holdReason(t *task) string {
	h := &t.q.hook
	if h.Quorum {
		if alive, total := c.counts(); 2*alive <= total {
			return fmt.Sprintf("no quorum: this agent sees %d of %d members alive", alive, total)
		}
	}
	if !isFailure(&t.ev) || h.RunOn == RunOnSelf {
		return ""
	}
	subject, _ := t.ev.Subject()
	if until, ok := c.damped[subject.Name]; ok {
		if c.now().Before(until) {
			return fmt.Sprintf("member %s is damped (flapping) until %s", subject.Name, until.UTC().Format(time.RFC3339))
		}
		delete(c.damped, subject.Name)
	}
	if c.brake {
		return "mass-failure brake engaged: release with `vigil failover release`"
	}
	return ""
}

// completeTimeout bounds how long a completion is sent to the members.
const completeTimeout = 3 * time.Second

// finished is called when a claimed run ended (after its retries). A
// completed run is recorded with the granters and announced; a run the
// agent gave up (stopping) releases its claim; a run whose lease was lost
// goes back to waiting, to learn from the next claim whether the agent
// that took over completed it.
func (c *coordinator) finished(q *hookQueue, ev *Event, final Run) {
	cr := ev.claim
	if cr == nil {
		return
	}
	id := q.hook.Name + "\x00" + ev.Key
	cr.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, id)
	t := c.tasks[id]
	if final.Outcome == OutcomeCancelled {
		if c.stopping || c.r.ctx.Err() != nil || t == nil {
			// Given up by a stopping agent: another member may take it
			// over at once. The journal keeps it for the next start.
			delete(c.tasks, id)
			go cr.lease.Release(context.Background())
			return
		}
		t.state, t.claim, t.runner = taskWaiting, nil, ""
		t.takeoverFrom = ""
		time.AfterFunc(c.cfg.Lease/10, c.reevaluate)
		return
	}
	if t != nil {
		delete(c.tasks, id)
		t.stopTimers()
	}
	c.done[id] = c.now()
	hook, key, outcome, fence := q.hook.Name, ev.Key, final.Outcome, ev.Fence
	self := c.view.Self().Name
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
		defer cancel()
		if err := cr.lease.Complete(ctx, string(outcome)); err != nil {
			c.r.cfg.Logger.Warn().Err(err).Str("hook", hook).Str("key", key).Uint64("fence", fence).
				Msg("failover run completed, but a newer claim replaced it while it ran: the newer run carries a larger fence")
		}
		payload, _ := json.Marshal(Announcement{Hook: hook, Key: key, Runner: self, Outcome: outcome, Fence: fence})
		if err := c.view.Announce(payload); err != nil {
			c.r.cfg.Logger.Error().Err(err).Str("hook", hook).Str("key", key).Msg("could not announce the failover's end")
		}
	}()
}

// announced takes another agent's announcement: the failover is over.
func (c *coordinator) announced(payload string) {
	var a Announcement
	if err := json.Unmarshal([]byte(payload), &a); err != nil || a.Hook == "" || a.Key == "" {
		c.r.cfg.Logger.Warn().Str("payload", payload).Msg("ignoring a malformed failover announcement")
		return
	}
	id := a.Hook + "\x00" + a.Key
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[id] = c.now()
	if t, ok := c.tasks[id]; ok && t.state != taskRunning && t.state != taskClaiming {
		var run Run
		if t.runner != a.Runner {
			// Not recorded yet: the announcement beat this agent's own
			// decision (or named another runner than it expected).
			run = Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: a.Fence,
				Reason: "agent " + a.Runner + " ran it (outcome " + string(a.Outcome) + ")"}
		}
		c.end(id, t, run)
		c.r.cfg.Logger.Info().Str("hook", a.Hook).Str("key", a.Key).Str("runner", a.Runner).Str("outcome", string(a.Outcome)).
			Msg("failover ran on another agent")
	}
}

// drain is called when the agent stops, before it leaves the cluster: no
// new claim is made, claimed runs under way may finish until ctx ends
// (their completion is recorded with the granters and announced), and
// those still running then are killed and their claims released, so
// another member takes over at once instead of after the lease.
func (c *coordinator) drain(ctx context.Context) {
	c.mu.Lock()
	c.stopping = true
	for _, t := range c.tasks {
		if t.state != taskRunning {
			t.stopTimers()
		}
	}
	c.mu.Unlock()
	waitRunning := func(ctx context.Context) bool {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			c.mu.Lock()
			n := len(c.running)
			c.mu.Unlock()
			if n == 0 {
				return true
			}
			select {
			case <-ctx.Done():
				return false
			case <-tick.C:
			}
		}
	}
	if waitRunning(ctx) {
		return
	}
	c.mu.Lock()
	for _, cr := range c.running {
		cr.cancel()
	}
	c.mu.Unlock()
	kill, cancel := context.WithTimeout(context.Background(), c.r.cfg.KillGrace+time.Second)
	defer cancel()
	waitRunning(kill)
}

// drainTimeout is how long drain lets claimed runs finish: the longest
// timeout of a run_on: one hook with a run under way.
func (c *coordinator) drainTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	for _, t := range c.tasks {
		if t.state == taskRunning {
			d = max(d, t.q.hook.Timeout*time.Duration(t.q.hook.Retries+1))
		}
	}
	return d
}

// requeue points pending failovers at the hooks' queues after a reload;
// a failover of a removed hook is dropped.
func (c *coordinator) requeue(queues map[string]*hookQueue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range c.tasks {
		if q, ok := queues[t.q.hook.Name]; ok {
			t.q = q
			continue
		}
		c.end(id, t, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "hook removed by a reload"})
	}
}
