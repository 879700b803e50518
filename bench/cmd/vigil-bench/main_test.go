package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/bench"
)

// TestParseSizes: comma-separated sizes, spaces allowed, each at least
// the flag's minimum; the error names the flag and its value.
func TestParseSizes(t *testing.T) {
	for _, tt := range []struct {
		value string
		least int
		want  string
	}{
		{"20", 2, "[20]"},
		{"100, 50,20", 2, "[100 50 20]"},
		{"2", 2, "[2]"},
		{"2", 3, `error: -x "2": want cluster sizes of at least 3`},
		{"5,,6", 2, `error: -x "5,,6": want cluster sizes of at least 2`},
		{"five", 2, `error: -x "five": want cluster sizes of at least 2`},
	} {
		got, err := parseSizes("-x", tt.value, tt.least)
		s := fmt.Sprint(got)
		if err != nil {
			s = "error: " + err.Error()
		}
		if s != tt.want {
			t.Errorf("parseSizes(%q, %d) = %s, want %s", tt.value, tt.least, s, tt.want)
		}
	}
}

// TestOptionsConfig: the flags of a targeted run change only what they
// name, on the full run's or -quick's configuration.
func TestOptionsConfig(t *testing.T) {
	full, quick := bench.FullConfig(), bench.QuickConfig()
	for _, tt := range []struct {
		name  string
		o     options
		check func(c bench.Config) string
	}{
		{"no flags: the full run", options{scaleTrials: -1}, func(c bench.Config) string {
			return eq(fmt.Sprint(c), fmt.Sprint(full))
		}},
		{"-quick", options{quick: true, scaleTrials: -1}, func(c bench.Config) string {
			return eq(fmt.Sprint(c), fmt.Sprint(quick))
		}},
		{"-ns without the fast long N moves it to the last size", options{ns: "100,50", trials: 1, scaleTrials: -1}, func(c bench.Config) string {
			return eq(fmt.Sprint(c.Ns, c.FastLongN, c.Trials, c.FastTrials), "[100 50] 50 1 1")
		}},
		{"-ns with the fast long N keeps it", options{ns: "5,20", scaleTrials: -1}, func(c bench.Config) string {
			return eq(fmt.Sprint(c.Ns, c.FastLongN, c.Trials), "[5 20] 20 10")
		}},
		{"scale flags", options{scaleNs: "100", scaleWin: time.Minute, scaleTrials: 0, scaleOnly: "vigil-local", skip: "hook,fast", pairProf: "lan", fastWin: time.Second}, func(c bench.Config) string {
			return eq(fmt.Sprintf("%v %v %v %v %v %s %v", c.ScaleNs, c.ScaleWindow, c.ScaleTrials, c.ScaleOnly, c.Skip, c.Profile, c.FastLongWindow), "[100] 1m0s 0 [vigil-local] [hook fast] lan 1s")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.o.config()
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
	if _, err := (&options{ns: "1", scaleTrials: -1}).config(); err == nil {
		t.Error("-ns 1 accepted")
	}
	if _, err := (&options{scaleNs: "x", scaleTrials: -1}).config(); err == nil {
		t.Error("-scale-ns x accepted")
	}
}

func eq(got, want string) string {
	if got != want {
		return fmt.Sprintf("got %s, want %s", got, want)
	}
	return ""
}

// TestHardLimit: -max-time, else 2 h, 10 minutes with -quick.
func TestHardLimit(t *testing.T) {
	for _, tt := range []struct {
		o    options
		want time.Duration
	}{
		{options{}, 2 * time.Hour},
		{options{quick: true}, 10 * time.Minute},
		{options{quick: true, maxTime: time.Minute}, time.Minute},
		{options{maxTime: 3 * time.Hour}, 3 * time.Hour},
	} {
		if got := tt.o.hardLimit(); got != tt.want {
			t.Errorf("%+v: hard limit %s, want %s", tt.o, got, tt.want)
		}
	}
}

// TestJoinPlan: -join-only's sizes (50 by default, at least 3), setups
// (each needing its binary) and styles.
func TestJoinPlan(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    options
		want string
	}{
		{"defaults", options{joinOnly: "vigil-local", joinStyle: "start", vigilBin: "v"}, "[50] [vigil-local] [start]"},
		{"sizes, setups, styles", options{joinOnly: "vigil-lan,serf-lan", joinStyle: "start,cli", ns: "50,100", vigilBin: "v", serfBin: "s"}, "[50 100] [vigil-lan serf-lan] [start cli]"},
		{"serf without -serf", options{joinOnly: "serf-lan", joinStyle: "start", vigilBin: "v"}, "error: serf-lan needs -serf"},
		{"too small", options{joinOnly: "vigil-lan", joinStyle: "start", vigilBin: "v", ns: "2"}, `error: -ns "2": want cluster sizes of at least 3`},
		{"bad style", options{joinOnly: "vigil-lan", joinStyle: "later", vigilBin: "v"}, `error: -join-style: join style "later": want start or cli`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sizes, setups, styles, err := tt.o.joinPlan()
			var names []string
			for _, s := range setups {
				names = append(names, s.Name())
			}
			got := fmt.Sprint(sizes, names, styles)
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != tt.want {
				t.Errorf("joinPlan = %s, want %s", got, tt.want)
			}
		})
	}
}
