package agent

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

// gather writes what w exports and parses it with Prometheus' own text
// parser, which refuses what Prometheus would (a family written twice, a
// bad name, a histogram without +Inf...).
func gather(t *testing.T, w vigilhttp.Writer) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	w.WriteMetrics(&b)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, b.String())
	}
	return fams
}

// TestGossipMetricSink feeds the sink as go-metrics does and checks what
// Prometheus gathers: names as go-metrics' Prometheus sink made them,
// gauges, counters, and samples as histograms over gossipSampleBuckets.
func TestGossipMetricSink(t *testing.T) {
	s := newGossipMetricSink(gossipSampleBuckets)

	s.SetGauge([]string{"vigil", "memberlist", "health", "score"}, 2)
	s.SetGauge([]string{"vigil", "memberlist", "health", "score"}, 1)
	s.SetPrecisionGauge([]string{"vigil", "serf", "precise"}, 1e9+0.5)
	s.SetGaugeWithLabels([]string{"vigil", "memberlist", "node", "instances"}, 3, []gometrics.Label{{Name: "node_state", Value: "alive"}})
	s.SetGaugeWithLabels([]string{"vigil", "memberlist", "node", "instances"}, 1, []gometrics.Label{{Name: "node_state", Value: "dead"}})
	s.IncrCounter([]string{"vigil", "serf", "member", "join"}, 1)
	s.IncrCounter([]string{"vigil", "serf", "member", "join"}, 2)
	s.IncrCounter([]string{"vigil", "serf", "member", "join"}, -5)                             // dropped
	s.IncrCounter([]string{"vigil", "serf", "member", "join"}, float32(math.NaN()))            // dropped
	s.IncrCounter([]string{"vigil", "serf", "queries", "vigil-leave"}, 1)                      // "-" becomes "_"
	s.IncrCounter([]string{"vigil", "serf", "events", "a.b c=d/e"}, 1)                         // so do ". =/"
	s.AddSample([]string{"vigil", "serf", "coordinate", "adjustment-ms"}, float32(math.NaN())) // dropped
	for _, v := range []float32{0.05, 0.25, 0.3, 7, 7, 120, 99999} {
		s.AddSample([]string{"vigil", "memberlist", "gossip"}, v)
	}
	s.EmitKey([]string{"vigil", "ignored"}, 1)

	for range 2 { // a second scrape (or a second agent) sees the same
		fams := gather(t, s)
		gauge := func(name string, labels ...string) float64 {
			t.Helper()
			v, ok := value(fams, name, labels...)
			if !ok {
				t.Fatalf("no series %s%v", name, labels)
			}
			return v
		}
		for _, c := range []struct {
			name   string
			labels []string
			typ    dto.MetricType
			want   float64
		}{
			{"vigil_memberlist_health_score", nil, dto.MetricType_GAUGE, 1},
			{"vigil_serf_precise", nil, dto.MetricType_GAUGE, 1e9 + 0.5},
			{"vigil_memberlist_node_instances", []string{"node_state", "alive"}, dto.MetricType_GAUGE, 3},
			{"vigil_memberlist_node_instances", []string{"node_state", "dead"}, dto.MetricType_GAUGE, 1},
			{"vigil_serf_member_join", nil, dto.MetricType_COUNTER, 3},
			{"vigil_serf_queries_vigil_leave", nil, dto.MetricType_COUNTER, 1},
			{"vigil_serf_events_a_b_c_d_e", nil, dto.MetricType_COUNTER, 1},
			{"vigil_memberlist_gossip", nil, dto.MetricType_HISTOGRAM, 7}, // the sample count
		} {
			if got := gauge(c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
			if typ := fams[c.name].GetType(); typ != c.typ {
				t.Errorf("%s is a %v, want a %v", c.name, typ, c.typ)
			}
		}
		if _, ok := fams["vigil_serf_coordinate_adjustment_ms"]; ok {
			t.Error("a NaN sample made a series")
		}
		if _, ok := fams["vigil_ignored"]; ok {
			t.Error("EmitKey made a series")
		}
		h := fams["vigil_memberlist_gossip"].GetMetric()[0].GetHistogram()
		if got, want := h.GetSampleSum(), float64(float32(0.05))+0.25+float64(float32(0.3))+7+7+120+99999; math.Abs(got-want) > 1e-6 {
			t.Errorf("gossip sum = %v, want %v", got, want)
		}
		wantCum := map[float64]uint64{0.1: 1, 0.5: 3, 1: 3, 5: 3, 10: 5, 50: 5, 100: 5, 500: 6, 1000: 6, 5000: 6, 10000: 6, 50000: 6, math.Inf(1): 7}
		if len(h.GetBucket()) != len(gossipSampleBuckets)+1 { // and +Inf
			t.Errorf("%d buckets, want %d and +Inf", len(h.GetBucket()), len(gossipSampleBuckets))
		}
		for _, b := range h.GetBucket() {
			if want, ok := wantCum[b.GetUpperBound()]; !ok || b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
		if help := fams["vigil_memberlist_gossip"].GetHelp(); !strings.Contains(help, "milliseconds") {
			t.Errorf("gossip help %q", help)
		}
	}
}

// TestGossipMetricSinkConcurrent reports from many goroutines while
// scraping (run with -race): no update is lost.
func TestGossipMetricSinkConcurrent(t *testing.T) {
	s := newGossipMetricSink(gossipSampleBuckets)
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s.IncrCounter([]string{"vigil", "memberlist", "msg", "alive"}, 1)
				s.AddSample([]string{"vigil", "memberlist", "probeNode"}, float32(i%7))
				s.SetGaugeWithLabels([]string{"vigil", "g"}, float32(i), []gometrics.Label{{Name: "w", Value: string(rune('a' + w))}})
			}
		})
	}
	for range 20 {
		gather(t, s)
	}
	wg.Wait()
	fams := gather(t, s)
	if v, _ := value(fams, "vigil_memberlist_msg_alive"); v != workers*each {
		t.Errorf("counter = %v, want %d", v, workers*each)
	}
	if v, _ := value(fams, "vigil_memberlist_probeNode"); v != workers*each {
		t.Errorf("sample count = %v, want %d", v, workers*each)
	}
	if n := len(fams["vigil_g"].GetMetric()); n != workers {
		t.Errorf("%d gauge series, want %d", n, workers)
	}
}

// feedIdleGossip reports to sink what serf and memberlist report in an
// idle 20-member cluster with the local profile over the given number of
// seconds (the keys and rates of memberlist v0.7 and serf v0.11, with the
// "vigil" prefix go-metrics adds): a gossip round every 200 ms, a probe
// and its ping-complete coordinate update every second, queue checks, a
// push/pull every 30 s, and the message counters that go with them.
func feedIdleGossip(sink gometrics.MetricSink, seconds int, rng *rand.Rand) {
	ms := func(mean float64) float32 { return float32(rng.ExpFloat64() * mean) }
	states := []string{"alive", "suspect", "dead", "left"}
	for sec := range seconds {
		for range 5 {
			sink.AddSample([]string{"vigil", "memberlist", "gossip"}, ms(0.05))
			sink.IncrCounter([]string{"vigil", "memberlist", "udp", "sent"}, float32(200+rng.IntN(1200)))
			sink.IncrCounter([]string{"vigil", "memberlist", "udp", "received"}, float32(200+rng.IntN(1200)))
		}
		sink.AddSample([]string{"vigil", "memberlist", "probeNode"}, ms(0.8))
		sink.AddSample([]string{"vigil", "serf", "coordinate", "adjustment-ms"}, ms(0.1))
		sink.IncrCounter([]string{"vigil", "memberlist", "msg", "alive"}, 1)
		sink.AddSample([]string{"vigil", "serf", "msgs", "sent"}, float32(60+rng.IntN(200)))
		sink.AddSample([]string{"vigil", "serf", "msgs", "received"}, float32(60+rng.IntN(200)))
		sink.AddSample([]string{"vigil", "memberlist", "queue", "broadcasts"}, float32(rng.IntN(2)))
		for _, q := range []string{"Intent", "Event", "Query"} {
			sink.AddSample([]string{"vigil", "serf", "queue", q}, float32(rng.IntN(2)))
		}
		sink.SetGauge([]string{"vigil", "memberlist", "health", "score"}, 0)
		if sec%30 == 0 {
			sink.AddSample([]string{"vigil", "memberlist", "pushPullNode"}, ms(2))
			sink.AddSample([]string{"vigil", "memberlist", "size", "remote"}, float32(1500+rng.IntN(500)))
			sink.SetGauge([]string{"vigil", "memberlist", "size", "local"}, float32(1500+rng.IntN(500)))
			sink.IncrCounter([]string{"vigil", "memberlist", "tcp", "connect"}, 1)
			sink.IncrCounter([]string{"vigil", "memberlist", "tcp", "accept"}, 1)
			sink.IncrCounter([]string{"vigil", "memberlist", "tcp", "sent"}, float32(1500+rng.IntN(500)))
			for i, st := range states {
				sink.SetGaugeWithLabels([]string{"vigil", "memberlist", "node", "instances"}, float32(20*(1-min(i, 1))),
					[]gometrics.Label{{Name: "node_state", Value: st}})
			}
		}
	}
}

// liveHeap returns the live heap after a full collection: HeapAlloc (the
// bytes of live objects) and HeapInuse (the spans holding them).
func liveHeap() (alloc, inuse uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse
}

// countingSink counts the reports made to the sink it wraps.
type countingSink struct {
	gometrics.MetricSink
	n int
}

// SetGauge counts, then reports to the wrapped sink.
func (c *countingSink) SetGauge(k []string, v float32) { c.n++; c.MetricSink.SetGauge(k, v) }

// IncrCounter counts, then reports to the wrapped sink.
func (c *countingSink) IncrCounter(k []string, v float32) { c.n++; c.MetricSink.IncrCounter(k, v) }

// AddSample counts, then reports to the wrapped sink.
func (c *countingSink) AddSample(k []string, v float32) { c.n++; c.MetricSink.AddSample(k, v) }

// SetGaugeWithLabels counts, then reports to the wrapped sink.
func (c *countingSink) SetGaugeWithLabels(k []string, v float32, l []gometrics.Label) {
	c.n++
	c.MetricSink.SetGaugeWithLabels(k, v, l)
}

// TestGossipSinkHeap measures what each sink keeps live after serf's and
// memberlist's reports of an idle minute and of an idle hour: go-metrics'
// Prometheus sink as vigil used it (a Summary per sample series, never
// expired) against gossipMetricSink. The reports arrive at once, so the
// old sink's summaries see the hour in one 10 s window and keep more than
// they would in real time; the minute is close to its steady state. The
// numbers are logged (go test -v); the check only wants the new sink to
// keep less than a quarter of the old one's heap.
func TestGossipSinkHeap(t *testing.T) {
	measure := func(name string, seconds int, build func() gometrics.MetricSink) uint64 {
		alloc0, inuse0 := liveHeap()
		sink := &countingSink{MetricSink: build()}
		feedIdleGossip(sink, seconds, rand.New(rand.NewPCG(1, 2)))
		alloc1, inuse1 := liveHeap()
		runtime.KeepAlive(sink)
		grownAlloc := int64(alloc1) - int64(alloc0)
		t.Logf("%-26s %5d s, %6d reports: live heap %+8.1f KiB (HeapAlloc), %+8.1f KiB (HeapInuse)",
			name, seconds, sink.n, float64(grownAlloc)/1024, float64(int64(inuse1)-int64(inuse0))/1024)
		return uint64(max(grownAlloc, 0))
	}
	for _, seconds := range []int{60, 3600} {
		old := measure("go-metrics Prometheus sink", seconds, func() gometrics.MetricSink {
			s, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
				Registerer: prometheus.NewRegistry(), Name: "vigil_gossip_metrics", Expiration: 0,
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
		lean := measure("gossipMetricSink", seconds, func() gometrics.MetricSink {
			return newGossipMetricSink(gossipSampleBuckets)
		})
		if lean*4 > old {
			t.Errorf("%d s: gossipMetricSink keeps %d bytes live, the go-metrics Prometheus sink %d: want under a quarter", seconds, lean, old)
		}
	}
}

// TestGossipMetricSinkBoundsUserNamedSeries: serf counts each user event
// and query name in a series of its own; names are user input, so only
// the first maxNamedSeries get one, while the totals go on counting. And
// memberlist's garbled size.local gauge is not exported.
func TestGossipMetricSinkBoundsUserNamedSeries(t *testing.T) {
	s := newGossipMetricSink(gossipSampleBuckets)
	const fired = 3 * maxNamedSeries
	for i := range fired {
		s.IncrCounter([]string{"vigil", "serf", "events"}, 1)
		s.IncrCounter([]string{"vigil", "serf", "events", fmt.Sprintf("deploy-%d", i)}, 1)
		s.IncrCounter([]string{"vigil", "serf", "queries", fmt.Sprintf("q-%d", i)}, 1)
	}
	s.IncrCounter([]string{"vigil", "serf", "events", "deploy-0"}, 1) // an existing series still counts
	s.SetGauge([]string{"vigil", "memberlist", "size", "local"}, 2.2e9)
	s.SetGauge([]string{"vigil", "memberlist", "size", "remote"}, 1024) // a sample in memberlist, a gauge here

	fams := gather(t, s)
	named := 0
	for name := range fams {
		if strings.HasPrefix(name, "vigil_serf_events_") || strings.HasPrefix(name, "vigil_serf_queries_") {
			named++
		}
	}
	if named != maxNamedSeries {
		t.Errorf("%d per-name series after %d names, want %d", named, 2*fired, maxNamedSeries)
	}
	if v, ok := value(fams, "vigil_serf_events"); !ok || v != fired {
		t.Errorf("vigil_serf_events = %v (present %v), want %d", v, ok, fired)
	}
	if v, ok := value(fams, "vigil_serf_events_deploy_0"); !ok || v != 2 {
		t.Errorf("vigil_serf_events_deploy_0 = %v (present %v), want 2", v, ok)
	}
	if _, ok := fams["vigil_memberlist_size_local"]; ok {
		t.Error("memberlist's size.local gauge was exported")
	}
	if _, ok := fams["vigil_memberlist_size_remote"]; !ok {
		t.Error("another memberlist gauge was dropped")
	}
}

// TestGossipMetricSinkRefusesBadNames: serf names a series after each
// user event, and a user event's name can hold what Prometheus refuses in
// a metric name; such a series, a bad label name, and a name reported as
// two kinds must not spoil the scrape (the whole exposition parses).
func TestGossipMetricSinkRefusesBadNames(t *testing.T) {
	s := newGossipMetricSink(gossipSampleBuckets)
	s.IncrCounter([]string{"vigil", "serf", "events", "déploy"}, 1)
	s.IncrCounter([]string{"vigil", "serf", "events", "a+b"}, 1)
	s.IncrCounter([]string{"vigil", "serf", "events", "ok"}, 1)
	s.SetGaugeWithLabels([]string{"vigil", "g"}, 1, []gometrics.Label{{Name: "bad-label", Value: "x"}})
	s.AddSampleWithLabels([]string{"vigil", "h"}, 1, []gometrics.Label{{Name: "le", Value: "x"}})
	s.SetGaugeWithLabels([]string{"vigil", "q"}, 2, []gometrics.Label{{Name: "v", Value: "a\"b\\c\nd"}})
	s.SetGauge([]string{"vigil", "twice"}, 1)
	s.IncrCounter([]string{"vigil", "twice"}, 1)
	s.AddSample([]string{"vigil", "twice"}, 1)

	fams := gather(t, s)
	for _, c := range []struct {
		name string
		want bool
	}{
		{"vigil_serf_events_ok", true},
		{"vigil_serf_events_a+b", false},
		{"vigil_g", false},
		{"vigil_h", false},
		{"vigil_q", true},
		{"vigil_twice", true},
	} {
		if _, ok := fams[c.name]; ok != c.want {
			t.Errorf("%s exported: %v, want %v", c.name, ok, c.want)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "vigil_serf_events_d") {
			t.Errorf("%q exported", name)
		}
	}
	if v, ok := value(fams, "vigil_q", "v", "a\"b\\c\nd"); !ok || v != 2 {
		t.Errorf("escaped label: %v, %v", v, ok)
	}
	if typ := fams["vigil_twice"].GetType(); typ != dto.MetricType_GAUGE {
		t.Errorf("vigil_twice is a %v, want the gauge", typ)
	}
}
