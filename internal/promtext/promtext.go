// Package promtext writes Prometheus' text exposition format (version
// 0.0.4) for vigil's /metrics: metric families with their HELP and TYPE
// lines, counter and histogram vectors over fixed label names, and the
// escaping and number formatting the format wants.
//
// vigil's metric set is fixed and small, so it does not need a client
// library's registry: this package is what prometheus/client_golang did
// for vigil, without its protobuf data model, which cost every agent
// about 1 MiB of resident executable pages (docs/benchmarks.md,
// "Footprint: the metrics library"). Go runtime and process metrics come
// from github.com/VictoriaMetrics/metrics (see http.Metrics).
package promtext

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The metric types of a TYPE line.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
)

// Header writes a family's HELP and TYPE lines.
func Header(b *bytes.Buffer, name, help, typ string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	writeEscaped(b, help, false)
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(typ)
	b.WriteByte('\n')
}

// Sample writes one sample line: name, labels (name, value pairs; an odd
// last name is ignored) and value.
func Sample(b *bytes.Buffer, name string, labels []string, v float64) {
	b.WriteString(name)
	if len(labels) >= 2 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			writeEscaped(b, labels[i+1], true)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(FormatFloat(v))
	b.WriteByte('\n')
}

// FormatFloat formats v as the text format wants it: the shortest exact
// decimal, and +Inf, -Inf, NaN.
func FormatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeEscaped writes s with the text format's escapes: backslash and
// newline everywhere, the double quote in label values only.
func writeEscaped(b *bytes.Buffer, s string, quote bool) {
	if !strings.ContainsAny(s, "\\\n\"") {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
}

// A Value is a float64 that goroutines may add to and read at once: a
// counter's total or a gauge's value.
type Value struct{ bits atomic.Uint64 }

// Add adds d.
func (v *Value) Add(d float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Set sets the value to x.
func (v *Value) Set(x float64) { v.bits.Store(math.Float64bits(x)) }

// Get returns the value.
func (v *Value) Get() float64 { return math.Float64frombits(v.bits.Load()) }

// vec is the series of a family by their label values, written in the
// order of their label values.
type vec[S any] struct {
	name, help string
	labels     []string

	mu     sync.RWMutex
	series map[string]*S // by label values joined with \xff
	keys   [][]string    // label values of each series, sorted
}

func newVec[S any](name, help string, labels []string) vec[S] {
	return vec[S]{name: name, help: help, labels: labels, series: map[string]*S{}}
}

// with returns the series for values (one per label name), creating it.
func (v *vec[S]) with(values []string) *S {
	var kb [64]byte
	k := kb[:0]
	for i, s := range values {
		if i > 0 {
			k = append(k, 0xff)
		}
		k = append(k, s...)
	}
	v.mu.RLock()
	s := v.series[string(k)]
	v.mu.RUnlock()
	if s != nil {
		return s
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s = v.series[string(k)]; s != nil {
		return s
	}
	s = new(S)
	v.series[string(k)] = s
	vals := slices.Clone(values)
	i, _ := slices.BinarySearchFunc(v.keys, vals, slices.Compare)
	v.keys = slices.Insert(v.keys, i, vals)
	return s
}

// each writes the family's header to b, then calls f for every series in
// label value order, with its label pairs (name, value, ...). A family
// without series is not written.
func (v *vec[S]) each(typ string, b *bytes.Buffer, f func(pairs []string, s *S)) {
	v.mu.RLock()
	keys := slices.Clone(v.keys)
	all := make([]*S, len(keys))
	var kb []byte
	for i, vals := range keys {
		kb = kb[:0]
		for j, s := range vals {
			if j > 0 {
				kb = append(kb, 0xff)
			}
			kb = append(kb, s...)
		}
		all[i] = v.series[string(kb)]
	}
	v.mu.RUnlock()
	if len(keys) == 0 {
		return
	}
	Header(b, v.name, v.help, typ)
	pairs := make([]string, 2*len(v.labels))
	for i, vals := range keys {
		for j, l := range v.labels {
			pairs[2*j], pairs[2*j+1] = l, vals[j]
		}
		f(pairs, all[i])
	}
}

// CounterVec is a counter family with fixed label names.
type CounterVec struct{ v vec[Value] }

// NewCounterVec returns an empty counter family.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{v: newVec[Value](name, help, labels)}
}

// With returns the counter of the label values (one per label name, in
// their order), creating it at zero.
func (c *CounterVec) With(values ...string) *Value { return c.v.with(values) }

// Write writes the family, its series in label value order; nothing when
// it has no series.
func (c *CounterVec) Write(b *bytes.Buffer) {
	c.v.each(Counter, b, func(pairs []string, s *Value) { Sample(b, c.v.name, pairs, s.Get()) })
}

// HistogramData is one histogram series: samples counted in fixed
// buckets.
type HistogramData struct {
	mu     sync.Mutex
	count  uint64
	sum    float64
	counts []uint64 // per bucket, not cumulative; len(bounds)
}

// Observe counts x in the histogram over bounds (sorted upper bounds,
// +Inf implicit). A NaN is dropped.
func (h *HistogramData) Observe(bounds []float64, x float64) {
	if x != x {
		return
	}
	i, _ := slices.BinarySearch(bounds, x) // the first bound >= x
	h.mu.Lock()
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds))
	}
	h.count++
	h.sum += x
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.mu.Unlock()
}

// Write writes the series' _bucket (cumulative, +Inf last), _sum and
// _count samples with the label pairs given.
func (h *HistogramData) Write(b *bytes.Buffer, name string, bounds []float64, pairs []string) {
	h.mu.Lock()
	count, sum := h.count, h.sum
	counts := slices.Clone(h.counts)
	h.mu.Unlock()
	lp := append(slices.Clone(pairs), "le", "")
	var cum uint64
	for i, bound := range bounds {
		if i < len(counts) {
			cum += counts[i]
		}
		lp[len(lp)-1] = FormatFloat(bound)
		Sample(b, name+"_bucket", lp, float64(cum))
	}
	lp[len(lp)-1] = "+Inf"
	Sample(b, name+"_bucket", lp, float64(count))
	Sample(b, name+"_sum", pairs, sum)
	Sample(b, name+"_count", pairs, float64(count))
}

// HistogramVec is a histogram family with fixed label names and buckets.
type HistogramVec struct {
	v      vec[HistogramData]
	bounds []float64
}

// NewHistogramVec returns an empty histogram family over bounds (sorted
// upper bounds; +Inf is implicit).
func NewHistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	return &HistogramVec{v: newVec[HistogramData](name, help, labels), bounds: bounds}
}

// Observe counts x in the series of the label values, creating it.
func (h *HistogramVec) Observe(x float64, values ...string) { h.v.with(values).Observe(h.bounds, x) }

// Touch creates the series of the label values, empty, if it is missing.
func (h *HistogramVec) Touch(values ...string) { h.v.with(values) }

// Write writes the family, its series in label value order; nothing when
// it has no series.
func (h *HistogramVec) Write(b *bytes.Buffer) {
	h.v.each(Histogram, b, func(pairs []string, s *HistogramData) { s.Write(b, h.v.name, h.bounds, pairs) })
}
