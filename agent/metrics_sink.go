package agent

import (
	"sort"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// gossipSampleBuckets are the upper bounds of the histogram buckets every
// serf and memberlist sample is counted in (the +Inf bucket is implicit).
// One set serves all of them, whatever their unit: timings in milliseconds
// (memberlist.gossip, memberlist.probeNode, memberlist.pushPullNode,
// serf.snapshot.*, serf.coordinate.adjustment-ms), sizes in bytes
// (serf.msgs.sent and .received, memberlist.size.remote) and queue depths
// (memberlist.queue.broadcasts, serf.queue.*). Decades with a midpoint keep
// the exposition to 12 buckets per series while still telling a 1 ms probe
// from a 50 ms one, or a 100-byte message from a 5 KB push/pull.
var gossipSampleBuckets = []float64{0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000}

// gossipKind is what a go-metrics call made of a series.
type gossipKind byte

const (
	gossipGauge   gossipKind = 'g'
	gossipCounter gossipKind = 'c'
	gossipSample  gossipKind = 's'
)

// gossipMetricSink is the go-metrics sink serf and memberlist report to,
// and a prometheus.Collector that exports what they reported: gauges as
// gauges, counters as counters, and samples (timers included) as
// histograms over gossipSampleBuckets.
//
// It replaces go-metrics' own Prometheus sink, which keeps a Prometheus
// Summary with quantile streams per sample series (about 0.6 MiB of live
// heap for serf's and memberlist's dozen timers, 40 % of an idle agent's
// heap). A series here is a Desc and a few numbers: a histogram is its
// count, its sum and one counter per bucket. Series are created on first
// use and never expire, so counters keep working with rate() after a quiet
// spell.
//
// It describes no metrics up front (the names are known only once serf and
// memberlist report them), which makes it an unchecked collector: any
// number of registries may register it, one per agent in a test process.
type gossipMetricSink struct {
	buckets []float64

	mu     sync.RWMutex
	series map[string]*gossipSeries // by kind, name and labels (seriesKey)
	named  int                      // per-name serf series in series
}

// gossipSeries is one exported series. mu guards the numbers.
type gossipSeries struct {
	kind gossipKind
	desc *prometheus.Desc

	mu     sync.Mutex
	value  float64  // a gauge's value or a counter's total
	count  uint64   // samples observed
	sum    float64  // their sum
	counts []uint64 // samples per bucket (not cumulative), len(buckets)
}

// newGossipMetricSink returns an empty sink counting samples in buckets.
func newGossipMetricSink(buckets []float64) *gossipMetricSink {
	return &gossipMetricSink{buckets: buckets, series: map[string]*gossipSeries{}}
}

var (
	_ gometrics.MetricSink               = (*gossipMetricSink)(nil)
	_ gometrics.PrecisionGaugeMetricSink = (*gossipMetricSink)(nil)
	_ prometheus.Collector               = (*gossipMetricSink)(nil)
)

// SetGauge implements go-metrics' MetricSink.
func (s *gossipMetricSink) SetGauge(key []string, val float32) {
	s.SetPrecisionGaugeWithLabels(key, float64(val), nil)
}

// SetGaugeWithLabels implements go-metrics' MetricSink.
func (s *gossipMetricSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.SetPrecisionGaugeWithLabels(key, float64(val), labels)
}

// SetPrecisionGauge implements go-metrics' PrecisionGaugeMetricSink.
func (s *gossipMetricSink) SetPrecisionGauge(key []string, val float64) {
	s.SetPrecisionGaugeWithLabels(key, val, nil)
}

// SetPrecisionGaugeWithLabels implements go-metrics'
// PrecisionGaugeMetricSink.
func (s *gossipMetricSink) SetPrecisionGaugeWithLabels(key []string, val float64, labels []gometrics.Label) {
	if isMemberlistSizeLocal(key) {
		return
	}
	g := s.get(gossipGauge, key, labels)
	if g == nil {
		return
	}
	g.mu.Lock()
	g.value = val
	g.mu.Unlock()
}

// EmitKey implements go-metrics' MetricSink. Prometheus has no use for a
// one-off key/value pair, and neither serf nor memberlist emits one.
func (s *gossipMetricSink) EmitKey(key []string, val float32) {}

// IncrCounter implements go-metrics' MetricSink.
func (s *gossipMetricSink) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

// IncrCounterWithLabels implements go-metrics' MetricSink. A negative or
// NaN increment is dropped: a Prometheus counter only goes up.
func (s *gossipMetricSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if !(val >= 0) {
		return
	}
	c := s.get(gossipCounter, key, labels)
	if c == nil {
		return
	}
	c.mu.Lock()
	c.value += float64(val)
	c.mu.Unlock()
}

// AddSample implements go-metrics' MetricSink.
func (s *gossipMetricSink) AddSample(key []string, val float32) {
	s.AddSampleWithLabels(key, val, nil)
}

// AddSampleWithLabels implements go-metrics' MetricSink: the sample is
// counted in its histogram. A NaN sample is dropped.
func (s *gossipMetricSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	if val != val {
		return
	}
	v := float64(val)
	h := s.get(gossipSample, key, labels)
	if h == nil {
		return
	}
	i := sort.SearchFloat64s(s.buckets, v) // the first bound >= v
	h.mu.Lock()
	h.count++
	h.sum += v
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.mu.Unlock()
}

// maxNamedSeries bounds the series serf makes per user event and per query
// name (serf.events.NAME, serf.queries.NAME). The names are whatever users
// fire, and a series never expires: without a bound, events with ever new
// names (a timestamp, a request ID) would grow the sink, and every scrape,
// without end. Events with names beyond the first maxNamedSeries are still
// counted in vigil_serf_events and vigil_serf_queries, the totals.
const maxNamedSeries = 64

// isNamedSerfSeries reports whether key (go-metrics' service name first)
// is one of serf's per-name counters.
func isNamedSerfSeries(key []string) bool {
	return len(key) == 4 && key[1] == "serf" && (key[2] == "events" || key[2] == "queries")
}

// isMemberlistSizeLocal reports whether key is memberlist's
// memberlist.size.local gauge, which memberlist v0.7.0 fills with four
// bytes of the push/pull message's header rather than its size (values
// around 2e9 for a 1 KB message): it is not exported.
func isMemberlistSizeLocal(key []string) bool {
	return len(key) == 4 && key[1] == "memberlist" && key[2] == "size" && key[3] == "local"
}

// get returns the series of kind for key and labels, creating it on first
// use, or nil for a per-name serf series past maxNamedSeries. The lookup
// itself does not allocate.
func (s *gossipMetricSink) get(kind gossipKind, key []string, labels []gometrics.Label) *gossipSeries {
	var buf [128]byte
	k, nameLen := seriesKey(buf[:0], kind, key, labels)
	s.mu.RLock()
	ser := s.series[string(k)]
	s.mu.RUnlock()
	if ser != nil {
		return ser
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ser = s.series[string(k)]; ser != nil {
		return ser
	}
	if isNamedSerfSeries(key) {
		if s.named >= maxNamedSeries {
			return nil
		}
		s.named++
	}
	name := string(k[1 : 1+nameLen])
	var constLabels prometheus.Labels
	if len(labels) > 0 {
		constLabels = make(prometheus.Labels, len(labels))
		for _, l := range labels {
			constLabels[l.Name] = l.Value
		}
	}
	ser = &gossipSeries{kind: kind, desc: prometheus.NewDesc(name, gossipHelp(kind, name), nil, constLabels)}
	if kind == gossipSample {
		ser.counts = make([]uint64, len(s.buckets))
	}
	s.series[string(k)] = ser
	return ser
}

// seriesKey appends to buf the map key of a series: the kind, the metric
// name, and each label as \xff name \xfe value. The name is go-metrics'
// key parts joined with "_", with " ", ".", "=", "-" and "/" made "_", as
// go-metrics' own Prometheus sink names them (vigil_memberlist_probeNode);
// nameLen is its length, from k[1].
func seriesKey(buf []byte, kind gossipKind, key []string, labels []gometrics.Label) (k []byte, nameLen int) {
	buf = append(buf, byte(kind))
	for i, part := range key {
		if i > 0 {
			buf = append(buf, '_')
		}
		for j := 0; j < len(part); j++ {
			c := part[j]
			switch c {
			case ' ', '.', '=', '-', '/':
				c = '_'
			}
			buf = append(buf, c)
		}
	}
	nameLen = len(buf) - 1
	for _, l := range labels {
		buf = append(buf, 0xff)
		buf = append(buf, l.Name...)
		buf = append(buf, 0xfe)
		buf = append(buf, l.Value...)
	}
	return buf, nameLen
}

// gossipHelp is the HELP text of a series. It depends only on the kind and
// the name, as Prometheus wants one text per metric family.
func gossipHelp(kind gossipKind, name string) string {
	switch kind {
	case gossipGauge:
		return "serf/memberlist gauge " + name + " (go-metrics)."
	case gossipCounter:
		return "serf/memberlist counter " + name + " (go-metrics)."
	default:
		return "serf/memberlist sample " + name + " (go-metrics; timings in milliseconds)."
	}
}

// Describe implements prometheus.Collector. It sends nothing: the series
// are not known in advance, which makes the sink an unchecked collector.
func (s *gossipMetricSink) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: a constant metric per series,
// read at scrape time.
func (s *gossipMetricSink) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	all := make([]*gossipSeries, 0, len(s.series))
	for _, ser := range s.series {
		all = append(all, ser)
	}
	s.mu.RUnlock()
	for _, ser := range all {
		ch <- s.metric(ser)
	}
}

// metric is a constant metric with ser's current value; an invalid one
// (a name Prometheus refuses) when it cannot be made, which the registry
// reports and skips.
func (s *gossipMetricSink) metric(ser *gossipSeries) prometheus.Metric {
	var (
		m   prometheus.Metric
		err error
	)
	ser.mu.Lock()
	switch ser.kind {
	case gossipGauge:
		m, err = prometheus.NewConstMetric(ser.desc, prometheus.GaugeValue, ser.value)
	case gossipCounter:
		m, err = prometheus.NewConstMetric(ser.desc, prometheus.CounterValue, ser.value)
	default:
		buckets := make(map[float64]uint64, len(s.buckets))
		var cum uint64
		for i, n := range ser.counts {
			cum += n
			buckets[s.buckets[i]] = cum
		}
		m, err = prometheus.NewConstHistogram(ser.desc, ser.count, ser.sum, buckets)
	}
	ser.mu.Unlock()
	if err != nil {
		return prometheus.NewInvalidMetric(ser.desc, err)
	}
	return m
}
