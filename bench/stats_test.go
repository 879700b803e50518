package bench

import (
	"encoding/json"
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{3, 1, 2}, 50, 2},      // unsorted input
		{[]float64{1, 2, 3, 4}, 50, 2.5}, // between the two middle ranks
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9.1},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 100, 10},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0, 1},
	} {
		if got := Percentile(tc.xs, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) || !math.IsNaN(Mean(nil)) || !math.IsNaN(Max(nil)) {
		t.Error("an empty sample must give NaN (nothing measured)")
	}
	if Mean([]float64{1, 2, 6}) != 3 || Max([]float64{1, 7, 3}) != 7 {
		t.Error("Mean or Max")
	}
}

func TestNum(t *testing.T) {
	for _, tc := range []struct {
		n         Num
		json, csv string
		fmt1      string
		measured  bool
	}{
		{Num(1.23456), "1.235", "1.235", "1.2", true},
		{Num(2), "2", "2", "2.0", true},
		{nan, "null", "", "–", false},
	} {
		b, err := json.Marshal(tc.n)
		if err != nil || string(b) != tc.json || tc.n.CSV() != tc.csv || tc.n.Fmt(1) != tc.fmt1 || tc.n.OK() != tc.measured {
			t.Errorf("%v: json %s (%v), csv %q, fmt %q, ok %v", float64(tc.n), b, err, tc.n.CSV(), tc.n.Fmt(1), tc.n.OK())
		}
		var back Num
		if err := json.Unmarshal(b, &back); err != nil || back.OK() != tc.measured {
			t.Errorf("%s read back as %v (%v)", b, float64(back), err)
		}
	}
}

// TestTheoryFor: memberlist's detection floor, ProbeInterval +
// SuspicionMult × max(1, log10 N) × ProbeInterval, from the profiles.
func TestTheoryFor(t *testing.T) {
	for _, tc := range []struct {
		profile string
		n       int
		floorMS float64
	}{
		{"local", 5, 1000 + 3*1*1000},   // DefaultLocalConfig: 1 s probes, SuspicionMult 3
		{"local", 100, 1000 + 3*2*1000}, // log10(100) = 2
		{"lan", 5, 1000 + 4*1*1000},     // DefaultLANConfig: SuspicionMult 4
	} {
		th := TheoryFor(tc.profile, tc.n)
		if math.Abs(float64(th.FloorMS)-tc.floorMS) > 1e-6 {
			t.Errorf("%s N=%d: floor %v ms, want %v", tc.profile, tc.n, float64(th.FloorMS), tc.floorMS)
		}
	}
	if TheoryFor("nonesuch", 5).FloorMS.OK() {
		t.Error("an unknown profile must give no floor")
	}
}

// TestSummarize: trials group by setup and N, in the report's order, and
// only complete trials count for the last survivor's percentiles.
func TestSummarize(t *testing.T) {
	trials := []DetectTrial{
		{Setup: "serf-local", N: 5, FirstMS: 900, LastMS: 1000, RejoinMS: 200},
		{Setup: "vigil-local", N: 5, FirstMS: 500, LastMS: 600, RejoinMS: 100},
		{Setup: "vigil-local", N: 5, FirstMS: 700, LastMS: nan, RejoinMS: nan},
		{Setup: "vigil-local", N: 20, FirstMS: 800, LastMS: 900, RejoinMS: 300},
	}
	sums := Summarize(trials)
	if len(sums) != 3 || sums[0].Setup != "vigil-local" || sums[0].N != 5 || sums[1].Setup != "serf-local" || sums[2].N != 20 {
		t.Fatalf("summaries out of order: %+v", sums)
	}
	v := sums[0]
	if v.Trials != 2 || v.Complete != 1 || v.FirstP50 != 600 || v.LastP50 != 600 || v.LastMax != 600 || v.RejoinP50 != 100 {
		t.Errorf("vigil-local N=5: %+v", v)
	}
	if !v.FloorMS.OK() {
		t.Errorf("no theory floor for vigil-local: %+v", v)
	}
}
