package bench

import (
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
		if err := os.WriteFile(doc, []byte(Markdown(res, sums, filepath.ToSlash(rel), prose)), 0o644); err != nil {
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

// Markdown renders the report, with the hand-written prose in its places.
func Markdown(res *Results, sums []DetectSummary, rel string, prose Prose) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	// after writes the hand-written sections placed after the generated
	// section with this heading.
	after := func(heading string) {
		for _, s := range prose.Sections[Anchor(heading)] {
			w("%s\n\n", strings.TrimRight(s, "\n"))
		}
	}
	analysis := prose.Analysis
	cfg := res.Config
	w("# Benchmarks: vigil against `serf agent`\n\n")
	w("<!-- Generated by scripts/bench (bench/cmd/vigil-bench); edit bench/report.go, not this file. Hand-written sections live in docs/benchmarks/handwritten/ (its README.md says where each goes); scripts/bench keeps them. -->\n\n")
	if cfg.Quick {
		w("> **Quick run** (`-quick`): few trials and short windows; a smoke test of the harness, not a measurement.\n\n")
	}
	w("Both agents run on one machine, on loopback, in the same run, with the same memberlist timing profile ")
	w("(`local`, memberlist's `DefaultLocalConfig`, which is what `serf agent -profile local` and `vigil agent -profile local` both use). ")
	w("vigil's own `fast` profile is reported beside them. serf is serf's own agent, `github.com/hashicorp/serf/cmd/serf@%s`, built with the same Go toolchain as vigil.\n\n", res.SerfVersion)

	w("## The run\n\n")
	w("| | |\n|---|---|\n")
	w("| Command | `%s` |\n", res.Command)
	w("| Started / finished (UTC) | %s / %s |\n", res.Started, res.Finished)
	if res.VigilCommit != "" {
		w("| vigil | %s |\n", res.VigilCommit)
	}
	w("| serf agent | %s |\n", res.SerfVersion)
	m := res.Machine
	w("| Machine | %d cores (%s), %s GiB memory, Linux %s |\n", m.CPUs, m.CPUModel, m.MemGiB, m.Kernel)
	w("| Go | %s |\n", m.GoVersion)
	w("| Load during the run | %s |\n", loadSummary(res))
	w("\n")
	if !res.Quiet {
		w("> The machine was shared and did not get quiet (1-minute load < 1.0) before the run: the numbers below were taken under load. Absolute latencies and CPU are pessimistic; the vigil/serf comparisons are fair since both ran alternately in the same conditions.\n\n")
	}

	if len(res.Budget) > 0 {
		w("| Phase | Planned (s) | Took (s) | 1-min load at its start |\n|---|---|---|---|\n")
		for _, bu := range res.Budget {
			load := "–"
			for _, l := range res.Load {
				if l.Phase == bu.Phase {
					load = fmt.Sprintf("%.2f", l.Load1)
					break
				}
			}
			w("| %s | %s | %s | %s |\n", bu.Phase, bu.PlannedS.Fmt(0), bu.ActualS.Fmt(0), load)
		}
		w("\n")
	}
	after("The run")
	w("## Targets\n\n")
	w("| Target | Measured | Met |\n|---|---|---|\n")
	for _, n := range cfg.Ns {
		v, ok1 := findSum(sums, "vigil-local", n)
		s, ok2 := findSum(sums, "serf-local", n)
		if !ok1 || !ok2 {
			continue
		}
		okFirst := v.FirstP50.OK() && s.FirstP50.OK() && v.FirstP50 <= s.FirstP50
		okLast := v.LastP50.OK() && s.LastP50.OK() && v.LastP50 <= s.LastP50
		w("| Detection → hook at or below serf agent's (p50), `local`, N=%d | first survivor p50 %s s vs %s s; last survivor p50 %s s vs %s s (p90 %s vs %s) | %s |\n",
			n, secs(v.FirstP50), secs(s.FirstP50), secs(v.LastP50), secs(s.LastP50), secs(v.LastP90), secs(s.LastP90), yes(okFirst && okLast))
	}
	for _, n := range cfg.ScaleNs {
		v, ok1 := findSum(sums, "vigil-local", n)
		s, ok2 := findSum(sums, "serf-local", n)
		if ok1 && ok2 {
			okLast := v.LastP50.OK() && s.LastP50.OK() && v.LastP50 <= s.LastP50 && v.FirstP50 <= s.FirstP50
			w("| Detection → hook at or below serf agent's (p50), `local`, N=%d (%d trials) | first p50 %s s vs %s s; last p50 %s s vs %s s | %s |\n",
				n, v.Trials, secs(v.FirstP50), secs(s.FirstP50), secs(v.LastP50), secs(s.LastP50), yes(okLast))
		}
	}
	if cfg.ScaleAlone && len(cfg.ScaleNs) > 0 && !cfg.skip("scale") {
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
			w("| %s alone at N=%d: 0 false failures (%s quiet window); largest stable N | false failures: %s; largest stable %s | %s |\n",
				st.Setup, top, cfg.ScaleWindow, strings.Join(each, ", "), largest, yes(st.Largest == top))
		}
	}
	if f, ok := findSum(sums, "vigil-fast", cfg.FastLongN); ok {
		// Judged on the median, with p90 beside it: the issue asks for
		// "under 2 s" without a percentile; the other targets are medians.
		w("| `fast` detects a killed agent in under 2 s at N=%d (median; p90 shown) | first survivor p50 %s s, p90 %s s; last survivor (every survivor's hook started) p50 %s s, p90 %s s, max %s s (%d/%d trials complete) | %s (p90: %s) |\n",
			cfg.FastLongN, secs(f.FirstP50), secs(f.FirstP90), secs(f.LastP50), secs(f.LastP90), secs(f.LastMax), f.Complete, f.Trials,
			yes(f.LastP50.OK() && f.LastP50 < 2000 && f.Complete == f.Trials), yesno(f.LastP90.OK() && f.LastP90 < 2000))
	}
	for _, st := range res.Stability {
		if st.Setup == "vigil-fast" && st.N == cfg.FastLongN {
			w("| `fast`: no false failure in a long run at N=%d | %d false member-failed reports over the cluster's %.0f s (of which a %.0f s quiet window; the issue asks 10 min) | %s |\n",
				st.N, st.FalseFailures, float64(st.LifeS), float64(st.QuietS), yes(st.FalseFailures == 0))
		}
	}
	for _, h := range res.Hook {
		if h.Kind == "builtin" {
			continue
		}
		w("| Hook dispatch p99 under 5 ms (%s) | p50 %s ms, p99 %s ms | %s |\n", h.Command, h.P50MS.Fmt(2), h.P99MS.Fmt(2), yes(h.P99MS.OK() && h.P99MS < 5))
	}
	allNs := append(slices.Clone(cfg.Ns), cfg.ScaleNs...)
	for _, n := range allNs {
		v, ok1 := idleOf(res.Footprint, "vigil-local", n)
		s, ok2 := idleOf(res.Footprint, "serf-local", n)
		if !ok1 || !ok2 {
			continue
		}
		w("| Idle RSS at most 1.2× serf agent's, N=%d | %s MiB vs %s MiB (%s) | %s |\n", n, v.RSSMiB.Fmt(1), s.RSSMiB.Fmt(1), ratio(v.RSSMiB, s.RSSMiB),
			yes(v.RSSMiB.OK() && s.RSSMiB.OK() && float64(v.RSSMiB) <= 1.2*float64(s.RSSMiB)))
		w("| Idle CPU no higher than serf agent's, N=%d | %s%% vs %s%% of a core (%s; resolution ±%.2f%%) | %s |\n", n, v.CPUPct.Fmt(2), s.CPUPct.Fmt(2), ratio(v.CPUPct, s.CPUPct),
			100/clockTicks/float64(v.WindowS)/math.Sqrt(float64(max(1, v.Agents))), yes(v.CPUPct.OK() && s.CPUPct.OK() && float64(v.CPUPct) <= float64(s.CPUPct)+cpuTolerance))
	}
	w("\n")

	after("Targets")
	w("## Failure detection → hook\n\n")
	w("One agent is killed with `kill -9`; each survivor's `member-failed` hook (the same script for both agents: it runs `date +%%s%%N` first, then appends `TIME SELF MEMBER`) marks when it started. ")
	w("Latency is from the `kill` to the first and to the last survivor's hook start. vigil runs `-hook member-failed=SCRIPT`, serf `-event-handler member-failed=SCRIPT`. ")
	w("One cluster per setup and N is reused: after each trial the victim is restarted under the same name and the next trial waits until every agent sees all N alive again (rejoin). ")
	w("vigil-local and serf-local clusters are up at the same time and their trials alternate (vigil, serf, serf, vigil, ...); vigil-fast runs on its own afterwards. ")
	w("vigil's failover guards are turned off (`failover: {flap_limit: 1000000, brake_fraction: 1}`): by default they hold `member-failed` hooks of a member that flaps more than 3 times in 10 minutes or when more than half the cluster fails within 30 s, which this kill-and-restart loop does by design; serf agent has no such guards. ")
	w("*Complete*: trials in which every survivor's hook ran within %s. Percentiles of *last* use complete trials only. ", cfg.DetectTimeout)
	w("Theory floor: memberlist's ProbeInterval + SuspicionMult × max(1, log10 N) × ProbeInterval.\n\n")
	w("| Setup | N | Trials | Complete | First p50 (s) | First p90 (s) | Last p50 (s) | Last p90 (s) | Last max (s) | Theory floor (s) | Rejoin p50 (s) |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		w("| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", s.Setup, s.N, s.Trials, s.Complete, secs(s.FirstP50), secs(s.FirstP90),
			secs(s.LastP50), secs(s.LastP90), secs(s.LastMax), secs(s.FloorMS), secs(s.RejoinP50))
	}
	w("\n![Detection latency vs N](%s/detection_vs_n.png)\n\n", rel)
	w("Every trial: [detection.csv](%s/detection.csv); summary: [detection_summary.csv](%s/detection_summary.csv).\n\n", rel, rel)

	after("Failure detection → hook")
	w("## Join convergence\n\n")
	w("From the launch of the first agent (the seed) until every agent's member list shows all N alive. The seed starts first; when its API answers, the other N−1 are launched at once, each joining through the seed (vigil `-join`, serf `-retry-join -retry-interval 1s`). Polled every 100 ms through each agent's API (vigil `GET /v1/members?status=alive`, serf's RPC `members-filtered`).\n\n")
	w("| Setup | N | Converged (s) | Phase |\n|---|---|---|---|\n")
	for _, c := range res.Convergence {
		w("| %s | %d | %s | %s |\n", c.Setup, c.N, secs(c.MS), c.Phase)
	}
	w("\n")

	after("Join convergence")
	w("## Footprint\n\n")
	w("Per agent: VmRSS from `/proc/PID/status` sampled every second and averaged; CPU is utime+stime from `/proc/PID/stat` over the window, as a percentage of one core (resolution: one 10 ms clock tick per window). ")
	w("*idle*: %s with nothing happening, started 2 s after convergence; in the comparison phases the vigil-local and serf-local clusters are measured in the same window. ", cfg.IdleWindow)
	w("*churn*: for %s, every %s one agent (a different one each time) leaves gracefully (SIGINT, which makes both agents leave the cluster) and starts again; the agents that were not churned are measured. ", cfg.ChurnWindow, cfg.ChurnPeriod)
	w("*Failed on leave* counts `member-failed` hooks run about an agent that was leaving gracefully.\n\n")
	w("| Setup | N | Mode | Window (s) | Agents | RSS (MiB) | RSS max (MiB) | CPU (%% core) | CPU max (%%) | Cycles | Failed on leave |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	fs := slices.Clone(res.Footprint)
	slices.SortStableFunc(fs, func(a, b Footprint) int {
		if a.Mode != b.Mode {
			return strings.Compare(b.Mode, a.Mode)
		}
		if a.N != b.N {
			return a.N - b.N
		}
		return setupOrder(a.Setup, b.Setup)
	})
	for _, f := range fs {
		cyc, fol := "", ""
		if f.Mode == "churn" {
			cyc, fol = itoa(f.Cycles), itoa(f.FailedOnLeave)
		}
		w("| %s | %d | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", f.Setup, f.N, f.Mode, f.WindowS.Fmt(0), f.Agents, f.RSSMiB.Fmt(1), f.RSSMaxMiB.Fmt(1),
			f.CPUPct.Fmt(2), f.CPUMaxPct.Fmt(2), cyc, fol)
	}
	for _, f := range fs {
		if f.Note != "" {
			w("\n- %s N=%d %s: %s", f.Setup, f.N, f.Mode, f.Note)
		}
	}
	w("\n\n![Idle RSS vs N](%s/rss_vs_n.png)\n\n![Idle CPU vs N](%s/cpu_vs_n.png)\n\n", rel, rel)

	after("Footprint")
	w("## Hook dispatch inside vigil\n\n")
	w("Measured in-process (`bench.MeasureHookLatency`): a real `hook.Runner` (events/hook) with one hook; events are handed to `Runner.Dispatch` one at a time, as the agent does the moment serf reports one, and the time runs until the hook has started. ")
	w("For process hooks the hook is `date +%%s%%N`, which prints the wall-clock time at which it runs: the latency includes the runner's queue, building the environment and stdin, fork/exec and the dynamic loader. ")
	w("*argv* runs it directly (a `command:` hook); *shell* through `/bin/sh -c` as every `-hook` spec does. *builtin* is an in-process hook (queue and goroutine hand-off only). The machine's other activity adds to the tail.\n\n")
	w("| Hook | Samples | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | Errors |\n|---|---|---|---|---|---|---|\n")
	for _, h := range res.Hook {
		w("| %s | %d | %s | %s | %s | %s | %d |\n", h.Command, h.Samples, h.P50MS.Fmt(3), h.P90MS.Fmt(3), h.P99MS.Fmt(3), h.MaxMS.Fmt(3), h.Errors)
	}
	w("\n")

	after("Hook dispatch inside vigil")
	w("## Local HTTP API\n\n")
	w("A closed-loop Go load generator on loopback, %d keep-alive connections, %s per endpoint, against one agent of a %d-agent vigil cluster (profile `fast`, so that it converges in a second; the API's work does not depend on the profile) started with `-service web:PORT -check-tcp 127.0.0.1:PORT` (a TCP listener the harness opens). ", cfg.HTTPConc, cfg.HTTPDuration, cfg.HTTPN)
	w("For reference, serf agent's RPC `members` call (what `serf members` uses; msgpack over TCP, the nearest thing serf has) against one agent of the %d-agent serf-local cluster, after the vigil cluster was stopped. Load generator, agents and the rest of the cluster share the %d cores.\n\n", cfg.HTTPN, m.CPUs)
	w("| Target | N | Concurrency | Requests | Errors | Requests/s | p50 (ms) | p99 (ms) | max (ms) | Body (B) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, h := range res.HTTP {
		body := itoa(h.BodyBytes)
		if strings.HasPrefix(h.Target, "serf") {
			body = "–"
		}
		w("| %s | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", h.Target, h.N, h.Concurrency, h.Requests, h.Errors, h.RPS.Fmt(0), h.P50MS.Fmt(3), h.P99MS.Fmt(3), h.MaxMS.Fmt(2), body)
	}
	w("\n")

	after("Local HTTP API")
	w("## Scale and stability\n\n")
	w("Every cluster counts, over its whole life, the `member-failed` hooks that no kill explains (a report about an agent that was neither killed in a trial nor leaving): *false failures*. ")
	if cfg.ScaleAlone {
		w("The scale phase (N = %s) runs %s one after the other, never side by side (at N = 200 two clusters beside each other overloaded the machine), in alternating order between sizes: each gets convergence, %s idle, a quiet window of %s, then %d detection trials. ", joinInts(cfg.ScaleNs), scaleNames(cfg), cfg.IdleWindow, cfg.ScaleWindow, cfg.ScaleTrials)
	} else {
		w("The scale phase (N = %s) runs vigil-local and serf-local side by side, like the comparison phases: convergence, %s idle, a quiet window of %s for both, then %d alternating detection trials each. ", joinInts(cfg.ScaleNs), cfg.IdleWindow, cfg.ScaleWindow, cfg.ScaleTrials)
	}
	if cfg.ScaleWindow >= 5*time.Minute && cfg.FastLongWindow >= 10*time.Minute {
		w("The issue asks for 5 minutes at scale and 10 minutes of `fast`: the quiet windows here are %s and %s. A size is stable when its cluster shows no false failure.\n\n", cfg.ScaleWindow, cfg.FastLongWindow)
	} else {
		w("The issue asks for 5 minutes at scale and 10 minutes of `fast`; the windows here (%s and %s) are shorter.\n\n", cfg.ScaleWindow, cfg.FastLongWindow)
	}
	w("| Setup | N | Phase | Cluster life (s) | Quiet window (s) | False failures | Failed on leave |\n|---|---|---|---|---|---|---|\n")
	for _, s := range res.Stability {
		w("| %s | %d | %s | %s | %s | %d | %d |\n", s.Setup, s.N, s.Phase, s.LifeS.Fmt(0), s.QuietS.Fmt(0), s.FalseFailures, s.FailedOnLeave)
	}
	w("\n")
	for _, s := range res.Stability {
		if len(s.Details) > 0 {
			w("- %s N=%d (%s): %s\n", s.Setup, s.N, s.Phase, strings.Join(s.Details, "; "))
		}
	}
	w("\nmemberlist's theory for the profiles at the measured sizes:\n\n")
	w("| Profile | N | Probe interval (ms) | Min suspicion (ms) | Max suspicion (ms) | Floor (ms) |\n|---|---|---|---|---|---|\n")
	th := slices.Clone(res.Theory)
	slices.SortFunc(th, func(a, b Theory) int {
		if a.Profile != b.Profile {
			return strings.Compare(b.Profile, a.Profile)
		}
		return a.N - b.N
	})
	for _, t := range th {
		w("| %s | %d | %s | %s | %s | %s |\n", t.Profile, t.N, t.ProbeInterval.Fmt(0), t.SuspicionMinMS.Fmt(0), t.SuspicionMaxMS.Fmt(0), t.FloorMS.Fmt(0))
	}
	w("\n")

	after("Scale and stability")
	w("## Microbenchmarks\n\n")
	if len(res.Micro) == 0 {
		w("Not run.\n\n")
	} else {
		w("`go test -run '^$' -bench '%s' -benchmem %s` (parsed into [micro.csv](%s/micro.csv)). ", MicroPattern, strings.Join(MicroPackages, " "), rel)
		w("*DispatchFanout*: one `Runner.Dispatch` of a member-failed event to H built-in hooks, waiting until every hook has run it (ns/hook-run is the runner's cost per hook run). ")
		w("*HookStart*: dispatch → `date +%%s%%N` hook process started, one event at a time (p50-ms, p99-ms), directly (argv) and through `/bin/sh -c`. ")
		w("*MembersJSON*, *HealthServiceJSON*: the API handler chain with a fake agent of 50 and 500 members. *EncodedTagsSize*: serf's msgpack size check of a member's tags.\n\n")
		w("| Package | Benchmark | Iterations | Results |\n|---|---|---|---|\n")
		for _, mb := range res.Micro {
			var parts []string
			for _, u := range mb.Units {
				parts = append(parts, fmt.Sprintf("%s %s", fmtMetric(mb.Metrics[u]), u))
			}
			w("| %s | %s | %d | %s |\n", strings.TrimPrefix(mb.Package, "github.com/vigil-agent/vigil/"), mb.Name, mb.Iters, strings.Join(parts, ", "))
		}
		w("\n")
	}

	after("Microbenchmarks")
	if len(res.Notes) > 0 {
		w("## Notes from the run\n\n")
		for _, n := range res.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	after("Notes from the run")
	if strings.TrimSpace(analysis) != "" {
		w("## Analysis\n\n")
		w("*Written by hand after the run from [%s/analysis.md](%s/analysis.md); it quotes that run's numbers.*\n\n", rel, rel)
		w("%s\n\n", strings.TrimSpace(analysis))
	}
	after("Analysis")
	w("## Files\n\n")
	w("All in [%s/](%s/): `results.json` (everything, with the configuration), `detection.csv`, `detection_summary.csv`, `convergence.csv`, `footprint.csv`, `http.csv`, `hook_latency.csv`, `stability.csv`, `micro.csv`, and the plots `detection_vs_n.png`, `rss_vs_n.png`, `cpu_vs_n.png`.\n", rel, rel)
	return b.String()
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
