package http

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
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
	events.User, events.Check, events.Health, events.Damped, events.Brake)

// checkStatuses are the label values of vigil_check_status{status}.
var checkStatuses = []probes.Status{probes.Passing, probes.Warning, probes.Critical}

// Metrics is the agent's Prometheus registry: counters the agent updates
// as things happen, and gauges read from a MetricsSource at scrape time. It
// uses a registry of its own, never Prometheus' global default.
type Metrics struct {
	reg          *prometheus.Registry
	events       *prometheus.CounterVec
	hookRuns     *prometheus.CounterVec
	hookDuration *prometheus.HistogramVec
	userLimited  *prometheus.CounterVec
	log          zerolog.Logger
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

// NewMetrics returns the registry with vigil's metrics, Go runtime and
// process metrics, and the extra collectors (serf's and memberlist's sink).
func NewMetrics(src MetricsSource, logger zerolog.Logger, extra ...prometheus.Collector) (*Metrics, error) {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: logger,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_total",
			Help: "Events this agent published, by type (member-join, member-failed, user, check, health, damped, brake, ...).",
		}, []string{"event"}),
		hookRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_hook_runs_total",
			Help: "Hook runs by hook and outcome (ok, failed, timeout, error, cancelled, held, skipped, dropped).",
		}, []string{"hook", "outcome"}),
		hookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_hook_duration_seconds",
			Help:    "Duration of the hook runs that started a process, by hook.",
			Buckets: HookDurationBuckets,
		}, []string{"hook"}),
		userLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_user_events_limited_total",
			Help: "User events over the per-name rate limit (user_event_rate): received ones ran no hook, fired ones were refused with a 429.",
		}, []string{"direction"}),
	}
	cs := []prometheus.Collector{
		m.events, m.hookRuns, m.hookDuration, m.userLimited, stateCollector{src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, c := range append(cs, extra...) {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for _, t := range eventTypes {
		m.events.WithLabelValues(string(t))
	}
	m.userLimited.WithLabelValues(LimitedReceived)
	m.userLimited.WithLabelValues(LimitedFired)
	return m, nil
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// InitHooks creates every hook's series at zero, so rates and alerts work
// before a hook first runs.
func (m *Metrics) InitHooks(names []string) {
	for _, h := range names {
		for _, o := range hookOutcomes {
			m.hookRuns.WithLabelValues(h, string(o))
		}
		m.hookDuration.WithLabelValues(h)
	}
}

// CountEvent counts one published event.
func (m *Metrics) CountEvent(t events.Type) { m.events.WithLabelValues(string(t)).Inc() }

// CountUserEventLimited counts one user event over the rate limit;
// direction is LimitedReceived or LimitedFired.
func (m *Metrics) CountUserEventLimited(direction string) {
	m.userLimited.WithLabelValues(direction).Inc()
}

// ObserveHookRun counts one hook run and, when a process ran, its duration.
func (m *Metrics) ObserveHookRun(run events.Run) {
	m.hookRuns.WithLabelValues(run.Hook, string(run.Outcome)).Inc()
	switch run.Outcome {
	case events.OutcomeOK, events.OutcomeFailed, events.OutcomeTimeout, events.OutcomeCancelled:
		m.hookDuration.WithLabelValues(run.Hook).Observe(run.DurationMS / 1000)
	}
}

// Handler serves the registry in Prometheus' text format (or OpenMetrics
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          log.New(warnWriter{m.log}, "metrics: ", 0),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

var (
	membersDesc = prometheus.NewDesc("vigil_members",
		"Members this agent knows, by status (alive, leaving, left, failed).", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc("vigil_hook_queue_depth",
		"Events waiting for a hook.", []string{"hook"}, nil)
	checkStatusDesc = prometheus.NewDesc("vigil_check_status",
		"1 for a local check's current status, 0 for the others.", []string{"check", "status"}, nil)
	checkDurationDesc = prometheus.NewDesc("vigil_check_duration_seconds",
		"How long a local check's last probe took (TTL checks have none).", []string{"check"}, nil)
)

// stateCollector reads members, hook queues and checks at scrape time.
type stateCollector struct{ src MetricsSource }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- membersDesc
	ch <- queueDesc
	ch <- checkStatusDesc
	ch <- checkDurationDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int, len(MemberStatuses))
	for _, s := range MemberStatuses {
		counts[s] = 0
	}
	for _, m := range c.src.Members() {
		counts[m.Status]++
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(n), s)
	}
	for hook, n := range c.src.HookQueueDepths() {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), hook)
	}
	for _, st := range c.src.Checks() {
		for _, s := range checkStatuses {
			v := 0.0
			if st.Status == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(checkStatusDesc, prometheus.GaugeValue, v, st.ID, string(s))
		}
		if st.Kind != probes.KindTTL && !st.LastRun.IsZero() {
			ch <- prometheus.MustNewConstMetric(checkDurationDesc, prometheus.GaugeValue, st.LastDurationMS/1000, st.ID)
		}
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		writeError(w, http.StatusNotFound, "no such endpoint: /metrics (metrics are not enabled on this server)")
		return
	}
	s.metrics.ServeHTTP(w, r)
}
