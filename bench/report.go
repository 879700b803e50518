package bench

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// DetectSummary aggregates the detection trials of one setup and N.
type DetectSummary struct {
	Setup  string `json:"setup"`
	N      int    `json:"n"`
	Trials int    `json:"trials"`
	// Complete is how many trials had every survivor's hook run within
	// the trial's timeout.
	Complete  int `json:"complete"`
	FirstP50  Num `json:"first_p50_ms"`
	FirstP90  Num `json:"first_p90_ms"`
	LastP50   Num `json:"last_p50_ms"`
	LastP90   Num `json:"last_p90_ms"`
	LastMax   Num `json:"last_max_ms"`
	RejoinP50 Num `json:"rejoin_p50_ms"`
	// FloorMS is memberlist's ProbeInterval + minimum suspicion timeout.
	FloorMS Num `json:"theory_floor_ms"`
}

var setupRank = map[string]int{"vigil-local": 0, "serf-local": 1, "vigil-fast": 2}

func setupOrder(a, b string) int {
	ra, oka := setupRank[a]
	rb, okb := setupRank[b]
	if !oka {
		ra = 9
	}
	if !okb {
		rb = 9
	}
	if ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}

func orderedSetups(sums []DetectSummary) []string {
	var out []string
	for _, s := range sums {
		if !slices.Contains(out, s.Setup) {
			out = append(out, s.Setup)
		}
	}
	slices.SortFunc(out, setupOrder)
	return out
}

func profileOf(setup string) string {
	_, p, _ := strings.Cut(setup, "-")
	return p
}

// Summarize aggregates detection trials by setup and N.
func Summarize(trials []DetectTrial) []DetectSummary {
	type key struct {
		s string
		n int
	}
	groups := map[key][]DetectTrial{}
	var keys []key
	for _, t := range trials {
		k := key{t.Setup, t.N}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.n != b.n {
			return a.n - b.n
		}
		return setupOrder(a.s, b.s)
	})
	var out []DetectSummary
	for _, k := range keys {
		var first, last, rejoin []float64
		complete := 0
		for _, t := range groups[k] {
			if t.FirstMS.OK() {
				first = append(first, float64(t.FirstMS))
			}
			if t.LastMS.OK() {
				last = append(last, float64(t.LastMS))
				complete++
			}
			if t.RejoinMS.OK() {
				rejoin = append(rejoin, float64(t.RejoinMS))
			}
		}
		out = append(out, DetectSummary{Setup: k.s, N: k.n, Trials: len(groups[k]), Complete: complete,
			FirstP50: Num(Percentile(first, 50)), FirstP90: Num(Percentile(first, 90)),
			LastP50: Num(Percentile(last, 50)), LastP90: Num(Percentile(last, 90)), LastMax: Num(Max(last)),
			RejoinP50: Num(Percentile(rejoin, 50)), FloorMS: TheoryFor(profileOf(k.s), k.n).FloorMS})
	}
	return out
}

func writeCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func itoa(i int) string { return strconv.Itoa(i) }

// WriteOutputs writes the CSV files, the plots and (when doc is set) the
// Markdown report; it returns the files written.
func WriteOutputs(res *Results, outDir, doc string) ([]string, error) {
	var files []string
	put := func(name string, header []string, rows [][]string) error {
		p := filepath.Join(outDir, name)
		files = append(files, p)
		return writeCSV(p, header, rows)
	}
	var rows [][]string
	for _, d := range res.Detection {
		rows = append(rows, []string{d.Setup, itoa(d.N), itoa(d.Trial), d.Victim, d.KillAt, d.FirstMS.CSV(), d.LastMS.CSV(),
			itoa(d.Reported), itoa(d.Expected), d.RejoinMS.CSV(), d.Note})
	}
	if err := put("detection.csv", []string{"setup", "n", "trial", "victim", "kill_at", "first_ms", "last_ms", "reported", "expected", "rejoin_ms", "note"}, rows); err != nil {
		return files, err
	}
	sums := Summarize(res.Detection)
	rows = nil
	for _, s := range sums {
		rows = append(rows, []string{s.Setup, itoa(s.N), itoa(s.Trials), itoa(s.Complete), s.FirstP50.CSV(), s.FirstP90.CSV(),
			s.LastP50.CSV(), s.LastP90.CSV(), s.LastMax.CSV(), s.RejoinP50.CSV(), s.FloorMS.CSV()})
	}
	if err := put("detection_summary.csv", []string{"setup", "n", "trials", "complete", "first_p50_ms", "first_p90_ms", "last_p50_ms", "last_p90_ms", "last_max_ms", "rejoin_p50_ms", "theory_floor_ms"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, c := range res.Convergence {
		rows = append(rows, []string{c.Setup, itoa(c.N), c.MS.CSV(), itoa(c.Respawns), c.Phase})
	}
	if err := put("convergence.csv", []string{"setup", "n", "ms", "respawns", "phase"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, f := range res.Footprint {
		rows = append(rows, []string{f.Setup, itoa(f.N), f.Mode, f.WindowS.CSV(), itoa(f.Agents), f.RSSMiB.CSV(), f.RSSMaxMiB.CSV(),
			f.CPUPct.CSV(), f.CPUMaxPct.CSV(), itoa(f.Cycles), itoa(f.FailedOnLeave)})
	}
	if err := put("footprint.csv", []string{"setup", "n", "mode", "window_s", "agents", "rss_mib", "rss_max_mib", "cpu_pct", "cpu_max_pct", "cycles", "failed_on_leave"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, h := range res.HTTP {
		rows = append(rows, []string{h.Target, itoa(h.N), itoa(h.Concurrency), h.DurationS.CSV(), itoa(h.Requests), itoa(h.Errors),
			h.RPS.CSV(), h.P50MS.CSV(), h.P99MS.CSV(), h.MaxMS.CSV(), itoa(h.BodyBytes)})
	}
	if err := put("http.csv", []string{"target", "n", "concurrency", "duration_s", "requests", "errors", "rps", "p50_ms", "p99_ms", "max_ms", "body_bytes"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, h := range res.Hook {
		rows = append(rows, []string{h.Kind, h.Command, itoa(h.Samples), h.P50MS.CSV(), h.P90MS.CSV(), h.P99MS.CSV(), h.MaxMS.CSV(), itoa(h.Errors)})
	}
	if err := put("hook_latency.csv", []string{"kind", "command", "samples", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, s := range res.Stability {
		rows = append(rows, []string{s.Setup, itoa(s.N), s.Phase, s.LifeS.CSV(), s.QuietS.CSV(), itoa(s.FalseFailures), itoa(s.FailedOnLeave), strings.Join(s.Details, "; ")})
	}
	if err := put("stability.csv", []string{"setup", "n", "phase", "life_s", "quiet_s", "false_failures", "failed_on_leave", "details"}, rows); err != nil {
		return files, err
	}
	rows = nil
	for _, m := range res.Micro {
		for _, u := range m.Units {
			rows = append(rows, []string{m.Package, m.Name, itoa(m.Iters), u, strconv.FormatFloat(m.Metrics[u], 'g', -1, 64)})
		}
	}
	if err := put("micro.csv", []string{"package", "benchmark", "iterations", "unit", "value"}, rows); err != nil {
		return files, err
	}

	for _, pl := range []struct {
		name string
		fn   func(string) error
	}{
		{"detection_vs_n.png", func(p string) error { return plotDetection(sums, p) }},
		{"rss_vs_n.png", func(p string) error { return plotFootprint(res.Footprint, "rss", p) }},
		{"cpu_vs_n.png", func(p string) error { return plotFootprint(res.Footprint, "cpu", p) }},
	} {
		p := filepath.Join(outDir, pl.name)
		if err := pl.fn(p); err != nil {
			return files, fmt.Errorf("%s: %w", pl.name, err)
		}
		files = append(files, p)
	}
	if doc != "" {
		rel, err := filepath.Rel(filepath.Dir(doc), outDir)
		if err != nil {
			rel = outDir
		}
		prose, err := LoadProse(outDir)
		if err != nil {
			return files, err
		}
		md, err := Markdown(res, sums, filepath.ToSlash(rel), prose)
		if err != nil {
			return files, err
		}
		if err := os.WriteFile(doc, []byte(md), 0o644); err != nil {
			return files, err
		}
		files = append(files, doc)
	}
	return files, nil
}

// ratio formats a/b.
func ratio(a, b Num) string {
	if !a.OK() || !b.OK() || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

func yes(ok bool) string {
	if ok {
		return "**yes**"
	}
	return "**no**"
}

// yesno is yes without the emphasis, for a secondary verdict.
func yesno(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func secs(ms Num) string {
	if !ms.OK() {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(ms)/1000)
}

func findSum(sums []DetectSummary, setup string, n int) (DetectSummary, bool) {
	for _, s := range sums {
		if s.Setup == setup && s.N == n {
			return s, true
		}
	}
	return DetectSummary{}, false
}

func idleOf(fs []Footprint, setup string, n int) (Footprint, bool) {
	for _, f := range fs {
		if f.Setup == setup && f.N == n && f.Mode == "idle" {
			return f, true
		}
	}
	return Footprint{}, false
}

// Prose is the hand-written text the report includes beside what it
// generates: the analysis of the last run and sections measured by hand.
type Prose struct {
	// Analysis is analysis.md, rendered as the section "Analysis".
	Analysis string
	// Sections maps the anchor of a generated section (Anchor of its
	// heading) to the hand-written sections placed right after it, in
	// order, each the Markdown of one file.
	Sections map[string][]string
}

// HandwrittenDir is the directory, under the report's output directory,
// of the hand-written sections: a file handwritten/after-ANCHOR/NAME.md is
// placed after the generated section whose anchor is ANCHOR, files in one
// directory in the order of their names.
const HandwrittenDir = "handwritten"

// reportSections are the headings of the report's generated sections
// that hand-written sections can follow, in the order of the page. (The
// page ends with "Files", so nothing follows it.)
var reportSections = []string{
	"The run", "Targets", "Failure detection → hook", "Join convergence", "Footprint",
	"Hook dispatch inside vigil", "Local HTTP API", "Scale and stability", "Microbenchmarks",
	"Notes from the run", "Analysis",
}

// Anchor is the fragment GitHub gives a Markdown heading: lower case,
// punctuation other than '-' and '_' dropped, each space a '-'.
func Anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// LoadProse reads the hand-written text of the report in dir (the
// report's output directory): analysis.md if it exists and the sections
// under HandwrittenDir. A directory there that names no generated
// section, or a file that is not Markdown, is an error, so that no
// section is left out of the page unnoticed.
func LoadProse(dir string) (Prose, error) {
	var p Prose
	if b, err := os.ReadFile(filepath.Join(dir, "analysis.md")); err == nil {
		p.Analysis = string(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("analysis: %w", err)
	}
	known := map[string]bool{}
	for _, h := range reportSections {
		known[Anchor(h)] = true
	}
	root := filepath.Join(dir, HandwrittenDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	} else if err != nil {
		return p, fmt.Errorf("hand-written sections: %w", err)
	}
	for _, e := range entries {
		anchor, ok := strings.CutPrefix(e.Name(), "after-")
		if !e.IsDir() {
			if e.Name() == "README.md" {
				continue
			}
			return p, fmt.Errorf("hand-written sections: %s: want it in a directory after-ANCHOR", filepath.Join(root, e.Name()))
		}
		if !ok || !known[anchor] {
			return p, fmt.Errorf("hand-written sections: %s: want after-ANCHOR, ANCHOR one of the generated sections' anchors (%s)", filepath.Join(root, e.Name()), strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		files, err := os.ReadDir(filepath.Join(root, e.Name()))
		if err != nil {
			return p, fmt.Errorf("hand-written sections: %w", err)
		}
		for _, f := range files { // os.ReadDir sorts by name
			path := filepath.Join(root, e.Name(), f.Name())
			if f.IsDir() || filepath.Ext(f.Name()) != ".md" {
				return p, fmt.Errorf("hand-written sections: %s: want only .md files", path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return p, fmt.Errorf("hand-written sections: %w", err)
			}
			if p.Sections == nil {
				p.Sections = map[string][]string{}
			}
			p.Sections[anchor] = append(p.Sections[anchor], string(b))
		}
	}
	return p, nil
}

//go:embed report.md.tmpl
var reportText string

// reportTemplate renders docs/benchmarks.md from a reportView.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs":  secs,
	"ratio": ratio,
	"yes":   yes,
	"yesno": yesno,
	"join":  strings.Join,
	"after": func(string) string { return "" }, // set by Markdown
}).Parse(reportText))

// reportView is what the report template renders: the run's results and
// what the report derives from them (targets met, rows in the page's
// order), so that the template holds the prose and the tables' layout
// and no arithmetic.
type reportView struct {
	Res *Results
	Cfg Config
	// Rel is the output directory relative to the page.
	Rel  string
	Load string
	// Budget is each phase's plan beside the 1-minute load at its start.
	Budget []budgetRow
	// The Targets table, one field per kind of row.
	Detect      []detectTarget
	ScaleDetect []detectTarget
	ScaleStable []stableTarget
	Fast        *fastTarget
	FastLong    []Stability
	Hooks       []hookTarget
	Idle        []idleTarget

	Sums      []DetectSummary
	Footprint []Footprint
	HTTP      []httpRow
	Theory    []Theory
	Micro     []microRow

	ScaleNs, ScaleNames string
	// LongWindows: the quiet windows are as long as the issue asks.
	LongWindows                 bool
	MicroPattern, MicroPackages string

	Analysis string
	// after maps a generated section's anchor to its hand-written
	// sections (Prose.Sections).
	after map[string][]string
}

type budgetRow struct {
	Budget
	Load string
}

// detectTarget compares vigil's detection (V) with serf agent's (S) at N.
type detectTarget struct {
	N    int
	V, S DetectSummary
	Met  bool
}

type stableTarget struct {
	Setup          string
	Top            int
	Each, LargestN string
	Met            bool
}

type fastTarget struct {
	DetectSummary
	Met, MetP90 bool
}

type hookTarget struct {
	HookLatency
	Met bool
}

// idleTarget compares vigil's idle footprint (V) with serf agent's (S).
type idleTarget struct {
	N              int
	V, S           Footprint
	RSSMet, CPUMet bool
	// Resolution is the CPU measurement's resolution in percent of a core.
	Resolution float64
}

type httpRow struct {
	LoadResult
	Body string
}

type microRow struct {
	Package, Name string
	Iters         int
	Results       string
}

// newReportView derives what the report shows from the results.
func newReportView(res *Results, sums []DetectSummary, rel string, prose Prose) *reportView {
	cfg := res.Config
	v := &reportView{Res: res, Cfg: cfg, Rel: rel, Load: loadSummary(res), Sums: sums,
		ScaleNs: joinInts(cfg.ScaleNs), ScaleNames: scaleNames(cfg),
		LongWindows:  cfg.ScaleWindow >= 5*time.Minute && cfg.FastLongWindow >= 10*time.Minute,
		MicroPattern: MicroPattern, MicroPackages: strings.Join(MicroPackages, " "),
		Analysis: strings.TrimSpace(prose.Analysis), after: prose.Sections}
	for _, bu := range res.Budget {
		load := "–"
		for _, l := range res.Load {
			if l.Phase == bu.Phase {
				load = fmt.Sprintf("%.2f", l.Load1)
				break
			}
		}
		v.Budget = append(v.Budget, budgetRow{bu, load})
	}
	v.Detect, v.ScaleDetect = detectTargets(cfg, sums)
	if cfg.ScaleAlone && len(cfg.ScaleNs) > 0 && !cfg.skip("scale") {
		v.ScaleStable = stableTargets(res)
	}
	if f, ok := findSum(sums, "vigil-fast", cfg.FastLongN); ok {
		// Judged on the median, with p90 beside it: the issue asks for
		// "under 2 s" without a percentile; the other targets are medians.
		v.Fast = &fastTarget{f, f.LastP50.OK() && f.LastP50 < 2000 && f.Complete == f.Trials, f.LastP90.OK() && f.LastP90 < 2000}
	}
	for _, st := range res.Stability {
		if st.Setup == "vigil-fast" && st.N == cfg.FastLongN {
			v.FastLong = append(v.FastLong, st)
		}
	}
	for _, h := range res.Hook {
		if h.Kind != "builtin" {
			v.Hooks = append(v.Hooks, hookTarget{h, h.P99MS.OK() && h.P99MS < 5})
		}
	}
	v.Idle = idleTargets(res)
	v.Footprint = slices.Clone(res.Footprint)
	slices.SortStableFunc(v.Footprint, func(a, b Footprint) int {
		if a.Mode != b.Mode {
			return strings.Compare(b.Mode, a.Mode)
		}
		if a.N != b.N {
			return a.N - b.N
		}
		return setupOrder(a.Setup, b.Setup)
	})
	for _, h := range res.HTTP {
		body := itoa(h.BodyBytes)
		if strings.HasPrefix(h.Target, "serf") {
			body = "–"
		}
		v.HTTP = append(v.HTTP, httpRow{h, body})
	}
	v.Theory = slices.Clone(res.Theory)
	slices.SortFunc(v.Theory, func(a, b Theory) int {
		if a.Profile != b.Profile {
			return strings.Compare(b.Profile, a.Profile)
		}
		return a.N - b.N
	})
	for _, mb := range res.Micro {
		var parts []string
		for _, u := range mb.Units {
			parts = append(parts, fmt.Sprintf("%s %s", fmtMetric(mb.Metrics[u]), u))
		}
		v.Micro = append(v.Micro, microRow{strings.TrimPrefix(mb.Package, "github.com/vigil-agent/vigil/"), mb.Name, mb.Iters, strings.Join(parts, ", ")})
	}
	return v
}

// detectTargets are the Targets rows of detection at or below serf
// agent's: the comparison phase's sizes, then the scale phase's.
func detectTargets(cfg Config, sums []DetectSummary) (pair, scale []detectTarget) {
	for _, n := range cfg.Ns {
		v, ok1 := findSum(sums, "vigil-local", n)
		s, ok2 := findSum(sums, "serf-local", n)
		if !ok1 || !ok2 {
			continue
		}
		okFirst := v.FirstP50.OK() && s.FirstP50.OK() && v.FirstP50 <= s.FirstP50
		okLast := v.LastP50.OK() && s.LastP50.OK() && v.LastP50 <= s.LastP50
		pair = append(pair, detectTarget{n, v, s, okFirst && okLast})
	}
	for _, n := range cfg.ScaleNs {
		v, ok1 := findSum(sums, "vigil-local", n)
		s, ok2 := findSum(sums, "serf-local", n)
		if ok1 && ok2 {
			scale = append(scale, detectTarget{n, v, s, v.LastP50.OK() && s.LastP50.OK() && v.LastP50 <= s.LastP50 && v.FirstP50 <= s.FirstP50})
		}
	}
	return pair, scale
}

// stableTargets are the Targets rows of the scale phase run alone: each
// setup's false failures per size and its largest stable size.
func stableTargets(res *Results) []stableTarget {
	var out []stableTarget
	for _, st := range LargestStable(res) {
		var each []string
		for i, n := range st.Sizes {
			if ff := st.FalseFailures[i]; ff < 0 {
				each = append(each, fmt.Sprintf("N=%d did not start", n))
			} else {
				each = append(each, fmt.Sprintf("N=%d %d", n, ff))
			}
		}
		largest := "none"
		if st.Largest > 0 {
			largest = fmt.Sprintf("N=%d", st.Largest)
		}
		top := slices.Max(st.Sizes)
		out = append(out, stableTarget{st.Setup, top, strings.Join(each, ", "), largest, st.Largest == top})
	}
	return out
}

// idleTargets are the Targets rows of idle RSS and CPU against serf
// agent's, at every size both were measured idle.
func idleTargets(res *Results) []idleTarget {
	var out []idleTarget
	for _, n := range append(slices.Clone(res.Config.Ns), res.Config.ScaleNs...) {
		v, ok1 := idleOf(res.Footprint, "vigil-local", n)
		s, ok2 := idleOf(res.Footprint, "serf-local", n)
		if !ok1 || !ok2 {
			continue
		}
		out = append(out, idleTarget{N: n, V: v, S: s,
			RSSMet:     v.RSSMiB.OK() && s.RSSMiB.OK() && float64(v.RSSMiB) <= 1.2*float64(s.RSSMiB),
			CPUMet:     v.CPUPct.OK() && s.CPUPct.OK() && float64(v.CPUPct) <= float64(s.CPUPct)+cpuTolerance,
			Resolution: 100 / clockTicks / float64(v.WindowS) / math.Sqrt(float64(max(1, v.Agents)))})
	}
	return out
}

// Markdown renders the report (the template report.md.tmpl), with the
// hand-written prose in its places.
func Markdown(res *Results, sums []DetectSummary, rel string, prose Prose) (string, error) {
	v := newReportView(res, sums, rel, prose)
	t, err := reportTemplate.Clone()
	if err != nil {
		return "", err
	}
	// after writes the hand-written sections placed after the generated
	// section with this heading.
	t.Funcs(template.FuncMap{"after": func(heading string) string {
		var b strings.Builder
		for _, s := range v.after[Anchor(heading)] {
			b.WriteString(strings.TrimRight(s, "\n") + "\n\n")
		}
		return b.String()
	}})
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("report template: %w", err)
	}
	return b.String(), nil
}

// fmtMetric prints a benchmark metric without exponents.
func fmtMetric(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// cpuTolerance absorbs float noise when comparing CPU percentages
// computed from whole clock ticks over slightly different windows.
const cpuTolerance = 0.005

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, itoa(x))
	}
	return strings.Join(s, ", ")
}

func loadSummary(res *Results) string {
	if len(res.Load) == 0 {
		return "–"
	}
	var l1 []float64
	for _, l := range res.Load {
		l1 = append(l1, l.Load1)
	}
	s := fmt.Sprintf("1-minute load average: at start %.2f, median %.2f, max %.2f over %d samples", res.Load[0].Load1, Percentile(l1, 50), Max(l1), len(l1))
	if res.QuietWaitS.OK() && res.QuietWaitS > 0 {
		s += fmt.Sprintf(" (waited %.0f s for a quiet machine)", float64(res.QuietWaitS))
	}
	s += " — the load includes the run's own agents"
	return s
}

// scaleNames lists the scale phase's setups in words ("serf-local and
// vigil-local").
func scaleNames(cfg Config) string {
	var names []string
	for _, s := range cfg.scaleSetups() {
		names = append(names, s.Name())
	}
	switch len(names) {
	case 0:
		return "no setup"
	case 1:
		return names[0] + " alone"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
