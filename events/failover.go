package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
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
}

type taskState int

const (
	taskSettling taskState = iota
	taskWaiting
	taskHeld
	taskConfirming
	taskRunning
)

// task is one failover on its way: one hook, one failure.
type task struct {
	q       *hookQueue
	key     string // the run's key: base key and failure count
	base    string // the failure's base key, which ranks the runners
	ev      Event
	state   taskState
	runner  string // the agent chosen to run it, for run_on: one
	reason  string // why it is held
	created time.Time
	timer   *time.Timer
}

// coordinator applies settle, quorum, damping and the brake, and chooses
// the one runner of run_on: one hooks.
type coordinator struct {
	r    *Runner
	view ClusterView
	cfg  FailoverConfig
	now  func() time.Time

	mu         sync.Mutex
	tasks      map[string]*task
	done       map[string]time.Time
	failed     map[string]bool        // members whose last event was a failure
	flaps      map[string][]time.Time // member → recent failed→alive flaps
	damped     map[string]time.Time   // member → damped until
	failures   map[string]time.Time   // member → failure time, for the brake
	failCount  map[string]int         // base key → failures seen
	brake      bool
	brakeSince time.Time
	brakeBy    map[string]bool // the members whose failures engaged the brake
}

func newCoordinator(r *Runner, view ClusterView, cfg FailoverConfig) *coordinator {
	return &coordinator{
		r: r, view: view, cfg: cfg.WithDefaults(), now: time.Now,
		tasks: map[string]*task{}, done: map[string]time.Time{}, failed: map[string]bool{},
		flaps: map[string][]time.Time{}, damped: map[string]time.Time{}, failures: map[string]time.Time{},
		failCount: map[string]int{},
	}
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

// FailureKey is the cluster-wide base key of the failure ev reports: the
// same on every agent that sees it: member@boot:member-failed, or with the
// health status and sequence for health failures. Coordination appends
// #N, the how-manieth failure of that member's incarnation this is, so a
// member that comes back and fails again gets a new key.
func FailureKey(ev *Event) string {
	m, ok := ev.Subject()
	if !ok {
		return fmt.Sprintf("event-%d", ev.ID)
	}
	boot := m.Tags[BootTag]
	if boot == "" {
		boot = "0"
	}
	key := m.Name + "@" + boot + ":" + string(ev.Type)
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
		c.failCount[FailureKey(ev)]++
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
}

var taskStateNames = map[taskState]string{taskSettling: "settling", taskWaiting: "waiting", taskHeld: "held",
	taskConfirming: "confirming quorum", taskRunning: "running"}

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
		st.Pending = append(st.Pending, PendingFailover{Hook: t.q.hook.Name, Key: t.key, State: taskStateNames[t.state], Runner: t.runner, Reason: t.reason})
	}
	sort.Slice(st.Pending, func(i, j int) bool { return st.Pending[i].Key < st.Pending[j].Key })
	return st
}

// counts returns how many members are alive and how many count toward
// quorum: every member except those that left gracefully.
func (c *coordinator) counts() (alive, total int) {
	for _, m := range c.view.Members() {
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
func (c *coordinator) submit(q *hookQueue, ev Event) {
	base := FailureKey(&ev)
	c.mu.Lock()
	defer c.mu.Unlock()
	key := base
	if ev.Type == MemberFailed {
		key = fmt.Sprintf("%s#%d", base, max(1, c.failCount[base]))
	}
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
	t := &task{q: q, key: key, base: base, ev: ev, created: c.now()}
	c.tasks[id] = t
	if q.hook.Settle > 0 {
		t.timer = time.AfterFunc(q.hook.Settle, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.tasks[id] == t {
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

func (c *coordinator) prune() {
	now := c.now()
	for id, at := range c.done {
		if now.Sub(at) > doneMemory {
			delete(c.done, id)
		}
	}
	for id, t := range c.tasks {
		if t.state != taskRunning && now.Sub(t.created) > taskExpiry {
			c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "expired waiting for the runner's announcement"})
			delete(c.tasks, id)
		}
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

// evaluate decides a settled task: drop, hold, run here, or wait for the
// chosen runner. The lock is held.
func (c *coordinator) evaluate(id string, t *task) {
	h := &t.q.hook
	subject, _ := t.ev.Subject()
	drop := func(reason string) {
		delete(c.tasks, id)
		c.r.record(*h, &t.ev, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: reason})
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
		if t.state != taskHeld || t.reason != reason {
			c.r.record(*h, &t.ev, Run{Outcome: OutcomeHeld, ExitCode: -1, Key: t.key, Reason: reason})
		}
		t.state, t.reason = taskHeld, reason
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
	ranked := Rank(h.Name, t.base, subject.Name, h.Eligible, now)
	if len(ranked) == 0 {
		drop("no alive eligible member to run it")
		return
	}
	chosen := ranked[0]
	if chosen != self.Name {
		if t.runner != chosen {
			why := "agent " + chosen + " was chosen to run it"
			if t.runner != "" {
				why = "runner " + t.runner + " is gone; agent " + chosen + " takes over"
			}
			c.r.record(*h, &t.ev, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key, Reason: why})
		}
		t.state, t.runner, t.reason = taskWaiting, chosen, ""
		return
	}
	ev := t.ev
	ev.Key = t.key
	if t.runner != "" && t.runner != self.Name {
		ev.TakeoverFrom = t.runner
	}
	t.runner, t.reason = self.Name, ""
	if h.Quorum {
		c.confirmThenRun(id, t, ev)
		return
	}
	t.state = taskRunning
	c.r.enqueue(t.q, ev)
}

// confirmRetry is how soon a run whose quorum could not be confirmed is
// examined again when no membership change comes first.
const confirmRetry = 2 * time.Second

// confirmThenRun asks the members for acks before a quorum-guarded run;
// the run starts only when a strict majority of the cluster answered. The
// lock is held; the question is asked without it.
func (c *coordinator) confirmThenRun(id string, t *task, ev Event) {
	t.state = taskConfirming
	go func() {
		acked, total := c.view.ConfirmQuorum()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.tasks[id] != t || t.state != taskConfirming {
			return // decided meanwhile (an announcement, a reload)
		}
		if 2*acked > total {
			if t.q.hook.RunOn != RunOnOne {
				delete(c.tasks, id)
			} else {
				t.state = taskRunning
			}
			c.r.enqueue(t.q, ev)
			return
		}
		reason := fmt.Sprintf("no quorum: only %d of %d members answered", acked, total)
		if t.state != taskHeld || t.reason != reason {
			c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeHeld, ExitCode: -1, Key: t.key, Reason: reason})
		}
		t.state, t.reason = taskHeld, reason
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

// finished is called when a coordinated run ended (after its retries):
// the task is done and, for run_on: one, every agent is told.
func (c *coordinator) finished(q *hookQueue, ev *Event, final Run) {
	if ev.Key == "" {
		return
	}
	id := q.hook.Name + "\x00" + ev.Key
	c.mu.Lock()
	delete(c.tasks, id)
	c.done[id] = c.now()
	c.mu.Unlock()
	payload, _ := json.Marshal(Announcement{Hook: q.hook.Name, Key: ev.Key, Runner: c.view.Self().Name, Outcome: final.Outcome})
	go func() {
		if err := c.view.Announce(payload); err != nil {
			c.r.cfg.Logger.Error().Err(err).Str("hook", q.hook.Name).Str("key", ev.Key).Msg("could not announce the failover's end")
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
	if t, ok := c.tasks[id]; ok && t.state != taskRunning {
		delete(c.tasks, id)
		if t.timer != nil {
			t.timer.Stop()
		}
		if t.runner != a.Runner {
			// Not recorded yet: the announcement beat this agent's own
			// decision (or named another runner than it expected).
			c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeSkipped, ExitCode: -1, Key: t.key,
				Reason: "agent " + a.Runner + " ran it (outcome " + string(a.Outcome) + ")"})
		}
		c.r.cfg.Logger.Info().Str("hook", a.Hook).Str("key", a.Key).Str("runner", a.Runner).Str("outcome", string(a.Outcome)).
			Msg("failover ran on another agent")
	}
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
		delete(c.tasks, id)
		if t.timer != nil {
			t.timer.Stop()
		}
		c.r.record(t.q.hook, &t.ev, Run{Outcome: OutcomeDropped, ExitCode: -1, Key: t.key, Reason: "hook removed by a reload"})
	}
}
