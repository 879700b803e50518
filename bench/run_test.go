package bench

import (
	"fmt"
	"strings"
	"testing"
)

// TestLargestStable: the largest scale size at which a setup was stable
// alone is the last of an unbroken run of stable sizes from the smallest;
// a cluster that did not start (no row) or any false failure ends it;
// rows of other phases do not count; ScaleOnly limits the setups.
func TestLargestStable(t *testing.T) {
	row := func(setup string, n, ff int) Stability {
		return Stability{Setup: setup, N: n, Phase: fmt.Sprintf("scale N=%d %s", n, setup), FalseFailures: ff}
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		rows []Stability
		want string // "setup largest [false failures]" per setup
	}{
		{"every size stable", Config{ScaleNs: []int{200, 100, 150}},
			[]Stability{row("vigil-local", 100, 0), row("vigil-local", 150, 0), row("vigil-local", 200, 0),
				row("serf-local", 100, 0), row("serf-local", 150, 0), row("serf-local", 200, 0)},
			"[serf-local 200 [0 0 0] vigil-local 200 [0 0 0]]"},
		{"a false failure at 150 ends it, 200 stable or not", Config{ScaleNs: []int{100, 150, 200}},
			[]Stability{row("vigil-local", 100, 0), row("vigil-local", 150, 3), row("vigil-local", 200, 0),
				row("serf-local", 100, 0), row("serf-local", 150, 0)},
			"[serf-local 150 [0 0 -1] vigil-local 100 [0 3 0]]"},
		{"the smallest not stable: none", Config{ScaleNs: []int{100, 200}},
			[]Stability{row("vigil-local", 100, 1), row("vigil-local", 200, 0)},
			"[serf-local 0 [-1 -1] vigil-local 0 [1 0]]"},
		{"a comparison phase's row is not the scale phase's", Config{ScaleNs: []int{100}},
			[]Stability{{Setup: "vigil-local", N: 100, Phase: "N=100 vigil-local vs serf-local"}},
			"[serf-local 0 [-1] vigil-local 0 [-1]]"},
		{"scale setups limited to vigil-local", Config{ScaleNs: []int{200}, ScaleOnly: []string{"vigil-local"}},
			[]Stability{row("vigil-local", 200, 0)},
			"[vigil-local 200 [0]]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, st := range LargestStable(&Results{Config: tt.cfg, Stability: tt.rows}) {
				got = append(got, fmt.Sprintf("%s %d %v", st.Setup, st.Largest, st.FalseFailures))
			}
			if fmt.Sprint(got) != tt.want {
				t.Errorf("LargestStable = %v, want %s", got, tt.want)
			}
		})
	}
}

// TestPairSetups: the comparison phases run vigil and serf agent with the
// configured profile, local by default.
func TestPairSetups(t *testing.T) {
	for _, tt := range []struct{ profile, vigil, serf string }{
		{"", "vigil-local", "serf-local"},
		{"lan", "vigil-lan", "serf-lan"},
	} {
		v, s := Config{Profile: tt.profile}.pairSetups()
		if v.Name() != tt.vigil || s.Name() != tt.serf {
			t.Errorf("profile %q: %s and %s, want %s and %s", tt.profile, v.Name(), s.Name(), tt.vigil, tt.serf)
		}
	}
}

// TestRunFollowsPlan: Run walks the plan's phases in Plan's order, one
// runPhase each, whatever it skips; a skipped phase keeps no time and a
// phase run (the in-process hook dispatch here) records its time, its
// load sample and its results.
func TestRunFollowsPlan(t *testing.T) {
	cfg := QuickConfig()
	cfg.Ns, cfg.ScaleNs, cfg.HookSamples = []int{5, 20}, []int{10, 30}, 3
	cfg.Skip = []string{"pair", "fast", "http", "scale"}
	r := &Runner{Env: &Env{}, Cfg: cfg, Res: &Results{}}
	r.Run()
	plan := cfg.Plan()
	if r.next != len(plan) {
		t.Fatalf("Run ran %d phases, the plan has %d", r.next, len(plan))
	}
	for i, b := range r.Res.Budget {
		if b.Phase != plan[i].Phase {
			t.Errorf("budget row %d is %q, the plan's %q", i, b.Phase, plan[i].Phase)
		}
		if ran := i == 0; b.ActualS.OK() != ran {
			t.Errorf("phase %q: took %s s, want a time only for the hook phase", b.Phase, b.ActualS.Fmt(0))
		}
	}
	if len(r.Res.Hook) != 3 {
		t.Errorf("%d hook latency rows, want builtin, argv and shell", len(r.Res.Hook))
	}
	var phases []string
	for _, l := range r.Res.Load {
		phases = append(phases, l.Phase)
	}
	if want := plan[0].Phase + " end"; strings.Join(phases, " ") != want {
		t.Errorf("load sampled in %q, want %q", phases, want)
	}
}

// TestScaleOrder: the scale phase runs its setups one after the other,
// the order alternating between sizes, as Plan budgets them.
func TestScaleOrder(t *testing.T) {
	cfg := Config{ScaleNs: []int{100, 150, 200}}
	var got []string
	for si := range cfg.ScaleNs {
		for _, s := range cfg.scaleOrder(si) {
			got = append(got, s.Name())
		}
	}
	if want := "serf-local vigil-local vigil-local serf-local serf-local vigil-local"; strings.Join(got, " ") != want {
		t.Errorf("scale order %v, want %s", got, want)
	}
	var planned []string
	for _, b := range cfg.Plan() {
		if p, ok := strings.CutPrefix(b.Phase, "scale "); ok {
			planned = append(planned, p)
		}
	}
	if want := "N=100 serf-local N=100 vigil-local N=150 vigil-local N=150 serf-local N=200 serf-local N=200 vigil-local"; strings.Join(planned, " ") != want {
		t.Errorf("planned scale phases %v, want %s", planned, want)
	}
}

// TestAlternate: even rounds keep the order, odd ones reverse it, and
// the input is not changed.
func TestAlternate(t *testing.T) {
	xs := []string{"vigil", "serf"}
	for _, tt := range []struct {
		round int
		want  string
	}{{0, "vigil serf"}, {1, "serf vigil"}, {2, "vigil serf"}, {7, "serf vigil"}} {
		if got := strings.Join(alternate(xs, tt.round), " "); got != tt.want {
			t.Errorf("alternate(%v, %d) = %s, want %s", xs, tt.round, got, tt.want)
		}
	}
	if xs[0] != "vigil" {
		t.Errorf("alternate changed its input: %v", xs)
	}
}

// TestTheoryOf: one theory row per profile and size measured, in the
// order first measured.
func TestTheoryOf(t *testing.T) {
	trials := []DetectTrial{{Setup: "vigil-local", N: 5}, {Setup: "serf-local", N: 5}, {Setup: "vigil-fast", N: 5}, {Setup: "vigil-local", N: 20}, {Setup: "vigil-fast", N: 5}}
	var got []string
	for _, th := range theoryOf(trials) {
		got = append(got, fmt.Sprintf("%s/%d/%s", th.Profile, th.N, th.FloorMS.Fmt(0)))
	}
	if want := "local/5/4000 fast/5/1200 local/20/4903"; strings.Join(got, " ") != want {
		t.Errorf("theoryOf = %v, want %s", got, want)
	}
}
