package promtext

import (
	"bytes"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSample pins the text format's escapes and numbers.
func TestSample(t *testing.T) {
	for _, c := range []struct {
		name   string
		labels []string
		v      float64
		want   string
	}{
		{"a", nil, 1, "a 1\n"},
		{"a", []string{"k", "v"}, 0.25, "a{k=\"v\"} 0.25\n"},
		{"a", []string{"k", "v", "l", "w"}, 1e21, "a{k=\"v\",l=\"w\"} 1e+21\n"},
		{"a", []string{"k", "q\"b\\n\nx"}, 2, "a{k=\"q\\\"b\\\\n\\nx\"} 2\n"},
		{"a", []string{"k"}, 3, "a 3\n"}, // an odd name is ignored
		{"a", nil, math.Inf(1), "a +Inf\n"},
		{"a", nil, math.Inf(-1), "a -Inf\n"},
		{"a", nil, math.NaN(), "a NaN\n"},
	} {
		var b bytes.Buffer
		Sample(&b, c.name, c.labels, c.v)
		if b.String() != c.want {
			t.Errorf("Sample(%q, %q, %v) = %q, want %q", c.name, c.labels, c.v, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	Header(&b, "a", "line\none \\ \"q\"", Gauge)
	if want := "# HELP a line\\none \\\\ \"q\"\n# TYPE a gauge\n"; b.String() != want {
		t.Errorf("Header = %q, want %q", b.String(), want)
	}
}

// TestFamilies writes a counter and a histogram family and compares the
// text with what prometheus/client_golang wrote for the same, then parses
// it with Prometheus' own parser.
func TestFamilies(t *testing.T) {
	c := NewCounterVec("x_total", "Xs.", "kind")
	empty := NewCounterVec("none_total", "Nothing.", "kind")
	h := NewHistogramVec("d_seconds", "Ds.", []float64{0.5, 1}, "hook")
	c.With("b").Add(2)
	c.With("a").Add(1)
	c.With("b").Add(0.5)
	h.Touch("z")
	h.Observe(0.25, "a")
	h.Observe(0.75, "a")
	h.Observe(3, "a")
	h.Observe(math.NaN(), "a") // dropped
	var b bytes.Buffer
	c.Write(&b)
	empty.Write(&b)
	h.Write(&b)
	want := `# HELP x_total Xs.
# TYPE x_total counter
x_total{kind="a"} 1
x_total{kind="b"} 2.5
# HELP d_seconds Ds.
# TYPE d_seconds histogram
d_seconds_bucket{hook="a",le="0.5"} 1
d_seconds_bucket{hook="a",le="1"} 2
d_seconds_bucket{hook="a",le="+Inf"} 3
d_seconds_sum{hook="a"} 4
d_seconds_count{hook="a"} 3
d_seconds_bucket{hook="z",le="0.5"} 0
d_seconds_bucket{hook="z",le="1"} 0
d_seconds_bucket{hook="z",le="+Inf"} 0
d_seconds_sum{hook="z"} 0
d_seconds_count{hook="z"} 0
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got := fams["d_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("parsed sample count %d, want 3", got)
	}
}

// TestValueConcurrent adds from many goroutines (go test -race): no
// addition is lost.
func TestValueConcurrent(t *testing.T) {
	c := NewCounterVec("n_total", "N.", "w")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.With("one").Add(1)
			}
		})
	}
	wg.Wait()
	if got := c.With("one").Get(); got != 8000 {
		t.Errorf("got %v, want 8000", got)
	}
}
