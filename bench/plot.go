package bench

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var setupColors = map[string]color.Color{
	"vigil-local": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"serf-local":  color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"vigil-fast":  color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

func colorOf(setup string) color.Color {
	if c, ok := setupColors[setup]; ok {
		return c
	}
	return color.Black
}

// errPoints are points with asymmetric Y errors.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// seriesPlot adds one setup's series: a line through the Y values and,
// when errs is set, error bars.
func seriesPlot(p *plot.Plot, name string, xys plotter.XYs, errs plotter.YErrors, shape int) error {
	if len(xys) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	c := colorOf(name)
	l.Color, s.Color = c, c
	l.Width = vg.Points(1.5)
	s.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}}[shape%3]
	s.Radius = vg.Points(3)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	if errs != nil {
		eb, err := plotter.NewYErrorBars(errPoints{XYs: xys, YErrors: errs})
		if err != nil {
			return err
		}
		eb.Color = c
		eb.Width = vg.Points(1)
		p.Add(eb)
	}
	return nil
}

// theoryLine adds memberlist's detection floor for a profile over [lo, hi].
func theoryLine(p *plot.Plot, profile string, lo, hi int, dashes int) error {
	var xys plotter.XYs
	for x := float64(lo); x <= float64(hi)*1.0001; x *= 1.05 {
		xys = append(xys, plotter.XY{X: x, Y: float64(TheoryFor(profile, int(math.Round(x))).FloorMS) / 1000})
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = color.Gray{Y: 0x60}
	l.Dashes = []vg.Length{vg.Points(float64(2 + 3*dashes)), vg.Points(3)}
	l.Width = vg.Points(1)
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("theory %s: probe interval + min suspicion", profile), l)
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = nTicks{}
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// niceTicks marks round values, 5 to 12 of them.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.01
	for _, st := range []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50} {
		step = st
		if (hi-lo)/st <= 12 {
			break
		}
	}
	decimals := 0
	switch {
	case step == 0.25:
		decimals = 2
	case step < 0.1:
		decimals = 2
	case step < 1:
		decimals = 1
	}
	var out []plot.Tick
	for k := math.Ceil(lo / step); k*step <= hi+step/1e6; k++ {
		v := k * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return out
}

// headroom leaves space above the data for the legend.
func headroom(p *plot.Plot, maxY float64) {
	p.Y.Max = maxY * 1.45
	p.Y.Tick.Marker = niceTicks{}
}

// nTicks marks the cluster sizes the benchmark uses.
type nTicks struct{}

func (nTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, n := range []float64{2, 5, 10, 20, 50, 100, 200, 500} {
		if n >= lo*0.999 && n <= hi*1.001 {
			out = append(out, plot.Tick{Value: n, Label: fmt.Sprint(n)})
		}
	}
	return out
}

// plotDetection draws kill → last survivor's hook (p50, bar to p90) per
// setup against N, with memberlist's theory.
func plotDetection(sums []DetectSummary, file string) error {
	p := newPlot("Failure detection: kill -9 → every survivor's member-failed hook",
		"cluster size N (log scale)", "seconds (p50 of the last survivor; bar: p90)")
	lo, hi := math.MaxInt, 0
	maxY := 0.0
	for i, s := range orderedSetups(sums) {
		var xys plotter.XYs
		var errs plotter.YErrors
		for _, d := range sums {
			if d.Setup != s || !d.LastP50.OK() {
				continue
			}
			lo, hi = min(lo, d.N), max(hi, d.N)
			y := float64(d.LastP50) / 1000
			xys = append(xys, plotter.XY{X: float64(d.N), Y: y})
			up := 0.0
			if d.LastP90.OK() {
				up = float64(d.LastP90)/1000 - y
			}
			errs = append(errs, struct{ Low, High float64 }{0, up})
			maxY = max(maxY, y+up)
		}
		if err := seriesPlot(p, s, xys, errs, i); err != nil {
			return err
		}
	}
	if hi == 0 {
		return nil
	}
	p.X.Min, p.X.Max = float64(lo)*0.85, float64(hi)*1.15
	if err := theoryLine(p, "local", lo, hi, 1); err != nil {
		return err
	}
	if err := theoryLine(p, "fast", lo, hi, 0); err != nil {
		return err
	}
	headroom(p, maxY)
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, file)
}

// plotFootprint draws an idle footprint metric per setup against N.
func plotFootprint(fs []Footprint, metric, file string) error {
	title, ylabel := "Idle memory per agent", "VmRSS, MiB (mean over agents and window)"
	if metric == "cpu" {
		title, ylabel = "Idle CPU per agent", "% of one core (mean over agents)"
	}
	p := newPlot(title, "cluster size N (log scale)", ylabel)
	var setups []string
	lo, hi := math.MaxInt, 0
	for _, f := range fs {
		if f.Mode == "idle" && !slices.Contains(setups, f.Setup) {
			setups = append(setups, f.Setup)
		}
	}
	slices.SortFunc(setups, setupOrder)
	maxY := 0.0
	var serfXYs plotter.XYs
	for i, s := range setups {
		byN := map[int][]float64{}
		for _, f := range fs {
			if f.Mode != "idle" || f.Setup != s {
				continue
			}
			v := float64(f.RSSMiB)
			if metric == "cpu" {
				v = float64(f.CPUPct)
			}
			byN[f.N] = append(byN[f.N], v)
		}
		var xys plotter.XYs
		for _, n := range sortedKeys(byN) {
			lo, hi = min(lo, n), max(hi, n)
			xys = append(xys, plotter.XY{X: float64(n), Y: Mean(byN[n])})
			maxY = max(maxY, Mean(byN[n]))
		}
		if s == "serf-local" {
			serfXYs = xys
		}
		if err := seriesPlot(p, s, xys, nil, i); err != nil {
			return err
		}
	}
	if hi == 0 {
		return nil
	}
	p.X.Min, p.X.Max = float64(lo)*0.85, float64(hi)*1.15
	if metric == "rss" && len(serfXYs) > 0 {
		// The target: at most 1.2× serf agent's RSS.
		target := make(plotter.XYs, len(serfXYs))
		for i, xy := range serfXYs {
			target[i] = plotter.XY{X: xy.X, Y: 1.2 * xy.Y}
		}
		l, err := plotter.NewLine(target)
		if err != nil {
			return err
		}
		l.Color = colorOf("serf-local")
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("1.2 × serf-local (target ceiling)", l)
		maxY = max(maxY, 1.2*Max(func() []float64 {
			var ys []float64
			for _, xy := range serfXYs {
				ys = append(ys, xy.Y)
			}
			return ys
		}()))
	}
	headroom(p, maxY)
	return p.Save(20*vg.Centimeter, 12*vg.Centimeter, file)
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
