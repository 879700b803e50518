package hook

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-agent/vigil/events"

	"github.com/rs/zerolog"
)

// Defaults of RunnerConfig.
const (
	// DefaultKillGrace is how long a timed-out hook's process group has
	// between SIGTERM and SIGKILL.
	DefaultKillGrace = 5 * time.Second
	// DefaultRunHistory is how many hook runs GET /v1/hooks keeps.
	DefaultRunHistory = 1024
	// DefaultQueueLimit bounds one hook's backlog of each class (user
	// events, and every other event). A hook's timeout guarantees
	// progress, so the limit is only reached in a pathological storm; an
	// event over it is recorded as a dropped run and logged.
	DefaultQueueLimit = 65536
	// outputTail is how much of a run's output is kept.
	outputTail = 64 << 10
)

// MaxHistoryOutput bounds the hook output the run history holds, all runs
// together: 8 MiB. A run keeps up to 64 KiB of output, so without it the
// history (1,024 runs, and up to twice as many between two of its batched
// trims) could hold 128 MiB. When a new run takes the total over, the
// oldest runs' output is replaced by OutputDropped; their records stay.
// The trade-off: at least the newest 128 runs keep their output even if
// every run writes 64 KiB or more, and every run does when runs write
// 8 KiB or less; a larger budget keeps more old output at the cost of as
// much memory per agent. The log line of every run has its output too.
const MaxHistoryOutput = 8 << 20

// OutputDropped is the output of a run in the history whose output was
// dropped to keep the history within MaxHistoryOutput; its OutputBytes
// still counts what the hook wrote.
const OutputDropped = "[output dropped: the run history keeps the output of its newest runs only]"

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	// Self returns the local member at the time a hook starts.
	Self func() events.Member
	// HTTPAddr is the agent's HTTP address, given to hooks as VIGIL_HTTP_ADDR.
	HTTPAddr string
	// DefaultTimeout applies to hooks without their own (DefaultHookTimeout
	// when zero).
	DefaultTimeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL (DefaultKillGrace
	// when zero).
	KillGrace time.Duration
	// History is how many runs are kept (DefaultRunHistory when zero).
	History int
	// QueueLimit bounds each hook's backlog of each class: user events,
	// and the others (DefaultQueueLimit when zero).
	QueueLimit int
	// Env is the base environment of hook processes (os.Environ() when nil).
	Env []string
	// Logger receives one line per run.
	Logger zerolog.Logger
	// Redact, when set, is a secret (the agent's API token) replaced by
	// events.Redacted in every run's output, error and reason before the
	// run is logged, journaled, kept in the history or passed to OnRun: a
	// hook that prints it does not put it in the log.
	Redact string
	// Coordinate, when set, turns on failover coordination (run_on,
	// quorum, settle, damping, brake, claims): it is called once with the
	// runner and returns the coordinator. Without it every hook runs as
	// run_on: all.
	Coordinate func(CoordinatedRunner) Coordinator
	// OnRun, when set, is called with every recorded run (for metrics).
	OnRun func(events.Run)
	// Journal, when set, records queued events, finished runs and run
	// records so a restart resumes unfinished runs and keeps the history
	// (package events/journal).
	Journal Journal
	// PastRuns seeds the run history (the journal's records).
	PastRuns []events.Run
	// UserEventLimit rate-limits received user events per name before
	// they reach any hook (a token bucket per name; the zero value is no
	// limit). An event over it runs no hook: it is counted
	// (OnUserEventLimited), logged at most once a second per name, and
	// recorded as one dropped run per hook per spell of limited events
	// (limited.go). The agent's user_event_rate and user_event_burst.
	UserEventLimit RateLimit
	// OnUserEventLimited, when set, is called with every user event
	// UserEventLimit kept from the hooks (for metrics).
	OnUserEventLimited func(ev *events.Event)
	// MaxConcurrent bounds the hook processes running at once, over all
	// hooks (storm.go); a run over it waits for a slot. Zero is no limit.
	// The agent's hook_max_concurrent (DefaultMaxConcurrent).
	MaxConcurrent int
	// CoalesceWindow, when not zero, bounds an ordinary hook's
	// member-failed runs to one per window: the first starts at once, the
	// ones arriving within the window after it run together when it has
	// passed (storm.go). The agent's hook_coalesce (DefaultCoalesceWindow).
	CoalesceWindow time.Duration
}

// Runner runs hooks for events. Each hook has its own queue and worker,
// so different hooks run concurrently and a hook that hangs delays only its
// own later runs. A hook's queue is two FIFOs: user events, and every other
// event (membership, check, health, the failover guards'), which the worker
// always takes first, so a flood of user events never delays a membership
// or health run by more than the run in progress. Events of one class
// reach a hook in order. Dispatch never blocks.
type Runner struct {
	cfg    RunnerConfig
	qmu    sync.RWMutex // guards queues (Reload replaces it)
	queues []*hookQueue
	coord  Coordinator
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	history []events.Run
	// Runs before history[outputFrom] had their output dropped (or had
	// none); outputHeld is the output the others hold. See
	// MaxHistoryOutput.
	outputFrom int
	outputHeld int
	closed     bool

	limiter *NameLimiter // received user events, per name
	lim     limitedState // the limited events' spells and log counts

	// slots holds a token per running hook process (MaxConcurrent); nil
	// without a limit.
	slots chan struct{}
}

type hookQueue struct {
	hook    Hook
	retired bool        // replaced or removed by a reload: drain, then stop
	started []time.Time // start times within the budget window
	mu      sync.Mutex
	pending []queuedRun // every event but user events, served first
	user    []queuedRun // user events, served when pending is empty
	wake    chan struct{}
	// slotWait is set while the worker waits for a process slot.
	slotWait atomic.Bool
	// lastCoalesced is when the worker last formed a coalescable
	// member-failed run (storm.go); only the worker touches it.
	lastCoalesced time.Time
}

// class returns the FIFO ev waits in, with q.mu held: user events wait
// behind every other event.
func (q *hookQueue) class(ev *events.Event) *[]queuedRun {
	if ev.Type == events.User {
		return &q.user
	}
	return &q.pending
}

// take removes the next event to run, with q.mu held: the oldest of the
// non-user events, else the oldest user event. ok is false when both are
// empty.
func (q *hookQueue) take() (queuedRun, bool) {
	for _, fifo := range []*[]queuedRun{&q.pending, &q.user} {
		if len(*fifo) > 0 {
			next := (*fifo)[0]
			(*fifo)[0] = queuedRun{}
			*fifo = (*fifo)[1:]
			return next, true
		}
	}
	return queuedRun{}, false
}

// NewRunner validates the hooks and starts one worker per hook.
func NewRunner(cfg RunnerConfig, hooks []Hook) (*Runner, error) {
	if cfg.Self == nil {
		cfg.Self = func() events.Member { return events.Member{} }
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultHookTimeout
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.History <= 0 {
		cfg.History = DefaultRunHistory
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Journal == nil {
		cfg.Journal = noJournal{}
	}
	r := &Runner{cfg: cfg, limiter: NewNameLimiter(cfg.UserEventLimit)}
	if cfg.MaxConcurrent > 0 {
		r.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	normal, err := r.normalize(hooks)
	if err != nil {
		return nil, err
	}
	for _, h := range normal {
		r.queues = append(r.queues, &hookQueue{hook: h, wake: make(chan struct{}, 1)})
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if cfg.Coordinate != nil {
		r.coord = cfg.Coordinate(r)
	}
	if len(cfg.PastRuns) > 0 {
		r.history = append(r.history, cfg.PastRuns[max(0, len(cfg.PastRuns)-cfg.History):]...)
		for _, run := range r.history {
			r.outputHeld += len(run.Output)
		}
		r.dropOldOutput()
	}
	for _, q := range r.queues {
		r.wg.Add(1)
		go r.work(q)
	}
	return r, nil
}

// normalize validates hooks and fills in the runner's defaults.
func (r *Runner) normalize(hooks []Hook) ([]Hook, error) {
	seen := map[string]bool{}
	out := make([]Hook, 0, len(hooks))
	for _, h := range hooks {
		if err := h.Validate(); err != nil {
			return nil, err
		}
		if seen[h.Name] {
			return nil, fmt.Errorf("hook %q: name used twice", h.Name)
		}
		seen[h.Name] = true
		if h.Timeout == 0 {
			h.Timeout = r.cfg.DefaultTimeout
		}
		if h.Stdin == "" {
			h.Stdin = StdinJSON
		}
		if len(h.Filters) == 0 {
			h.Filters = events.Filters{{Any: true}}
		}
		out = append(out, h)
	}
	return out, nil
}

// queueList returns the current queues.
func (r *Runner) queueList() []*hookQueue {
	r.qmu.RLock()
	defer r.qmu.RUnlock()
	return r.queues
}

// SetHTTPAddr sets the address hooks get as VIGIL_HTTP_ADDR, once the
// agent knows the port it listens on. Call it before the first event.
func (r *Runner) SetHTTPAddr(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.HTTPAddr = addr
}

func (r *Runner) httpAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.HTTPAddr
}

// Hooks returns the hooks the runner runs, with defaults filled in.
func (r *Runner) Hooks() []Hook {
	queues := r.queueList()
	out := make([]Hook, len(queues))
	for i, q := range queues {
		out[i] = q.hook
	}
	return out
}

// Dispatch queues ev for every hook whose filters and match select it;
// failover runs go through coordination first. A user event over
// UserEventLimit is queued for no hook: it is counted, logged and
// recorded with its spell (limited.go). It never blocks.
func (r *Runner) Dispatch(ev events.Event) {
	if r.coord != nil && r.coord.Observe(&ev) {
		return
	}
	var self string
	if ev.Type == events.User && ev.User != nil && !r.limiter.Allow(ev.User.Name, time.Now()) {
		var hooks []Hook
		for _, q := range r.queueList() {
			if r.selects(q, &ev, &self) {
				hooks = append(hooks, q.hook)
			}
		}
		r.limited(&ev, hooks)
		return
	}
	for _, q := range r.queueList() {
		if !r.selects(q, &ev, &self) {
			continue
		}
		if r.coord != nil && r.coord.Guards(&q.hook, &ev) {
			r.coord.Submit(q.hook.Name, ev)
			continue
		}
		r.enqueue(q, ev, nil)
	}
}

// selects reports whether q's hook takes ev: its filters, match and
// run_on. self caches the local member's name across calls.
func (r *Runner) selects(q *hookQueue, ev *events.Event, self *string) bool {
	if !q.hook.Filters.Match(ev) || !q.hook.matchesSubject(ev) {
		return false
	}
	if q.hook.RunOn == RunOnSelf {
		if *self == "" {
			*self = r.cfg.Self().Name
		}
		if m, ok := ev.Subject(); !ok || m.Name != *self {
			return false
		}
	}
	return true
}

// SetUserEventLimit changes the rate limit of received user events (a
// reload); every name starts again with a full bucket.
func (r *Runner) SetUserEventLimit(l RateLimit) { r.limiter.SetLimit(l) }

// UserEventLimit returns the rate limit of received user events.
func (r *Runner) UserEventLimit() RateLimit { return r.limiter.Limit() }

// queuedRun is one event waiting for a hook, with the guard of a
// coordinated run.
type queuedRun struct {
	ev    *events.Event
	guard RunGuard
}

// Enqueue implements CoordinatedRunner.
func (r *Runner) Enqueue(hook string, ev events.Event, guard RunGuard) bool {
	for _, q := range r.queueList() {
		if q.hook.Name == hook {
			return r.enqueue(q, ev, guard)
		}
	}
	r.record(Hook{Name: hook}, &ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Reason: "hook removed by a reload"})
	return false
}

// Record implements CoordinatedRunner.
func (r *Runner) Record(hook string, ev *events.Event, run events.Run) {
	r.record(Hook{Name: hook}, ev, run)
}

// Hook implements CoordinatedRunner.
func (r *Runner) Hook(name string) (Hook, bool) {
	for _, q := range r.queueList() {
		if q.hook.Name == name {
			return q.hook, true
		}
	}
	return Hook{}, false
}

// JournalQueued implements CoordinatedRunner.
func (r *Runner) JournalQueued(hook string, ev *events.Event) { r.cfg.Journal.Queued(hook, ev) }

// JournalDone implements CoordinatedRunner.
func (r *Runner) JournalDone(hook string, ev *events.Event) { r.cfg.Journal.Done(hook, ev) }

// enqueue puts ev on one hook's queue; it reports false when the event
// was dropped instead.
func (r *Runner) enqueue(q *hookQueue, ev events.Event, guard RunGuard) bool {
	if r.isClosed() {
		r.record(q.hook, &ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Error: "agent is stopping"})
		return false
	}
	q.mu.Lock()
	if q.retired {
		// A reload replaced this queue after the caller looked it up: the
		// event goes to the hook's new queue, or nowhere if it was removed.
		q.mu.Unlock()
		for _, nq := range r.queueList() {
			if nq.hook.Name == q.hook.Name && nq != q {
				return r.enqueue(nq, ev, guard)
			}
		}
		return false
	}
	fifo := q.class(&ev)
	if len(*fifo) >= r.cfg.QueueLimit {
		q.mu.Unlock()
		r.record(q.hook, &ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Error: fmt.Sprintf("hook queue full (%d events waiting)", r.cfg.QueueLimit)})
		return false
	}
	// Journaled before the worker can take it, so the event's queued line
	// comes before its done line: a done finishes only the queued lines
	// before it, which is what lets the journal be compacted while it is
	// appended to.
	r.cfg.Journal.Queued(q.hook.Name, &ev)
	*fifo = append(*fifo, queuedRun{ev: &ev, guard: guard})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// QueueDepth returns how many events wait for each hook, by hook name,
// counting a run that waits for a process slot (MaxConcurrent).
func (r *Runner) QueueDepth() map[string]int {
	queues := r.queueList()
	out := make(map[string]int, len(queues))
	for _, q := range queues {
		q.mu.Lock()
		out[q.hook.Name] = len(q.pending) + len(q.user)
		q.mu.Unlock()
		if q.slotWait.Load() {
			out[q.hook.Name]++
		}
	}
	return out
}

// Runs returns the recent runs, oldest first.
func (r *Runner) Runs() []events.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.history[max(0, len(r.history)-r.cfg.History):]
	out := make([]events.Run, len(kept))
	copy(out, kept)
	return out
}

// Close stops taking events, lets queued and running hooks finish until ctx
// is done, then kills what still runs (SIGTERM, then SIGKILL after the kill
// grace) and records what never ran as dropped.
func (r *Runner) Close(ctx context.Context) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	// The limited events' spells are recorded now, while the journal is
	// open; later limited events are recorded as dropped one by one.
	r.flushLimitedAt(time.Now(), true)
	for _, q := range r.queueList() {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
}

func (r *Runner) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Runner) work(q *hookQueue) {
	defer r.wg.Done()
	for {
		q.mu.Lock()
		next, _ := q.take()
		ev, guard := next.ev, next.guard
		q.mu.Unlock()
		if ev != nil {
			var merged []*events.Event // events coalesced into ev's run
			if r.coalescable(q, next) {
				ev, merged = r.coalesce(q, next)
			}
			ctx := r.ctx
			if guard != nil {
				ctx = guard.Context()
			}
			if r.ctx.Err() != nil {
				r.record(q.hook, ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Error: "agent stopped before the hook ran"})
				if guard != nil {
					r.coord.Finished(q.hook.Name, ev, guard, events.Run{Outcome: events.OutcomeCancelled})
				}
				continue
			}
			if ctx.Err() != nil {
				r.record(q.hook, ev, events.Run{Outcome: events.OutcomeCancelled, ExitCode: -1, Reason: "failover claim lost or given up before the hook started"})
				r.coord.Finished(q.hook.Name, ev, guard, events.Run{Outcome: events.OutcomeCancelled})
				continue
			}
			if held, why := q.spendBudget(time.Now()); held {
				r.record(q.hook, ev, events.Run{Start: time.Now().UTC(), Outcome: events.OutcomeHeld, ExitCode: -1, Error: why})
				if guard != nil {
					r.coord.Finished(q.hook.Name, ev, guard, events.Run{Outcome: events.OutcomeCancelled})
				}
				continue
			}
			release, ok := r.acquireSlot(ctx, q, guard)
			if !ok {
				// Left unfinished in the journal: the next start runs it.
				r.record(q.hook, ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Error: "agent stopped while the run waited for a hook process slot (hook_max_concurrent)"})
				continue
			}
			final, release := r.runWithRetries(ctx, q, ev, guard, release)
			release()
			if final.Outcome == events.OutcomeCancelled {
				// The agent is stopping, or a failover run lost its claim:
				// left unfinished in the journal, so the next start (or
				// the coordinator) examines it again.
				if guard != nil {
					r.coord.Finished(q.hook.Name, ev, guard, final)
				}
				continue
			}
			r.cfg.Journal.Done(q.hook.Name, ev)
			for _, m := range merged {
				r.cfg.Journal.Done(q.hook.Name, m)
			}
			if guard != nil {
				r.coord.Finished(q.hook.Name, ev, guard, final)
			}
			continue
		}
		if r.isClosed() || q.isRetired() {
			return
		}
		select {
		case <-q.wake:
		case <-r.ctx.Done():
		}
	}
}

// runWithRetries runs a hook, and again after a non-zero exit while it
// has retries left, with a doubling backoff. Every attempt is recorded.
// release gives back the process slot (hook_max_concurrent) the first
// attempt holds: the slot is given back for each backoff, so that other
// hooks run meanwhile, and taken again before the next attempt. It
// returns the last attempt's run and the release of the slot it holds
// then.
func (r *Runner) runWithRetries(ctx context.Context, q *hookQueue, ev *events.Event, guard RunGuard, release func()) (events.Run, func()) {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		run := r.start(ctx, q, ev, guard, attempt)
		if ev.TakeoverFrom != "" {
			run.Reason = "took over from " + ev.TakeoverFrom + ", whose claim ended before it completed the run"
		}
		if run.Outcome == events.OutcomeCancelled && guard != nil && r.ctx.Err() == nil {
			if guard.Lost() {
				run.Reason = "failover lease lost (this agent could not renew its claim in time): killed, so that another agent may take over"
			} else {
				run.Reason = "given up while the agent stops: killed, and its claim released for another agent"
			}
		}
		if q.hook.Retries > 0 {
			run.Attempt = attempt
		}
		retry := (run.Outcome == events.OutcomeFailed || run.Outcome == events.OutcomeTimeout || run.Outcome == events.OutcomeError) &&
			attempt <= q.hook.Retries && ctx.Err() == nil
		if retry {
			run.Reason = strings.TrimSpace(run.Reason + fmt.Sprintf(" retrying in %s (attempt %d of %d)", backoff, attempt+1, q.hook.Retries+1))
		}
		r.record(q.hook, ev, run)
		if !retry {
			return run, release
		}
		release()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		var ok bool
		if release, ok = r.acquireSlot(ctx, q, guard); !ok {
			// Left unfinished in the journal: the next start runs it.
			run = events.Run{Outcome: events.OutcomeCancelled, ExitCode: -1, Attempt: attempt + 1,
				Error: "agent stopped while the retry waited for a hook process slot (hook_max_concurrent)"}
			r.record(q.hook, ev, run)
			return run, func() {}
		}
		backoff *= 2
	}
}

// start runs a hook once (attempt of its retries), starting its process
// again when a start fails for lack of a resource (StartAttempts,
// StartBackoff): each failed start but the last is recorded here, and the
// last attempt's run is returned. When ctx ends while it waits, the run is
// cancelled (left unfinished in the journal, so the next start resumes
// it).
func (r *Runner) start(ctx context.Context, q *hookQueue, ev *events.Event, guard RunGuard, attempt int) events.Run {
	wait := StartBackoff
	for try := 1; ; try++ {
		run, err := r.execute(ctx, &q.hook, ev, guard)
		if !lacksResource(err) {
			return run
		}
		if try == StartAttempts {
			run.Reason = fmt.Sprintf("the process failed to start for lack of a resource %d times in a row; given up", StartAttempts)
			return run
		}
		if ctx.Err() != nil {
			run.Outcome = events.OutcomeCancelled
			return run
		}
		run.Reason = startAgainReason(wait, try+1)
		if q.hook.Retries > 0 {
			run.Attempt = attempt
		}
		r.record(q.hook, ev, run)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return events.Run{Start: time.Now().UTC(), Outcome: events.OutcomeCancelled, ExitCode: -1,
				Error: fmt.Sprintf("stopped while waiting to start the process again after: %s", run.Error)}
		}
		wait *= 2
	}
}

// startAgainReason is the reason of a start that failed for lack of a
// resource, before start attempt next, wait later.
func startAgainReason(wait time.Duration, next int) string {
	return fmt.Sprintf("the process failed to start for lack of a resource; starting it again in %s (start attempt %d of %d)", wait, next, StartAttempts)
}

func (r *Runner) record(h Hook, ev *events.Event, run events.Run) {
	run.Hook = h.Name
	run.EventID = ev.ID
	run.Event = ev.Type
	if m, ok := ev.Subject(); ok {
		run.Member = m.Name
	}
	if run.Key == "" {
		run.Key = ev.Key
	}
	if run.Fence == 0 {
		run.Fence = ev.Fence
	}
	if run.Start.IsZero() {
		run.Start = time.Now().UTC()
	}
	run, _ = run.Redact(r.cfg.Redact)
	r.log(run)
	r.cfg.Journal.Record(run)
	if r.cfg.OnRun != nil {
		r.cfg.OnRun(run)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Trimmed in batches: the slice grows to twice the history, then drops
	// its older half, so recording a run is O(1) amortized instead of
	// shifting the whole history under the lock Dispatch also takes.
	r.history = append(r.history, run)
	r.outputHeld += len(run.Output)
	r.dropOldOutput()
	if len(r.history) >= 2*r.cfg.History {
		cut := len(r.history) - r.cfg.History
		for i := r.outputFrom; i < cut; i++ {
			r.outputHeld -= len(r.history[i].Output)
		}
		r.outputFrom = max(0, r.outputFrom-cut)
		r.history = append(r.history[:0:0], r.history[cut:]...)
	}
}

// dropOldOutput replaces the output of the oldest runs that still have
// theirs with OutputDropped until the history holds no more than
// MaxHistoryOutput. O(1) amortized: outputFrom only moves forward. The
// marker is one constant string, shared by every run it is in. Called
// with mu held.
func (r *Runner) dropOldOutput() {
	for r.outputHeld > MaxHistoryOutput && r.outputFrom < len(r.history) {
		old := &r.history[r.outputFrom]
		r.outputFrom++
		if old.Output != "" {
			r.outputHeld -= len(old.Output)
			old.Output = OutputDropped
		}
	}
}

func (r *Runner) log(run events.Run) {
	var e *zerolog.Event
	switch run.Outcome {
	case events.OutcomeOK, events.OutcomeSkipped:
		e = r.cfg.Logger.Info()
	case events.OutcomeDropped, events.OutcomeError:
		if run.Error == "" {
			e = r.cfg.Logger.Info() // a decision (member back, duplicate), not a fault
		} else {
			e = r.cfg.Logger.Error()
		}
	default:
		e = r.cfg.Logger.Warn()
	}
	e = e.Str("hook", run.Hook).Uint64("event_id", run.EventID).Str("event", string(run.Event)).
		Str("outcome", string(run.Outcome)).Int("exit_code", run.ExitCode).
		Float64("duration_ms", run.DurationMS)
	if run.Member != "" {
		e = e.Str("member", run.Member)
	}
	if run.Signal != "" {
		e = e.Str("signal", run.Signal)
	}
	if run.Error != "" {
		e = e.Str("error", run.Error)
	}
	if run.Reason != "" {
		e = e.Str("reason", run.Reason)
	}
	if run.Key != "" {
		e = e.Str("key", run.Key)
	}
	if run.Output != "" {
		e = e.Str("output", run.Output)
	}
	e.Msg("hook run")
}

// spendBudget takes one run from the hook's budget; it reports held (and
// why) when the budget for the current window is spent. Only the hook's
// worker calls it.
func (q *hookQueue) spendBudget(now time.Time) (bool, string) {
	b := q.hook.Budget
	if b.Runs == 0 {
		return false, ""
	}
	keep := q.started[:0]
	for _, t := range q.started {
		if now.Sub(t) < b.Per {
			keep = append(keep, t)
		}
	}
	q.started = keep
	if len(q.started) >= b.Runs {
		next := q.started[0].Add(b.Per)
		return true, fmt.Sprintf("run budget %s spent; held until %s", b, next.UTC().Format(time.RFC3339))
	}
	q.started = append(q.started, now)
	return false, ""
}

// Resume examines the events a previous run of the agent queued but never
// finished: holds says whether each still holds (and why not); those that
// do are queued again with their original id and key, the others are
// recorded as dropped. Call it once the member view has settled.
func (r *Runner) Resume(pending []Pending, holds func(ev *events.Event) (bool, string)) {
	for _, p := range pending {
		var q *hookQueue
		for _, cand := range r.queueList() {
			if cand.hook.Name == p.Hook {
				q = cand
			}
		}
		ev := p.Event
		if q == nil {
			r.cfg.Logger.Warn().Str("hook", p.Hook).Uint64("event_id", ev.ID).Msg("journal names a hook that is no longer configured; not resumed")
			continue
		}
		if r.coord != nil && q.hook.RunOn == RunOnOne {
			// A failover goes through ranking, the guards and the claim
			// again: the claim learns whether another agent completed it
			// or runs it now.
			r.cfg.Logger.Info().Str("hook", q.hook.Name).Uint64("event_id", ev.ID).Str("key", ev.Key).Msg("resuming a failover left unfinished by the last stop, through a new claim")
			r.coord.Resume(q.hook.Name, ev)
			continue
		}
		if ok, why := holds(&ev); !ok {
			r.record(q.hook, &ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Reason: "not resumed after restart: " + why})
			r.cfg.Journal.Done(q.hook.Name, &ev)
			continue
		}
		r.cfg.Logger.Info().Str("hook", q.hook.Name).Uint64("event_id", ev.ID).Str("key", ev.Key).Msg("resuming a run left unfinished by the last stop")
		r.enqueue(q, ev, nil)
	}
}

func (q *hookQueue) isRetired() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.retired
}

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Added, Changed and Removed name hooks by what happened to them.
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// Reload replaces the hooks without losing or repeating a run: a hook whose
// definition is unchanged keeps its queue; a changed or removed hook's
// queue finishes what it holds (runs in flight finish) and stops; new and
// changed hooks get fresh queues that see only events from now on. Nothing
// is replayed: a reload never fires a hook for a past event.
func (r *Runner) Reload(hooks []Hook) (ReloadResult, error) {
	normal, err := r.normalize(hooks)
	if err != nil {
		return ReloadResult{}, err
	}
	if r.isClosed() {
		return ReloadResult{}, fmt.Errorf("reload: agent is stopping")
	}
	r.qmu.Lock()
	old := map[string]*hookQueue{}
	for _, q := range r.queues {
		old[q.hook.Name] = q
	}
	var res ReloadResult
	var next, started []*hookQueue
	for _, h := range normal {
		if q, ok := old[h.Name]; ok && sameHook(q.hook, h) {
			next = append(next, q)
			delete(old, h.Name)
			continue
		}
		if _, ok := old[h.Name]; ok {
			res.Changed = append(res.Changed, h.Name)
		} else {
			res.Added = append(res.Added, h.Name)
		}
		q := &hookQueue{hook: h, wake: make(chan struct{}, 1)}
		next = append(next, q)
		started = append(started, q)
	}
	changed := map[string]*hookQueue{}
	for _, q := range next {
		changed[q.hook.Name] = q
	}
	for name, q := range old {
		if _, ok := changed[name]; !ok {
			res.Removed = append(res.Removed, name)
		}
		q.mu.Lock()
		q.retired = true
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	sort.Strings(res.Removed)
	r.queues = next
	for _, q := range started {
		r.wg.Add(1)
		go r.work(q)
	}
	r.qmu.Unlock()
	if r.coord != nil {
		r.coord.HooksChanged(normal)
	}
	return res, nil
}

// sameHook reports whether two normalized hooks are defined alike.
func sameHook(a, b Hook) bool {
	if a.Builtin != nil || b.Builtin != nil {
		return a.Name == b.Name && a.Builtin != nil && b.Builtin != nil
	}
	a.Builtin, b.Builtin = nil, nil
	return reflect.DeepEqual(a, b)
}
