package hook

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// How received user events over the rate limit are recorded. Each one is
// counted (RunnerConfig.OnUserEventLimited) and shown in the event ring
// like any event, but a record per event would let one flood push every
// other run out of the 1,024-run history, the very runs an operator looks
// for after an attack. So the runner records one dropped run per hook per
// spell instead: a spell of a hook begins with the first limited event
// that hook would have run, and ends after spellQuiet without another, or
// spellMax after it began (a sustained flood gives one record per hook a
// minute). Its reason counts the events, names their ids' range and the
// busiest names. The log gets one line per event name per second at most,
// with the count.
const (
	spellQuiet = time.Second
	spellMax   = time.Minute
	logEvery   = time.Second
	// spellNames is how many names a spell's reason lists by count.
	spellNames = 5
)

// spell is one hook's current run of limited events.
type spell struct {
	first   events.Event // the first limited event (the record's event)
	lastID  uint64
	count   int
	began   time.Time
	latest  time.Time
	byName  map[string]int
	overMax int // limited events whose names were past MaxLimitedNames
}

// nameLog is one event name's limited events not yet logged.
type nameLog struct {
	pending int
	logged  time.Time
}

// limitedState holds the runner's spells and per-name log counts.
type limitedState struct {
	mu      sync.Mutex
	spells  map[string]*spell   // by hook name
	names   map[string]*nameLog // by event name
	timer   *time.Timer
	stopped bool
}

// limited takes a user event over the rate limit: counted, logged at most
// once a second per name, and added to the spell of every hook that would
// have run it. After Close it is recorded as dropped at once.
func (r *Runner) limited(ev *events.Event, hooks []Hook) {
	if r.cfg.OnUserEventLimited != nil {
		r.cfg.OnUserEventLimited(ev)
	}
	now := time.Now()
	s := &r.lim
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		for _, h := range hooks {
			r.record(h, ev, events.Run{Outcome: events.OutcomeDropped, ExitCode: -1, Error: "agent is stopping"})
		}
		return
	}
	if s.spells == nil {
		s.spells, s.names = map[string]*spell{}, map[string]*nameLog{}
	}
	name := ev.User.Name
	nl := s.names[name]
	if nl == nil {
		if len(s.names) >= MaxLimitedNames {
			name = "" // counted together, logged as other names
			nl = s.names[name]
		}
		if nl == nil {
			nl = &nameLog{}
			s.names[name] = nl
		}
	}
	nl.pending++
	var logNow int
	if now.Sub(nl.logged) >= logEvery {
		logNow, nl.pending, nl.logged = nl.pending, 0, now
	}
	for _, h := range hooks {
		sp := s.spells[h.Name]
		if sp == nil {
			sp = &spell{first: *ev, began: now, byName: map[string]int{}}
			s.spells[h.Name] = sp
		}
		sp.count++
		sp.lastID, sp.latest = ev.ID, now
		if _, ok := sp.byName[ev.User.Name]; ok || len(sp.byName) < MaxLimitedNames {
			sp.byName[ev.User.Name]++
		} else {
			sp.overMax++
		}
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(spellQuiet, r.flushLimited)
	}
	s.mu.Unlock()
	if logNow > 0 {
		r.logLimited(name, logNow)
	}
}

// logLimited writes the log line of one name's limited events.
func (r *Runner) logLimited(name string, n int) {
	e := r.cfg.Logger.Warn().Int("limited", n).Str("limit", r.limiter.Limit().String())
	if name == "" {
		e = e.Bool("other_names", true)
	} else {
		e = e.Str("user_event", name)
	}
	e.Msg("user events over the rate limit: hooks not run for them")
}

// flushLimited, run by the timer, records the spells that ended and logs
// the names' counts that are due; it arms the timer again while anything
// is left.
func (r *Runner) flushLimited() {
	r.flushLimitedAt(time.Now(), false)
}

// flushLimitedAt records spells ended at now (every spell when all is
// set, as Close does) and logs counts due.
func (r *Runner) flushLimitedAt(now time.Time, all bool) {
	s := &r.lim
	type due struct {
		hook string
		sp   *spell
	}
	var spells []due
	logs := map[string]int{}
	s.mu.Lock()
	for h, sp := range s.spells {
		if all || now.Sub(sp.latest) >= spellQuiet || now.Sub(sp.began) >= spellMax {
			spells = append(spells, due{h, sp})
			delete(s.spells, h)
		}
	}
	for name, nl := range s.names {
		if nl.pending > 0 && (all || now.Sub(nl.logged) >= logEvery) {
			logs[name] = nl.pending
			nl.pending, nl.logged = 0, now
		}
		if nl.pending == 0 && now.Sub(nl.logged) >= logEvery {
			delete(s.names, name)
		}
	}
	if s.timer != nil {
		s.timer.Stop() // when called by Close; a no-op for the timer's own call
	}
	s.timer = nil
	if all {
		s.stopped = true
	} else if !s.stopped && (len(s.spells) > 0 || len(s.names) > 0) {
		s.timer = time.AfterFunc(spellQuiet/2, r.flushLimited)
	}
	s.mu.Unlock()
	for name, n := range logs {
		r.logLimited(name, n)
	}
	sort.Slice(spells, func(i, j int) bool { return spells[i].sp.first.ID < spells[j].sp.first.ID })
	limit := r.limiter.Limit()
	for _, d := range spells {
		r.record(Hook{Name: d.hook}, &d.sp.first, events.Run{
			Start: d.sp.began.UTC(), Outcome: events.OutcomeDropped, ExitCode: -1,
			DurationMS: float64(d.sp.latest.Sub(d.sp.began).Microseconds()) / 1000,
			Reason:     d.sp.reason(limit),
		})
	}
}

// reason says what the spell's record stands for: "user event rate limit
// (10/s per name, burst 50): 2950 user events not run (event ids 51 to
// 3000; deploy 2950)".
func (sp *spell) reason(limit RateLimit) string {
	type named struct {
		name string
		n    int
	}
	var names []named
	for name, n := range sp.byName {
		names = append(names, named{name, n})
	}
	sort.Slice(names, func(i, j int) bool {
		if names[i].n != names[j].n {
			return names[i].n > names[j].n
		}
		return names[i].name < names[j].name
	})
	var parts []string
	for i, nm := range names {
		if i == spellNames {
			parts = append(parts, fmt.Sprintf("%d more names", len(names)-spellNames))
			break
		}
		parts = append(parts, fmt.Sprintf("%q %d", nm.name, nm.n))
	}
	if sp.overMax > 0 {
		parts = append(parts, fmt.Sprintf("%d of other names", sp.overMax))
	}
	ids := fmt.Sprintf("event id %d", sp.first.ID)
	if sp.lastID != sp.first.ID {
		ids = fmt.Sprintf("event ids %d to %d", sp.first.ID, sp.lastID)
	}
	return fmt.Sprintf("user event rate limit (%s): %d user events not run (%s; %s)", limit, sp.count, ids, strings.Join(parts, ", "))
}
