package http

import (
	"bytes"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/probes"
)

// metricsSource is a MetricsSource with fixed answers.
type metricsSource struct{}

func (metricsSource) Members() []events.Member {
	return []events.Member{{Name: "a", Status: "alive"}, {Name: "b", Status: "failed"}}
}

func (metricsSource) Checks() []probes.State {
	return []probes.State{
		{ID: "web", Kind: probes.KindHTTP, Status: probes.Passing, LastRun: time.Now(), LastDurationMS: 12},
		{ID: "ttl", Kind: probes.KindTTL, Status: probes.Critical},
	}
}

func (metricsSource) HookQueueDepths() map[string]int { return map[string]int{"h": 3} }

// TestMetricsFamilies pins the name, type and HELP text of every vigil
// family on /metrics (dashboards and alerts depend on them; they were
// client_golang's until the exposition became vigil's own) and checks
// that the whole answer, Go and process metrics included, parses as
// Prometheus' text format.
func TestMetricsFamilies(t *testing.T) {
	m, err := NewMetrics(metricsSource{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m.InitHooks([]string{"h"})
	m.CountEvent(events.MemberFailed)
	m.CountUserEventLimited(LimitedFired)
	m.ObserveHookRun(events.Run{Hook: "h", Outcome: events.OutcomeOK, DurationMS: 70})
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b.String())
	}
	for _, c := range []struct {
		name string
		typ  dto.MetricType
		help string
		n    int // series
	}{
		{"vigil_events_total", dto.MetricType_COUNTER, "Events this agent published, by type (member-join, member-failed, user, check, health, damped, brake, ...).", len(eventTypes)},
		{"vigil_hook_runs_total", dto.MetricType_COUNTER, "Hook runs by hook and outcome (ok, failed, timeout, error, cancelled, held, skipped, dropped).", len(hookOutcomes)},
		{"vigil_hook_duration_seconds", dto.MetricType_HISTOGRAM, "Duration of the hook runs that started a process, by hook.", 1},
		{"vigil_user_events_limited_total", dto.MetricType_COUNTER, "User events over the per-name rate limit (user_event_rate): received ones ran no hook, fired ones were refused with a 429.", 2},
		{"vigil_members", dto.MetricType_GAUGE, "Members this agent knows, by status (alive, leaving, left, failed).", len(MemberStatuses)},
		{"vigil_hook_queue_depth", dto.MetricType_GAUGE, "Events waiting for a hook.", 1},
		{"vigil_check_status", dto.MetricType_GAUGE, "1 for a local check's current status, 0 for the others.", 6},
		{"vigil_check_duration_seconds", dto.MetricType_GAUGE, "How long a local check's last probe took (TTL checks have none).", 1},
		{"go_goroutines", dto.MetricType_GAUGE, "", 1},
		{"process_resident_memory_bytes", dto.MetricType_GAUGE, "", 1},
		{"process_cpu_seconds_total", dto.MetricType_COUNTER, "", 1},
		{"process_open_fds", dto.MetricType_GAUGE, "", 1},
	} {
		f, ok := fams[c.name]
		if !ok {
			t.Errorf("no family %s", c.name)
			continue
		}
		if f.GetType() != c.typ || (c.help != "" && f.GetHelp() != c.help) || len(f.GetMetric()) != c.n {
			t.Errorf("%s: %v %q, %d series; want %v %q, %d", c.name, f.GetType(), f.GetHelp(), len(f.GetMetric()), c.typ, c.help, c.n)
		}
	}
	h := fams["vigil_hook_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.07 || len(h.GetBucket()) != len(HookDurationBuckets)+1 {
		t.Errorf("hook duration: count %d, sum %v, %d buckets", h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket()))
	}
}
