package http

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	vmetrics "github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/promtext"
	"github.com/vigil-agent/vigil/probes"
)

// MetricsSource is what the metrics read from the agent at each scrape.
// Reading at scrape time keeps the gauges exact and costs nothing between
// scrapes.
type MetricsSource interface {
	// Members returns every known member.
	Members() []events.Member
	// Checks returns the local checks' states.
	Checks() []probes.State
	// HookQueueDepths returns how many events wait for each hook, by name.
	HookQueueDepths() map[string]int
}

// HookDurationBuckets are the buckets, in seconds, of
// vigil_hook_duration_seconds: from a quick notification script to a
// failover that runs for minutes.
var HookDurationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// hookOutcomes are the label values of vigil_hook_runs_total{outcome}.
var hookOutcomes = []events.Outcome{
	events.OutcomeOK, events.OutcomeFailed, events.OutcomeTimeout, events.OutcomeError,
	events.OutcomeCancelled, events.OutcomeHeld, events.OutcomeSkipped, events.OutcomeDropped,
	events.OutcomeCoalesced,
}

// eventTypes are the label values of vigil_events_total{event}.
var eventTypes = append(append([]events.Type{}, events.MemberTypes...),
	events.User, events.Check, events.Health, events.Damped, events.Brake, events.Refuted)

// checkStatuses are the label values of vigil_check_status{status}.
var checkStatuses = []probes.Status{probes.Passing, probes.Warning, probes.Critical}

// Metrics is the agent's metrics: counters the agent updates as things
// happen, gauges read from a MetricsSource at scrape time, the families of
// the extra Writers (serf's and memberlist's sink), and the Go runtime and
// process metrics, served in Prometheus' text format. Every agent has its
// own; nothing is global.
type Metrics struct {
	src          MetricsSource
	events       *promtext.CounterVec
	hookRuns     *promtext.CounterVec
	hookDuration *promtext.HistogramVec
	userLimited  *promtext.CounterVec
	extra        []Writer
	log          zerolog.Logger
}

// A Writer writes metric families in Prometheus' text format, each with
// its HELP and TYPE lines, at every scrape.
type Writer interface {
	WriteMetrics(b *bytes.Buffer)
}

// The label values of vigil_user_events_limited_total{direction}.
const (
	// LimitedReceived: a user event this agent received over the rate
	// limit; it ran no hook.
	LimitedReceived = "received"
	// LimitedFired: a user event refused at POST /v1/event (429); it was
	// never sent.
	LimitedFired = "fired"
)

// vmMetadata turns on, once, the TYPE lines of the Go runtime and process
// metrics that VictoriaMetrics/metrics writes (a switch global to that
// package; vigil uses it for nothing else).
var vmMetadata sync.Once

// NewMetrics returns the metrics with vigil's own families, Go runtime
// and process metrics, and the extra writers' families (serf's and
// memberlist's sink).
func NewMetrics(src MetricsSource, logger zerolog.Logger, extra ...Writer) (*Metrics, error) {
	vmMetadata.Do(func() { vmetrics.ExposeMetadata(true) })
	m := &Metrics{
		src:   src,
		log:   logger,
		extra: extra,
		events: promtext.NewCounterVec("vigil_events_total",
			"Events this agent published, by type (member-join, member-failed, user, check, health, damped, brake, ...).",
			"event"),
		hookRuns: promtext.NewCounterVec("vigil_hook_runs_total",
			"Hook runs by hook and outcome (ok, failed, timeout, error, cancelled, held, skipped, dropped).",
			"hook", "outcome"),
		hookDuration: promtext.NewHistogramVec("vigil_hook_duration_seconds",
			"Duration of the hook runs that started a process, by hook.",
			HookDurationBuckets, "hook"),
		userLimited: promtext.NewCounterVec("vigil_user_events_limited_total",
			"User events over the per-name rate limit (user_event_rate): received ones ran no hook, fired ones were refused with a 429.",
			"direction"),
	}
	for _, t := range eventTypes {
		m.events.With(string(t))
	}
	m.userLimited.With(LimitedReceived)
	m.userLimited.With(LimitedFired)
	return m, nil
}

// InitHooks creates every hook's series at zero, so rates and alerts work
// before a hook first runs.
func (m *Metrics) InitHooks(names []string) {
	for _, h := range names {
		for _, o := range hookOutcomes {
			m.hookRuns.With(h, string(o))
		}
		m.hookDuration.Touch(h)
	}
}

// CountEvent counts one published event.
func (m *Metrics) CountEvent(t events.Type) { m.events.With(string(t)).Add(1) }

// CountUserEventLimited counts one user event over the rate limit;
// direction is LimitedReceived or LimitedFired.
func (m *Metrics) CountUserEventLimited(direction string) {
	m.userLimited.With(direction).Add(1)
}

// ObserveHookRun counts one hook run and, when a process ran, its duration.
func (m *Metrics) ObserveHookRun(run events.Run) {
	m.hookRuns.With(run.Hook, string(run.Outcome)).Add(1)
	switch run.Outcome {
	case events.OutcomeOK, events.OutcomeFailed, events.OutcomeTimeout, events.OutcomeCancelled:
		m.hookDuration.Observe(run.DurationMS/1000, run.Hook)
	}
}

// WriteTo writes every family in Prometheus' text format (version 0.0.4):
// vigil's, the extra writers', then Go's and the process's.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	m.events.Write(&b)
	m.hookRuns.Write(&b)
	m.hookDuration.Write(&b)
	m.userLimited.Write(&b)
	m.writeState(&b)
	for _, x := range m.extra {
		x.WriteMetrics(&b)
	}
	vmetrics.WriteProcessMetrics(&b)
	vmetrics.WriteFDMetrics(&b)
	return b.WriteTo(w)
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if _, err := m.WriteTo(w); err != nil {
			m.log.Debug().Err(err).Msg("metrics: write the answer")
		}
	})
}

// writeState writes the gauges read from the source at scrape time:
// members, hook queues and checks.
func (m *Metrics) writeState(b *bytes.Buffer) {
	counts := make(map[string]int, len(MemberStatuses))
	for _, s := range MemberStatuses {
		counts[string(s)] = 0
	}
	for _, mb := range m.src.Members() {
		counts[string(mb.Status)]++
	}
	g := gaugeFamily{b: b, name: "vigil_members", help: "Members this agent knows, by status (alive, leaving, left, failed)."}
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		g.sample(float64(counts[s]), "status", s)
	}
	depths := m.src.HookQueueDepths()
	g = gaugeFamily{b: b, name: "vigil_hook_queue_depth", help: "Events waiting for a hook."}
	for _, h := range slices.Sorted(maps.Keys(depths)) {
		g.sample(float64(depths[h]), "hook", h)
	}
	checks := m.src.Checks()
	slices.SortFunc(checks, func(a, b probes.State) int { return strings.Compare(a.ID, b.ID) })
	g = gaugeFamily{b: b, name: "vigil_check_status", help: "1 for a local check's current status, 0 for the others."}
	for _, st := range checks {
		for _, s := range checkStatuses {
			v := 0.0
			if st.Status == s {
				v = 1
			}
			g.sample(v, "check", st.ID, "status", string(s))
		}
	}
	g = gaugeFamily{b: b, name: "vigil_check_duration_seconds", help: "How long a local check's last probe took (TTL checks have none)."}
	for _, st := range checks {
		if st.Kind != probes.KindTTL && !st.LastRun.IsZero() {
			g.sample(st.LastDurationMS/1000, "check", st.ID)
		}
	}
}

// gaugeFamily writes a gauge family's header before its first sample, so
// that a family without samples is not written at all.
type gaugeFamily struct {
	b          *bytes.Buffer
	name, help string
	started    bool
}

func (g *gaugeFamily) sample(v float64, labels ...string) {
	if !g.started {
		promtext.Header(g.b, g.name, g.help, promtext.Gauge)
		g.started = true
	}
	promtext.Sample(g.b, g.name, labels, v)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		writeError(w, http.StatusNotFound, "no such endpoint: /metrics (metrics are not enabled on this server)")
		return
	}
	s.metrics.ServeHTTP(w, r)
}
