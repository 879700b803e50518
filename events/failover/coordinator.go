package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
)

// Failover coordination: the guards and the choice of one runner that make
// a failover hook run once, by the right survivor, only with a majority,
// and never in a flapping storm. docs/md explains the design.

// The user events of failover coordination. Hooks never see them.
const (
	// AnnounceEvent: the runner of a run_on: one hook tells every agent
	// the run is over.
	AnnounceEvent = "vigil:failover"
	// ReleaseEvent: an operator released the mass-failure brake; every
	// agent releases its own.
	ReleaseEvent = "vigil:release"
)

// Config sets the guards shared by every failover hook.
type Config struct {
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
	// renewal (DefaultLease, 10s, when zero); see
	// DefaultLease for the trade-off.
	Lease time.Duration
}

// Defaults of Config.
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
func (c Config) WithDefaults() Config {
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
		c.Lease = DefaultLease
	}
	return c
}

// ClusterView is what failover coordination needs from the agent.
type ClusterView interface {
	// Members returns every known member with its current status and tags.
	Members() []events.Member
	// Self returns the local member.
	Self() events.Member
	// Announce broadcasts an AnnounceEvent user event with the payload.
	Announce(payload []byte) error
	// Emit publishes a guard event (damped, brake) like any other event.
	// It is called from its own goroutine.
	Emit(ev events.Event)
	// ConfirmQuorum asks every member this agent believes alive for a
	// direct acknowledgement and returns how many answered (this agent
	// included) and how many members count toward quorum. It blocks up to
	// a short timeout. A view can be stale: in a partition the members of
	// the other side look alive until they are declared failed one by one,
	// so a quorum-guarded run is confirmed by acks before it starts.
	ConfirmQuorum() (acked, total int)
	// Ask sends a claim protocol request to the named members and returns
	// their answers (Transport).
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
	Outcome events.Outcome `json:"o"`
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
	hook    string // the hook's name
	one     bool   // a run_on: one task, journaled from its submission
	key     string // the failure's cluster-wide key
	ev      events.Event
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
	lease  Lease
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	lost   bool
}

func newClaimedRun(parent context.Context, lease Lease) *claimedRun {
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

// Context implements hook.RunGuard.
func (cr *claimedRun) Context() context.Context { return cr.ctx }

// LeaseDeadline implements hook.LeasedGuard.
func (cr *claimedRun) LeaseDeadline() (time.Time, <-chan struct{}) { return cr.lease.LeaseDeadline() }

// LeaseExpired implements hook.LeasedGuard: the guard process killed the
// hook at the lease's deadline, so the lease is lost here too, at once,
// before the runner reports the run.
func (cr *claimedRun) LeaseExpired(why string) {
	cr.mu.Lock()
	cr.lost = true
	cr.mu.Unlock()
	cr.lease.MarkLost(why)
	cr.cancel()
}

// Completion implements hook.LeasedGuard: what the guard process records
// by itself when the hook completes (the etcd lock), or nothing.
func (cr *claimedRun) Completion() (string, []byte) {
	if gc, ok := cr.lease.(GuardCompleter); ok {
		return gc.GuardCompletion()
	}
	return "", nil
}

// Lost implements hook.RunGuard: the run ended because its lease was
// lost.
func (cr *claimedRun) Lost() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.lost
}

// CoordinatorConfig configures a Coordinator.
type CoordinatorConfig struct {
	// View is the agent's view of the cluster and its way to gossip.
	View ClusterView
	// Guards are the guards shared by failover hooks, and the lease.
	Guards Config
	// Lock decides who runs a run_on: one task (the etcd mode); nil means
	// the gossip claim protocol (Quorum) over View, with Grants.
	Lock Lock
	// Grants are this agent's grants of the gossip claim protocol; nil
	// keeps them in memory (an agent without a data_dir).
	Grants *Grants
	// KillGrace is the runner's time between SIGTERM and SIGKILL, which
	// Drain allows a killed run to end.
	KillGrace time.Duration
	// Logger receives the coordination's decisions.
	Logger zerolog.Logger
}

// Coordinator applies settle, quorum, damping and the brake, chooses the
// one runner of run_on: one hooks, and claims each such run from its Lock
// before the runner starts it. It implements hook.Coordinator once
// attached to a runner (Attach).
type Coordinator struct {
	r         hook.CoordinatedRunner
	view      ClusterView
	cfg       Config
	now       func() time.Time
	lock      Lock
	grants    *Grants
	log       zerolog.Logger
	killGrace time.Duration
	ctx       context.Context
	cancel    context.CancelFunc

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

// NewCoordinator returns a coordinator; Attach gives it its runner.
func NewCoordinator(cfg CoordinatorConfig) *Coordinator {
	c := &Coordinator{
		view: cfg.View, cfg: cfg.Guards.WithDefaults(), now: time.Now, log: cfg.Logger, killGrace: cfg.KillGrace,
		tasks: map[string]*task{}, done: map[string]time.Time{}, failed: map[string]bool{},
		flaps: map[string][]time.Time{}, damped: map[string]time.Time{}, failures: map[string]time.Time{},
		running: map[string]*claimedRun{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	grants := cfg.Grants
	if grants == nil {
		grants, _ = OpenGrants("") // in memory: cannot fail
	}
	grants.SetBootOf(c.bootOf)
	grants.SetLifeOf(c.lifeOf)
	c.grants = grants
	c.lock = cfg.Lock
	if c.lock == nil {
		c.lock = NewQuorum(QuorumConfig{
			Grants: grants, Transport: cfg.View, Peers: c.peers, Lease: c.cfg.Lease, Logger: cfg.Logger,
		})
	}
	return c
}

// Attach gives the coordinator the runner it hands runs to; it is
// hook.RunnerConfig's Coordinate.
func (c *Coordinator) Attach(r hook.CoordinatedRunner) hook.Coordinator {
	c.r = r
	return c
}

// Close stops the claims under way; call it after the runner's Close.
func (c *Coordinator) Close() { c.cancel() }

// HandleClaim answers one request of the gossip claim protocol from
// another agent (the payload of its claim query); nil for a malformed one.
func (c *Coordinator) HandleClaim(payload []byte) []byte { return c.grants.Handle(payload) }

// def returns the current definition of the task's hook.
func (c *Coordinator) def(t *task) hook.Hook {
	h, _ := c.r.Hook(t.hook)
	h.Name = t.hook
	return h
}

// bootOf returns a member's current boot tag (Grants).
func (c *Coordinator) bootOf(name string) (string, bool) {
	for _, m := range c.view.Members() {
		if m.Name == name {
			return m.Tags[events.BootTag], true
		}
	}
	return "", false
}

// life names one life of a member: its boot and epoch tags, as in its
// failure keys.
func life(m events.Member) string {
	boot, epoch := m.Tags[events.BootTag], m.Tags[events.EpochTag]
	if boot == "" {
		boot = "0"
	}
	if epoch == "" {
		epoch = "0"
	}
	return boot + "." + epoch
}

// lifeOf returns a member's current life and whether it is alive
// (Grants: a claim for a member seen alive in another life is refused).
func (c *Coordinator) lifeOf(name string) (string, bool, bool) {
	for _, m := range c.view.Members() {
		if m.Name == name {
			return life(m), m.Status == events.StatusAlive, true
		}
	}
	return "", false, false
}

// peers returns this agent and the members that count toward a claim's
// majority: every member that has not left, this agent included.
func (c *Coordinator) peers() (Member, []Member) {
	self := c.view.Self()
	me := Member{Name: self.Name, Boot: self.Tags[events.BootTag], Alive: true}
	out := []Member{me}
	members := c.view.Members()
	for _, m := range members {
		if m.Status != events.StatusLeft && m.Name != self.Name {
			out = append(out, Member{Name: m.Name, Boot: m.Tags[events.BootTag], Alive: m.Status == events.StatusAlive})
		}
	}
	for _, name := range c.unseen(members) {
		if name != self.Name {
			out = append(out, Member{Name: name})
		}
	}
	return me, out
}

// isFailure reports whether ev is a failure that failover hooks act on.
func isFailure(ev *events.Event) bool {
	switch ev.Type {
	case events.MemberFailed:
		return true
	case events.Health:
		return ev.Health != nil && ev.Health.Status == events.HealthCritical
	}
	return false
}

// Guards implements hook.Coordinator: it reports whether runs of h for
// ev go through the coordinator.
func (c *Coordinator) Guards(h *hook.Hook, ev *events.Event) bool {
	return h.RunOn == hook.RunOnOne || h.RunOn == hook.RunOnSelf || h.Quorum || h.Settle > 0 || isFailure(ev)
}

// FailureKey is the cluster-wide key of the failure ev reports, the same
// on every agent that sees it, since it is made of what the failed member
// gossiped: NAME@BOOT.EPOCH:member-failed, where BOOT is the member's
// boot tag (new at each start) and EPOCH its epoch tag (one more at each
// announcement of itself: a member declared failed comes back only
// through one), or with the health
// status and sequence for health failures.
func FailureKey(ev *events.Event) string {
	m, ok := ev.Subject()
	if !ok {
		return fmt.Sprintf("event-%d", ev.ID)
	}
	key := m.Name + "@" + life(m) + ":" + string(ev.Type)
	if ev.Type == events.Health && ev.Health != nil {
		key += ":" + string(ev.Health.Status) + ":" + m.Tags[events.HealthSeqTag]
	}
	if ev.Type == events.Check && ev.Check != nil {
		key = fmt.Sprintf("%s:%s:%d", key, ev.Check.ID, ev.ID)
	}
	return key
}

// Observe implements hook.Coordinator: it updates the guards from one
// event before it is dispatched. It reports true when the event is
// coordination traffic that hooks must not see.
func (c *Coordinator) Observe(ev *events.Event) bool {
	if ev.Type == events.User && ev.User != nil {
		switch ev.User.Name {
		case AnnounceEvent:
			c.announced(ev.User.Payload)
			return true
		case ReleaseEvent:
			c.Release()
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
	case events.MemberFailed:
		c.failed[m.Name] = true
		c.failures[m.Name] = now
		c.checkBrake(now)
	case events.MemberJoin, events.MemberUpdate:
		if m.Status == events.StatusAlive && c.failed[m.Name] {
			delete(c.failed, m.Name)
			c.flapped(m, now)
			c.releaseIfAllBack()
		}
	case events.MemberLeave, events.MemberReap:
		delete(c.failed, m.Name)
	}
	c.reevaluateLocked()
	return false
}

// flapped counts a failed→alive flap and damps the member past the limit.
func (c *Coordinator) flapped(m events.Member, now time.Time) {
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
		c.log.Warn().Str("member", m.Name).Int("flaps", len(recent)).Dur("window", c.cfg.FlapWindow).
			Time("until", until).Msg("member is flapping: failover hooks for it are held (damped)")
		go c.view.Emit(events.Event{Type: events.Damped, Members: []events.Member{m}})
	}
}

// checkBrake engages the brake when too much of the cluster failed lately.
func (c *Coordinator) checkBrake(now time.Time) {
	for name, t := range c.failures {
		if now.Sub(t) > c.cfg.BrakeWindow {
			delete(c.failures, name)
		}
	}
	size := 0
	for _, m := range c.view.Members() {
		if m.Status != events.StatusLeft {
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
	var failed []events.Member
	for _, m := range c.view.Members() {
		if _, ok := c.failures[m.Name]; ok {
			failed = append(failed, m)
		}
	}
	c.log.Error().Int("failed", len(c.failures)).Int("cluster", size).Dur("window", c.cfg.BrakeWindow).
		Msg("mass failure: failover hooks are held until released (vigil failover release)")
	go c.view.Emit(events.Event{Type: events.Brake, Members: failed})
}

// releaseIfAllBack lifts the brake once every member whose failure engaged
// it is alive again (a healed partition): nothing is left to hold, and a
// brake left on would hold the next, unrelated failure.
func (c *Coordinator) releaseIfAllBack() {
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
	c.log.Warn().Msg("mass-failure brake released: every member that engaged it is alive again")
}

// Release lifts the mass-failure brake; held failovers are examined again.
// It reports whether the brake was engaged.
func (c *Coordinator) Release() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.brake
	c.brake = false
	c.failures = map[string]time.Time{}
	if was {
		c.log.Warn().Msg("mass-failure brake released")
	}
	c.reevaluateLocked()
	return was
}

// Status describes the guards for the HTTP API.
type Status struct {
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
	Pending []Pending `json:"pending"`
}

// Pending is a failover not yet run or finished.
type Pending struct {
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

func (c *Coordinator) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Brake: c.brake, Damped: map[string]time.Time{}, Pending: []Pending{}}
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
		p := Pending{Hook: t.hook, Key: t.key, State: taskStateNames[t.state], Runner: t.runner, Reason: t.reason}
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
func (c *Coordinator) unseen(members []events.Member) []string {
	self := c.view.Self().Name
	known := make(map[string]bool, len(members))
	for _, m := range members {
		if m.Name != self && m.Status == events.StatusAlive {
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
func (c *Coordinator) counts() (alive, total int) {
	members := c.view.Members()
	total = len(c.unseen(members))
	for _, m := range members {
		switch m.Status {
		case events.StatusAlive:
			alive++
			total++
		case events.StatusLeft:
		default:
			total++
		}
	}
	return alive, total
}

// Submit implements hook.Coordinator: it takes one guarded run, waits
// settle, then evaluate decides.
// A run_on: one task is journaled at once, so an agent that stops before
// it runs examines it again at its next start (resume).
func (c *Coordinator) Submit(hookName string, ev events.Event) {
	h, _ := c.r.Hook(hookName)
	key := FailureKey(&ev)
	if ev.Type == events.Refuted {
		// A failure the agent found false (confirm_failures): never a
		// failover, whatever the hook's filters let through.
		c.r.Record(hookName, &ev, events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: key, Reason: "the failure was refuted: the member answered when checked"})
		return
	}
	if h.RunOn == hook.RunOnOne {
		ev.Key = key
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := hookName + "\x00" + key
	c.prune()
	if _, ok := c.done[id]; ok {
		c.r.Record(hookName, &ev, events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: key, Reason: "already run for this failure (announced by its runner)"})
		return
	}
	if _, ok := c.tasks[id]; ok {
		c.r.Record(hookName, &ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Key: key, Reason: "duplicate of a failover already under way"})
		return
	}
	t := c.newTask(hookName, ev, key)
	c.tasks[id] = t
	if h.RunOn == hook.RunOnOne {
		c.r.JournalQueued(hookName, &t.ev)
	}
	if h.Settle > 0 {
		t.timer = time.AfterFunc(h.Settle, func() {
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
func (c *Coordinator) newTask(hookName string, ev events.Event, key string) *task {
	h, _ := c.r.Hook(hookName)
	t := &task{hook: hookName, one: h.RunOn == hook.RunOnOne, key: key, ev: ev, created: c.now(), boots: map[string]string{}}
	for _, m := range c.view.Members() {
		t.boots[m.Name] = m.Tags[events.BootTag]
	}
	return t
}

// Resume implements hook.Coordinator: it takes a run_on: one task the
// journal says a previous start of this agent left unfinished. It goes
// through ranking, the guards and the claim like any task: the claim
// learns from the other members whether it was completed or is being run
// elsewhere.
func (c *Coordinator) Resume(hookName string, ev events.Event) {
	if ev.Key == "" {
		ev.Key = FailureKey(&ev)
	}
	ev.Fence, ev.TakeoverFrom = 0, ""
	c.mu.Lock()
	defer c.mu.Unlock()
	id := hookName + "\x00" + ev.Key
	if _, ok := c.tasks[id]; ok {
		return // the journal had it twice, or it failed again meanwhile
	}
	if _, ok := c.done[id]; ok {
		c.r.JournalDone(hookName, &ev)
		return
	}
	t := c.newTask(hookName, ev, ev.Key)
	t.state = taskWaiting
	c.tasks[id] = t
	c.evaluate(id, t)
}

func (c *Coordinator) prune() {
	now := c.now()
	for id, at := range c.done {
		if now.Sub(at) > doneMemory {
			delete(c.done, id)
		}
	}
	for id, t := range c.tasks {
		if t.state != taskRunning && t.state != taskClaiming && now.Sub(t.created) > taskExpiry {
			c.end(id, t, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "expired waiting for the runner's announcement"})
		}
	}
}

// end forgets a task that will not run here, records why, and finishes
// its journal entry. The lock is held.
func (c *Coordinator) end(id string, t *task, run events.Run) {
	delete(c.tasks, id)
	t.stopTimers()
	if run.Outcome != "" {
		c.r.Record(t.hook, &t.ev, run)
	}
	if t.one {
		c.r.JournalDone(t.hook, &t.ev)
	}
}

func (c *Coordinator) reevaluate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reevaluateLocked()
}

// reevaluateLocked examines every waiting and held task again: the view,
// quorum or guards may have changed.
func (c *Coordinator) reevaluateLocked() {
	for id, t := range c.tasks {
		if t.state == taskWaiting || t.state == taskHeld {
			c.evaluate(id, t)
		}
	}
}

// hold records why a task waits (once per reason) and holds it.
func (c *Coordinator) hold(t *task, reason string) {
	if t.state != taskHeld || t.reason != reason {
		c.r.Record(t.hook, &t.ev, events.Run{Outcome: events.OutcomeHeld, ExitCode: -1, Key: t.key, Reason: reason})
	}
	t.state, t.reason = taskHeld, reason
}

// evaluate decides a settled task: drop, hold, run here, or wait for the
// chosen runner. The lock is held.
func (c *Coordinator) evaluate(id string, t *task) {
	def := c.def(t)
	h := &def
	subject, _ := t.ev.Subject()
	drop := func(reason string) {
		c.end(id, t, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Key: t.key, Reason: reason})
	}
	now, members := c.view.Members(), map[string]events.Member{}
	for _, m := range now {
		members[m.Name] = m
	}
	cur, known := members[subject.Name]
	switch {
	case t.ev.Type == events.MemberFailed && known && cur.Status == events.StatusAlive:
		drop("the member is alive again")
		return
	case isFailure(&t.ev) && t.ev.Type == events.Health && known && cur.Status == events.StatusAlive && cur.Health() != events.HealthCritical:
		drop("the member's health recovered")
		return
	}
	if reason := c.holdReason(t); reason != "" {
		c.hold(t, reason)
		return
	}
	if t.state == taskHeld && h.Settle > 0 {
		// Held until now (no quorum, damping, the brake): the view that
		// just changed (a healed partition) is still converging, and the
		// member may be seen back any moment. Settle again before deciding.
		t.state, t.reason = taskSettling, ""
		t.timer = time.AfterFunc(h.Settle, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.tasks[id] == t && t.state == taskSettling {
				t.state = taskWaiting
				c.evaluate(id, t)
			}
		})
		return
	}
	self := c.view.Self()
	if h.RunOn != hook.RunOnOne {
		if h.Quorum {
			c.confirmThenRun(id, t, t.ev)
			return
		}
		delete(c.tasks, id)
		c.r.Enqueue(t.hook, t.ev, nil)
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
			c.r.Record(h.Name, &t.ev, events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: t.key, Reason: why})
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
func (c *Coordinator) candidates(t *task, members []events.Member) []events.Member {
	out := make([]events.Member, 0, len(members))
	for _, m := range members {
		if boot, ok := t.boots[m.Name]; ok && boot != m.Tags[events.BootTag] {
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
func (c *Coordinator) claim(id string, t *task) {
	t.state = taskClaiming
	tid := TaskID{Hook: t.hook, Key: t.key}
	go func() {
		opts := ClaimOptions{AliveOnly: !c.def(t).Quorum}
		if subject, ok := t.ev.Subject(); ok && t.ev.Type == events.MemberFailed {
			opts.Subject, opts.Life = subject.Name, life(subject)
		}
		lease, err := c.lock.Acquire(c.ctx, tid, opts)
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
		var done *DoneError
		var held *HeldError
		switch {
		case err == nil:
			c.start(id, t, lease)
		case errors.As(err, &done):
			c.done[id] = c.now()
			c.end(id, t, events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: done.Fence,
				Reason: fmt.Sprintf("agent %s ran it (fence %d, outcome %s)", done.Runner, done.Fence, done.Outcome)})
		case errors.As(err, &held):
			if t.runner != held.Holder {
				c.r.Record(t.hook, &t.ev, events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: held.Fence,
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
func (c *Coordinator) start(id string, t *task, lease Lease) {
	ev := t.ev
	ev.Key, ev.Fence, ev.TakeoverFrom = t.key, lease.Fence(), t.takeoverFrom
	if prev, ok := lease.(interface{ Previous() string }); ok && prev.Previous() != "" && ev.TakeoverFrom == "" {
		ev.TakeoverFrom = prev.Previous()
	}
	cr := newClaimedRun(c.ctx, lease)
	t.state, t.claim, t.reason = taskRunning, cr, ""
	c.running[id] = cr
	if !c.r.Enqueue(t.hook, ev, cr) {
		delete(c.running, id)
		delete(c.tasks, id)
		cr.cancel()
		go lease.Release(context.Background())
	}
}

// confirmRetry is how soon a run whose quorum could not be confirmed is
// examined again when no membership change comes first.
const confirmRetry = 2 * time.Second

// confirmThenRun asks the members for acks before a quorum-guarded
// run_on: all or self run; the run starts only when a strict majority of
// the cluster answered. The lock is held; the question is asked without it.
func (c *Coordinator) confirmThenRun(id string, t *task, ev events.Event) {
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
			c.r.Enqueue(t.hook, ev, nil)
			return
		}
		c.hold(t, fmt.Sprintf("no quorum: only %d of %d members answered", acked, total))
		time.AfterFunc(confirmRetry, c.reevaluate)
	}()
}

// holdReason says why a task must wait, or "" when it may go on.
func (c *Coordinator) holdReason(t *task) string {
	def := c.def(t)
	h := &def
	if h.Quorum {
		if alive, total := c.counts(); 2*alive <= total {
			return fmt.Sprintf("no quorum: this agent sees %d of %d members alive", alive, total)
		}
	}
	if !isFailure(&t.ev) || h.RunOn == hook.RunOnSelf {
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

// Finished implements hook.Coordinator: a claimed run ended (after its
// retries). A
// completed run is recorded with the granters and announced; a run the
// agent gave up (stopping) releases its claim; a run whose lease was lost
// goes back to waiting, to learn from the next claim whether the agent
// that took over completed it.
func (c *Coordinator) Finished(hookName string, ev *events.Event, guard hook.RunGuard, final events.Run) {
	cr, ok := guard.(*claimedRun)
	if !ok {
		return
	}
	id := hookName + "\x00" + ev.Key
	cr.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, id)
	t := c.tasks[id]
	if final.Outcome == events.OutcomeCancelled {
		if c.stopping || c.ctx.Err() != nil || t == nil {
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
	key, outcome, fence := ev.Key, final.Outcome, ev.Fence
	self := c.view.Self().Name
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
		defer cancel()
		if err := cr.lease.Complete(ctx, string(outcome)); err != nil {
			c.log.Warn().Err(err).Str("hook", hookName).Str("key", key).Uint64("fence", fence).
				Msg("failover run completed, but a newer claim replaced it while it ran: the newer run carries a larger fence")
		}
		payload, _ := json.Marshal(Announcement{Hook: hookName, Key: key, Runner: self, Outcome: outcome, Fence: fence})
		if err := c.view.Announce(payload); err != nil {
			c.log.Error().Err(err).Str("hook", hookName).Str("key", key).Msg("could not announce the failover's end")
		}
	}()
}

// announced takes another agent's announcement: the failover is over.
func (c *Coordinator) announced(payload string) {
	var a Announcement
	if err := json.Unmarshal([]byte(payload), &a); err != nil || a.Hook == "" || a.Key == "" {
		c.log.Warn().Str("payload", payload).Msg("ignoring a malformed failover announcement")
		return
	}
	id := a.Hook + "\x00" + a.Key
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[id] = c.now()
	if t, ok := c.tasks[id]; ok && t.state != taskRunning && t.state != taskClaiming {
		var run events.Run
		if t.runner != a.Runner {
			// Not recorded yet: the announcement beat this agent's own
			// decision (or named another runner than it expected).
			run = events.Run{Outcome: events.OutcomeSkipped, ExitCode: -1, Key: t.key, Fence: a.Fence,
				Reason: "agent " + a.Runner + " ran it (outcome " + string(a.Outcome) + ")"}
		}
		c.end(id, t, run)
		c.log.Info().Str("hook", a.Hook).Str("key", a.Key).Str("runner", a.Runner).Str("outcome", string(a.Outcome)).
			Msg("failover ran on another agent")
	}
}

// Drain is called when the agent stops, before it leaves the cluster: no
// new claim is made, claimed runs under way may finish until ctx ends
// (their completion is recorded with the granters and announced), and
// those still running then are killed and their claims released, so
// another member takes over at once instead of after the lease.
func (c *Coordinator) Drain(ctx context.Context) {
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
	kill, cancel := context.WithTimeout(context.Background(), c.killGrace+time.Second)
	defer cancel()
	waitRunning(kill)
}

// DrainTimeout is how long Drain lets claimed runs finish: the longest
// timeout of a run_on: one hook with a run under way.
func (c *Coordinator) DrainTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	for _, t := range c.tasks {
		if t.state == taskRunning {
			h := c.def(t)
			d = max(d, h.Timeout*time.Duration(h.Retries+1))
		}
	}
	return d
}

// HooksChanged implements hook.Coordinator: after a reload, a pending
// failover of a removed hook is dropped; the others go on with the hook's
// new definition.
func (c *Coordinator) HooksChanged(hooks []hook.Hook) {
	names := make(map[string]bool, len(hooks))
	for _, h := range hooks {
		names[h.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range c.tasks {
		if names[t.hook] {
			continue
		}
		c.end(id, t, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "hook removed by a reload"})
	}
}
