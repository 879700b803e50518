package bench

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/benchmarks.md from docs/benchmarks/results.json and the hand-written sections")

// renderDoc renders docs/benchmarks.md as scripts/bench would from the
// results the last run recorded (docs/benchmarks/results.json) and the
// hand-written prose in docs/benchmarks/.
func renderDoc(t *testing.T) string {
	t.Helper()
	return renderChanged(t, nil)
}

// renderChanged is renderDoc with the results and prose changed by change
// (when not nil) before the rendering.
func renderChanged(t *testing.T, change func(*Results, *Prose)) string {
	t.Helper()
	b, err := os.ReadFile("../docs/benchmarks/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	prose, err := LoadProse("../docs/benchmarks")
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(&res, &prose)
	}
	md, err := Markdown(&res, Summarize(res.Detection), "benchmarks", prose)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// TestReportMatchesDoc: docs/benchmarks.md is, byte for byte, what the
// report code renders from docs/benchmarks/results.json with
// docs/benchmarks/analysis.md and the hand-written sections of
// docs/benchmarks/handwritten/ in their places: the report code and the
// published page agree, so neither drifts from the numbers, and a full
// scripts/bench run keeps every hand-written section. After editing a
// hand-written section: go test ./bench/ -run TestReportMatchesDoc -update.
func TestReportMatchesDoc(t *testing.T) {
	md := renderDoc(t)
	if *update {
		if err := os.WriteFile("../docs/benchmarks.md", []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile("../docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) == md {
		return
	}
	have, want := strings.Split(string(doc), "\n"), strings.Split(md, "\n")
	for i := 0; i < max(len(have), len(want)); i++ {
		h, w := "(end of file)", "(end of file)"
		if i < len(have) {
			h = have[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if h != w {
			t.Fatalf("docs/benchmarks.md is not what the report renders (go test ./bench/ -run TestReportMatchesDoc -update rewrites it); line %d is\n%s\nwant\n%s", i+1, h, w)
		}
	}
}

// TestReportHandwrittenSections: every hand-written section file is in the
// rendered page once, right after the generated section its directory
// names (the generated heading is the nearest "## " heading before it
// that no hand-written file holds).
func TestReportHandwrittenSections(t *testing.T) {
	md := renderDoc(t)
	dirs, err := filepath.Glob("../docs/benchmarks/" + HandwrittenDir + "/after-*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no hand-written sections found (%v)", err)
	}
	handHeadings := map[string]bool{}
	files, _ := filepath.Glob("../docs/benchmarks/" + HandwrittenDir + "/after-*/*.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "## ") {
				handHeadings[l] = true
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimRight(string(b), "\n")
		if n := strings.Count(md, text); n != 1 {
			t.Errorf("%s is in the page %d times, want 1", f, n)
			continue
		}
		before := strings.Split(md[:strings.Index(md, text)], "\n")
		generated := ""
		for i := len(before) - 1; i >= 0; i-- {
			if strings.HasPrefix(before[i], "## ") && !handHeadings[before[i]] {
				generated = strings.TrimPrefix(before[i], "## ")
				break
			}
		}
		if want := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "after-"); Anchor(generated) != want {
			t.Errorf("%s follows the generated section %q (anchor %q), want the one of anchor %q", f, generated, Anchor(generated), want)
		}
	}
}

// TestReportLinksResolve: every relative link of docs/benchmarks.md, the
// hand-written sections' included, names a file that exists, seen from
// docs/ where the page is rendered, and a heading of that file (or of the
// page) when it has an anchor.
func TestReportLinksResolve(t *testing.T) {
	md := renderDoc(t)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := func(text string) map[string]bool {
		a := map[string]bool{}
		for _, l := range strings.Split(text, "\n") {
			if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
				a[Anchor(h)] = true
			}
		}
		return a
	}
	n := 0
	for _, m := range link.FindAllStringSubmatch(md, -1) {
		target := m[1]
		if strings.Contains(target, "://") {
			continue
		}
		n++
		file, frag, _ := strings.Cut(target, "#")
		text := md
		if file != "" {
			b, err := os.ReadFile(filepath.Join("../docs", file))
			if err != nil {
				if fi, serr := os.Stat(filepath.Join("../docs", file)); serr == nil && fi.IsDir() {
					continue
				}
				t.Errorf("link %s: %v", target, err)
				continue
			}
			text = string(b)
		}
		if frag != "" && (file == "" || strings.HasSuffix(file, ".md")) {
			if !anchors(text)[frag] {
				t.Errorf("link %s: no heading with the anchor %q", target, frag)
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d relative links, want the page's (at least 10)", n)
	}
}

// TestAnchor pins the heading-to-anchor rule the hand-written sections'
// directories are named by.
func TestAnchor(t *testing.T) {
	for _, c := range []struct{ heading, want string }{
		{"Join convergence", "join-convergence"},
		{"Failure detection → hook", "failure-detection--hook"},
		{"Hook dispatch inside vigil", "hook-dispatch-inside-vigil"},
		{"Footprint: the binary", "footprint-the-binary"},
		{"`confirm_failures`", "confirm_failures"},
		{"Scale alone (issue 13)", "scale-alone-issue-13"},
	} {
		if got := Anchor(c.heading); got != c.want {
			t.Errorf("Anchor(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}

// TestLoadProseRejects: a hand-written file the page would not show is an
// error, not a silently dropped section.
func TestLoadProseRejects(t *testing.T) {
	for _, c := range []struct{ name, path string }{
		{"unknown section", "handwritten/after-no-such-section/10-x.md"},
		{"no after- prefix", "handwritten/join-convergence/10-x.md"},
		{"file outside a section directory", "handwritten/10-x.md"},
		{"not Markdown", "handwritten/after-join-convergence/10-x.txt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, c.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("## X\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadProse(dir); err == nil {
				t.Errorf("LoadProse accepted %s", c.path)
			}
		})
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "handwritten", "after-footprint"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"handwritten/README.md": "rules\n", "handwritten/after-footprint/20-b.md": "## B\n", "handwritten/after-footprint/10-a.md": "## A\n\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := LoadProse(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Sections["footprint"], "|"); got != "## A\n\n|## B\n" || p.Analysis != "" {
		t.Errorf("LoadProse = %+v, want footprint's A then B and no analysis", p)
	}
}

// TestMarkdownVariants renders the recorded results changed the way other
// runs differ (a quick run, a quiet machine, the scale phase alone, no
// microbenchmarks, notes or analysis, a hand-written section) and checks
// the lines each change must add or take away.
func TestMarkdownVariants(t *testing.T) {
	for _, c := range []struct {
		name      string
		change    func(*Results, *Prose)
		want, not []string
	}{
		{"as recorded", func(*Results, *Prose) {},
			[]string{"| vigil | 969da55 |",
				"| Phase | Planned (s) | Took (s) | 1-min load at its start |", "## Notes from the run", "## Analysis", "| events | BenchmarkDispatchFanout/hooks=1-2 | 719174 | 1431 ns/op, 1431 ns/hook-run, 1587 B/op, 6 allocs/op |",
				"| serf RPC members | 50 | 4 | 59637 | 0 | 11923 | 0.266 | 1.695 | 7.86 | – |"},
			[]string{"> **Quick run** (`-quick`): few trials and short windows; a smoke test of the harness, not a measurement.", "Not run.", "> The machine was shared and did not get quiet (1-minute load < 1.0) before the run: the numbers below were taken under load. Absolute latencies and CPU are pessimistic; the vigil/serf comparisons are fair since both ran alternately in the same conditions."}},
		{"quick run on a busy machine", func(r *Results, _ *Prose) { r.Config.Quick, r.Quiet, r.VigilCommit, r.QuietWaitS = true, false, "", 33 },
			[]string{"> **Quick run** (`-quick`): few trials and short windows; a smoke test of the harness, not a measurement.", "| Load during the run | 1-minute load average: at start 0.82, median 0.68, max 1006.81 over 23 samples (waited 33 s for a quiet machine) — the load includes the run's own agents |", "> The machine was shared and did not get quiet (1-minute load < 1.0) before the run: the numbers below were taken under load. Absolute latencies and CPU are pessimistic; the vigil/serf comparisons are fair since both ran alternately in the same conditions."},
			[]string{"| vigil | 969da55 |"}},
		{"nothing optional", func(r *Results, p *Prose) {
			r.Budget, r.Load, r.Micro, r.Notes, p.Analysis, p.Sections = nil, nil, nil, nil, "", nil
		},
			[]string{"Not run.", "| Load during the run | – |"},
			[]string{"| Phase | Planned (s) | Took (s) | 1-min load at its start |", "## Notes from the run", "## Analysis", "## Scale alone (issue 13)"}},
		{"scale alone, short windows", func(r *Results, _ *Prose) {
			r.Config.ScaleAlone, r.Config.ScaleNs, r.Config.ScaleWindow, r.Config.FastLongWindow = true, []int{10, 20}, time.Minute, time.Minute
			r.Stability = append(r.Stability, Stability{Setup: "vigil-local", N: 10, Phase: "scale N=10"}, Stability{Setup: "vigil-local", N: 20, Phase: "scale N=20"},
				Stability{Setup: "serf-local", N: 10, Phase: "scale N=10", FalseFailures: 2, Details: []string{"serf-01 reported serf-02 failed", "serf-03 reported serf-02 failed"}})
		},
			[]string{"| vigil-local alone at N=20: 0 false failures (1m0s quiet window); largest stable N | false failures: N=10 0, N=20 0; largest stable N=20 | **yes** |",
				"| serf-local alone at N=20: 0 false failures (1m0s quiet window); largest stable N | false failures: N=10 2, N=20 did not start; largest stable none | **no** |",
				"- serf-local N=10 (scale N=10): serf-01 reported serf-02 failed; serf-03 reported serf-02 failed",
				"Every cluster counts, over its whole life, the `member-failed` hooks that no kill explains (a report about an agent that was neither killed in a trial nor leaving): *false failures*. The scale phase (N = 10, 20) runs serf-local and vigil-local one after the other, never side by side (at N = 200 two clusters beside each other overloaded the machine), in alternating order between sizes: each gets convergence, 15s idle, a quiet window of 1m0s, then 3 detection trials. The issue asks for 5 minutes at scale and 10 minutes of `fast`; the windows here (1m0s and 1m0s) are shorter."},
			[]string{"| Idle RSS at most 1.2× serf agent's, N=100 | 22.0 MiB vs 17.8 MiB (1.23×) | **no** |"}},
		{"a footprint note and a hand-written section", func(r *Results, p *Prose) {
			r.Footprint[0].Note = "one agent restarted"
			p.Sections = map[string][]string{"footprint": {"## By hand\n\nText.\n"}}
		},
			[]string{"- vigil-local N=5 idle: one agent restarted", "![Idle CPU vs N](benchmarks/cpu_vs_n.png)\n\n## By hand\n\nText.\n\n## Hook dispatch inside vigil\n"},
			nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := "\n" + renderChanged(t, c.change)
			for _, w := range c.want {
				if !strings.Contains(lines, "\n"+w+"\n") {
					t.Errorf("the report lacks\n%s", w)
				}
			}
			for _, w := range c.not {
				if strings.Contains(lines, "\n"+w+"\n") {
					t.Errorf("the report has\n%s", w)
				}
			}
		})
	}
}

// TestReportIdleSettle: the report says how long after convergence the
// idle window started: the recorded pause, or 2 s for results recorded
// before it was one.
func TestReportIdleSettle(t *testing.T) {
	for _, c := range []struct {
		settle time.Duration
		want   string
	}{
		{0, "with nothing happening, started 2 s after convergence;"},
		{30 * time.Second, "with nothing happening, started 30s after convergence;"},
	} {
		got := renderChanged(t, func(r *Results, _ *Prose) { r.Config.IdleSettle = c.settle })
		if !strings.Contains(got, c.want) {
			t.Errorf("IdleSettle %s: the report lacks %q", c.settle, c.want)
		}
	}
	if got := (Config{}).idleSettle(); got != 2*time.Second {
		t.Errorf("idleSettle of a config without one = %s, want 2s", got)
	}
	if got := FullConfig().idleSettle(); got != 30*time.Second {
		t.Errorf("the full run's idleSettle = %s, want 30s", got)
	}
}
