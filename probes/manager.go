package probes

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Manager runs a set of checks and keeps their states. Its methods are safe
// for concurrent use.
type Manager struct {
	checks   []*check // sorted by id
	byID     map[string]*check
	onChange func(Change)
	log      zerolog.Logger
	// stagger picks the pause before a check's first run; tests replace it.
	stagger func(interval time.Duration) time.Duration
	// redact rewrites each output before it is kept (RedactOutput).
	redact func(string) string

	mu      sync.Mutex // guards the fields below
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// check is one check's definition and state.
type check struct {
	def    Definition // defaults applied
	kind   string
	prober prober // nil for TTL checks

	// applyMu serialises applying results to the check and the onChange
	// call that may follow, so a check's changes reach onChange in order.
	// It is held across onChange; mu is not, so onChange may read States.
	applyMu sync.Mutex
	stopped bool        // under applyMu
	timer   *time.Timer // TTL checks, under applyMu
	updated time.Time   // last TTL update or start, under applyMu

	mu         sync.Mutex // guards the fields below
	th         *thresholds
	output     string
	lastRun    time.Time
	lastChange time.Time
	lastTook   time.Duration // the last probe's duration
}

// RedactOutput sets f to rewrite every check's output (and TTL note)
// before it is kept, logged or reported: the agent removes its API token
// with it. Call it before Start.
func (m *Manager) RedactOutput(f func(string) string) { m.redact = f }

// NewManager validates the definitions and returns a manager for them,
// not yet started. Every invalid definition and every id used twice is
// reported, joined in one error. onChange, which may be nil, is called for
// each status change (not for output changes, nor for the initial status),
// synchronously from the check's goroutine, or from UpdateTTL's caller for
// TTL updates: it must be quick and must not call UpdateTTL.
func NewManager(defs []Definition, onChange func(Change), logger zerolog.Logger) (*Manager, error) {
	m := &Manager{
		byID:     make(map[string]*check, len(defs)),
		onChange: onChange,
		log:      logger,
		stagger:  func(interval time.Duration) time.Duration { return rand.N(interval) },
	}
	var errs []error
	for i, d := range defs {
		d = d.WithDefaults()
		name := d.ID
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("check %s: %w", name, err))
			continue
		}
		if _, dup := m.byID[d.ID]; dup {
			errs = append(errs, fmt.Errorf("check %s: id used by more than one check", d.ID))
			continue
		}
		c := &check{def: d, kind: d.Kind(), th: newThresholds(d)}
		if c.kind != KindTTL {
			c.prober = newProber(d)
		}
		m.byID[d.ID] = c
		m.checks = append(m.checks, c)
	}
	if len(errs) > 0 {
		for _, c := range m.checks {
			if c.prober != nil {
				c.prober.close()
			}
		}
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(m.checks, func(a, b *check) int { return strings.Compare(a.def.ID, b.def.ID) })
	return m, nil
}

// Start starts the checks: one goroutine per probed check, whose first run
// comes after a random pause within its interval (so checks, and agents
// started together, do not all probe at once) and the next ones every
// interval after the start of the last. A check never overlaps itself: a
// run that outlasts the interval is followed at once by the next. Each run
// is bounded by the check's timeout. TTL checks start their timers. Start
// after Start or Stop does nothing.
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.stopped {
		return
	}
	m.started = true
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	for _, c := range m.checks {
		if c.kind == KindTTL {
			m.startTTL(c)
			continue
		}
		m.wg.Add(1)
		go m.loop(ctx, c)
	}
}

// Stop stops every check: loops end, running exec checks are killed with
// their process groups, TTL timers stop. It returns once every check
// goroutine has ended; no onChange call happens after it returns. Stop is
// idempotent.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	cancel := m.cancel
	m.mu.Unlock()

	if cancel != nil {
		cancel()
	}
	for _, c := range m.checks {
		c.applyMu.Lock()
		c.stopped = true
		if c.timer != nil {
			c.timer.Stop()
		}
		c.applyMu.Unlock()
	}
	m.wg.Wait()
	for _, c := range m.checks {
		if c.prober != nil {
			c.prober.close()
		}
	}
}

// loop runs one probed check until ctx ends.
func (m *Manager) loop(ctx context.Context, c *check) {
	defer m.wg.Done()
	interval := time.Duration(c.def.Interval)
	timer := time.NewTimer(m.stagger(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		m.run(ctx, c)
		if ctx.Err() != nil {
			return
		}
		timer.Reset(max(0, interval-time.Since(start)))
	}
}

// run runs a check once, bounded by its timeout, and applies the result.
// A run cut short by Stop is dropped.
func (m *Manager) run(ctx context.Context, c *check) {
	rctx, cancel := context.WithTimeout(ctx, time.Duration(c.def.Timeout))
	start := time.Now()
	res := safeProbe(rctx, c.prober)
	took := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if c.stopped {
		return
	}
	c.mu.Lock()
	c.lastTook = took
	c.mu.Unlock()
	m.apply(c, res, false)
}

// safeProbe turns a panicking probe into a critical result.
func safeProbe(ctx context.Context, p prober) (res result) {
	defer func() {
		if r := recover(); r != nil {
			res = result{Critical, fmt.Sprintf("probe panicked: %v", r)}
		}
	}()
	return p.probe(ctx)
}

// apply records a result, through the thresholds unless direct, logs it
// and reports a status change. The caller holds c.applyMu.
func (m *Manager) apply(c *check, res result, direct bool) {
	now := time.Now()
	if m.redact != nil {
		res.output = m.redact(res.output)
	}
	c.mu.Lock()
	prev := c.th.status
	var next Status
	var changed bool
	if direct {
		next, changed = c.th.set(res.status)
	} else {
		next, changed = c.th.observe(res.status)
	}
	c.output = res.output
	c.lastRun = now
	if changed {
		c.lastChange = now
	}
	successes, failures := c.th.successes, c.th.failures
	c.mu.Unlock()

	if !changed {
		ev := m.log.Debug()
		if next != res.status {
			ev = ev.Int("successes", successes).Int("failures", failures).Str("result", string(res.status))
		}
		ev.Str("check", c.def.ID).Str("status", string(next)).Str("output", res.output).Msg("check ran")
		return
	}
	ev := m.log.Info()
	if next.Worse(prev) {
		ev = m.log.Warn()
	}
	ev.Str("check", c.def.ID).Str("status", string(next)).Str("previous", string(prev)).
		Str("output", res.output).Msg("check status changed")
	if m.onChange != nil {
		m.onChange(Change{ID: c.def.ID, Previous: prev, Status: next, Output: res.output})
	}
}

// States returns the state of every check, sorted by id.
func (m *Manager) States() []State {
	out := make([]State, 0, len(m.checks))
	for _, c := range m.checks {
		out = append(out, c.state())
	}
	return out
}

// Check returns the state of one check; the error wraps ErrUnknownCheck
// when there is none with the id.
func (m *Manager) Check(id string) (State, error) {
	c, ok := m.byID[id]
	if !ok {
		return State{}, fmt.Errorf("check %s: %w", id, ErrUnknownCheck)
	}
	return c.state(), nil
}

// Status returns the worst status of all checks; passing when there are
// none.
func (m *Manager) Status() Status {
	list := make([]Status, 0, len(m.checks))
	for _, c := range m.checks {
		c.mu.Lock()
		list = append(list, c.th.status)
		c.mu.Unlock()
	}
	return Worst(list...)
}

// state snapshots the check.
func (c *check) state() State {
	s := State{ID: c.def.ID, Kind: c.kind, Notes: c.def.Notes}
	if c.kind == KindTTL {
		s.TTL = c.def.TTL.String()
	} else {
		s.Interval = c.def.Interval.String()
		s.Timeout = c.def.Timeout.String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Status = c.th.status
	s.Output = c.output
	s.LastRun = c.lastRun
	s.LastChange = c.lastChange
	s.LastDurationMS = float64(c.lastTook.Microseconds()) / 1000
	s.ConsecutiveSuccesses = c.th.successes
	s.ConsecutiveFailures = c.th.failures
	return s
}
