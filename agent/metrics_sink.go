package agent

import (
	"bytes"
	"cmp"
	"slices"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/internal/promtext"
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
// and a vigilhttp.Writer that exports what they reported: gauges as
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
// The names are known only once serf and memberlist report them; a name
// or label name that Prometheus would refuse (a user event's name can be
// anything) gets no series, so one bad name never spoils a scrape. Any
// number of agents in one process (tests) may write the one sink.
type gossipMetricSink struct {
	buckets []float64

	mu     sync.RWMutex
	series map[string]*gossipSeries // by kind, name and labels (seriesKey)
	named  int                      // per-name serf series in series
}

// gossipSeries is one exported series.
type gossipSeries struct {
	kind   gossipKind
	name   string
	labels []string // name, value pairs, as reported

	value promtext.Value         // a gauge's value or a counter's total
	hist  promtext.HistogramData // a sample's histogram
}

// newGossipMetricSink returns an empty sink counting samples in buckets.
func newGossipMetricSink(buckets []float64) *gossipMetricSink {
	return &gossipMetricSink{buckets: buckets, series: map[string]*gossipSeries{}}
}

var (
	_ gometrics.MetricSink               = (*gossipMetricSink)(nil)
	_ gometrics.PrecisionGaugeMetricSink = (*gossipMetricSink)(nil)
	_ vigilhttp.Writer                   = (*gossipMetricSink)(nil)
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
	if g := s.get(gossipGauge, key, labels); g != nil {
		g.value.Set(val)
	}
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
	if c := s.get(gossipCounter, key, labels); c != nil {
		c.value.Add(float64(val))
	}
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
	if h := s.get(gossipSample, key, labels); h != nil {
		h.hist.Observe(s.buckets, float64(val))
	}
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
// use, or nil for a per-name serf series past maxNamedSeries and for a
// name or label name that is not a valid Prometheus one. The lookup
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
	name := string(k[1 : 1+nameLen])
	if !validName(name, true) {
		return nil
	}
	pairs := make([]string, 0, 2*len(labels))
	for _, l := range labels {
		if !validName(l.Name, false) || l.Name == "le" && kind == gossipSample {
			return nil
		}
		pairs = append(pairs, l.Name, l.Value)
	}
	if isNamedSerfSeries(key) {
		if s.named >= maxNamedSeries {
			return nil
		}
		s.named++
	}
	ser = &gossipSeries{kind: kind, name: name, labels: pairs}
	s.series[string(k)] = ser
	return ser
}

// validName reports whether name is a valid Prometheus metric name
// ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with metric false, label name (no
// colons, and no leading "__", which Prometheus reserves).
func validName(name string, metric bool) bool {
	if name == "" || !metric && len(name) >= 2 && name[:2] == "__" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			i > 0 && c >= '0' && c <= '9' || metric && c == ':'
		if !ok {
			return false
		}
	}
	return true
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

// WriteMetrics implements vigilhttp.Writer: every series with its
// current value, grouped in families by name (a name reported as two
// kinds is written as the kind that sorts first, gauge before counter
// before sample), in name and label order.
func (s *gossipMetricSink) WriteMetrics(b *bytes.Buffer) {
	s.mu.RLock()
	all := make([]*gossipSeries, 0, len(s.series))
	for _, ser := range s.series {
		all = append(all, ser)
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(x, y *gossipSeries) int {
		return cmp.Or(cmp.Compare(x.name, y.name), cmp.Compare(x.kind.rank(), y.kind.rank()), slices.Compare(x.labels, y.labels))
	})
	var family *gossipSeries // the first series of the family being written
	for _, ser := range all {
		if family == nil || family.name != ser.name {
			family = ser
			promtext.Header(b, ser.name, gossipHelp(ser.kind, ser.name), ser.kind.typ())
		} else if family.kind != ser.kind {
			continue
		}
		switch ser.kind {
		case gossipSample:
			ser.hist.Write(b, ser.name, s.buckets, ser.labels)
		default:
			promtext.Sample(b, ser.name, ser.labels, ser.value.Get())
		}
	}
}

// rank orders the kinds: gauge, counter, sample.
func (k gossipKind) rank() int {
	return map[gossipKind]int{gossipGauge: 0, gossipCounter: 1, gossipSample: 2}[k]
}

// typ is the Prometheus type the kind is exported as.
func (k gossipKind) typ() string {
	switch k {
	case gossipGauge:
		return promtext.Gauge
	case gossipCounter:
		return promtext.Counter
	default:
		return promtext.Histogram
	}
}
