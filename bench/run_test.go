package bench

import (
	"fmt"
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
