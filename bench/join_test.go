package bench

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseJoinStyles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []JoinStyle
		err  string
	}{
		{in: "", want: []JoinStyle{JoinStart}},
		{in: "start", want: []JoinStyle{JoinStart}},
		{in: "cli", want: []JoinStyle{JoinCLI}},
		{in: "start, cli", want: []JoinStyle{JoinStart, JoinCLI}},
		{in: "cli,start", want: []JoinStyle{JoinCLI, JoinStart}},
		{in: "start,join", err: `join style "join"`},
		{in: "cli,cli", err: "given twice"},
		{in: "start,", err: `join style ""`},
	} {
		got, err := ParseJoinStyles(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseJoinStyles(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseJoinStyles(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSetup(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Setup
		ok   bool
	}{
		{"vigil-lan", Setup{Vigil, "lan"}, true},
		{" serf-local ", Setup{Serf, "local"}, true},
		{"vigil-", Setup{}, false},
		{"consul-lan", Setup{}, false},
		{"vigil", Setup{}, false},
	} {
		got, err := ParseSetup(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSetup(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSummarizeJoin(t *testing.T) {
	runs := []JoinRun{
		{Setup: "vigil-lan", Style: JoinStart, N: 50, Run: 1, ConvergedMS: 1500, RejoinMS: 800},
		{Setup: "vigil-lan", Style: JoinCLI, N: 50, Run: 1, ConvergedMS: 5001, RejoinMS: 5000},
		{Setup: "vigil-lan", Style: JoinStart, N: 50, Run: 2, ConvergedMS: nan, RejoinMS: nan},
		{Setup: "vigil-lan", Style: JoinStart, N: 100, Run: 1, ConvergedMS: 4999, RejoinMS: 700},
		{Setup: "vigil-lan", Style: JoinStart, N: 50, Run: 3, ConvergedMS: 5000, RejoinMS: 6000},
	}
	got := SummarizeJoin(runs, 5*time.Second)
	want := []JoinSummary{
		{Setup: "vigil-lan", Style: JoinStart, N: 50, Runs: 3, Converged: 2, Rejoined: 1,
			ConvergedS: []Num{1.5, nan, 5}, RejoinS: []Num{0.8, nan, 6}},
		{Setup: "vigil-lan", Style: JoinCLI, N: 50, Runs: 1, Converged: 0, Rejoined: 1,
			ConvergedS: []Num{5.001}, RejoinS: []Num{5}},
		{Setup: "vigil-lan", Style: JoinStart, N: 100, Runs: 1, Converged: 1, Rejoined: 1,
			ConvergedS: []Num{4.999}, RejoinS: []Num{0.7}},
	}
	if len(got) != len(want) {
		t.Fatalf("SummarizeJoin: %d groups, want %d: %+v", len(got), len(want), got)
	}
	same := func(a, b []Num) bool {
		return slices.EqualFunc(a, b, func(x, y Num) bool {
			return x.OK() == y.OK() && (!x.OK() || math.Abs(float64(x-y)) < 1e-9)
		})
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Setup != w.Setup || g.Style != w.Style || g.N != w.N || g.Runs != w.Runs || g.Converged != w.Converged ||
			g.Rejoined != w.Rejoined || !same(g.ConvergedS, w.ConvergedS) || !same(g.RejoinS, w.RejoinS) {
			t.Errorf("group %d = %+v, want %+v", i, g, w)
		}
	}
	table := JoinTable(got, 5*time.Second)
	for _, line := range []string{
		"| Setup | Join | N | Runs | Converged within 5 s | Rejoined within 5 s | Converged (s), each run | Rejoin (s), each run |",
		"| vigil-lan | start | 50 | 3 | 2 | 1 | 1.50 – 5.00 | 0.80 – 6.00 |",
		"| vigil-lan | cli | 50 | 1 | 0 | 1 | 5.00 | 5.00 |",
		"| vigil-lan | start | 100 | 1 | 1 | 1 | 5.00 | 0.70 |",
	} {
		if !strings.Contains(table, line+"\n") {
			t.Errorf("JoinTable lacks the line\n%s\nin\n%s", line, table)
		}
	}
}

// TestJoinRunJSON checks that a run's style and figures survive join.json,
// with a run that did not converge as null.
func TestJoinRunJSON(t *testing.T) {
	in := JoinRun{Setup: "serf-local", Style: JoinCLI, N: 100, Run: 2, ConvergedMS: 1234.5678, RejoinMS: nan, ChurnMS: nan,
		Last: "serf-07", RejoinNote: "not converged"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"style":"cli"`) || !strings.Contains(string(b), `"rejoin_ms":null`) {
		t.Errorf("join.json entry %s lacks the style or a null rejoin", b)
	}
	var out JoinRun
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Style != JoinCLI || out.ConvergedMS != 1234.568 || out.RejoinMS.OK() || out.Last != "serf-07" {
		t.Errorf("round trip: %+v", out)
	}
}
