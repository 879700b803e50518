package probes

import (
	"slices"
	"testing"
)

func TestThresholds(t *testing.T) {
	const P, W, C = Passing, Warning, Critical
	tests := []struct {
		name    string
		def     Definition
		results []Status
		want    []Status
	}{
		{
			name:    "defaults: every result applies at once",
			def:     Definition{},
			results: []Status{P, C, W, P, C, C, P},
			want:    []Status{P, C, W, P, C, C, P},
		},
		{
			name:    "initial passing, first failure applies",
			def:     Definition{InitialStatus: P},
			results: []Status{C, P},
			want:    []Status{C, P},
		},
		{
			name: "issue example: 2 to pass, warning after 1, critical after 3",
			def:  Definition{SuccessBeforePassing: 2, FailuresBeforeWarning: 1, FailuresBeforeCritical: 3},
			results: []Status{
				P, P, // passing after the second success
				C, C, C, // warning, warning, critical
				P, P, // critical until the second success
				C, P, C, // a success between failures restarts the count
			},
			want: []Status{C, P, W, W, C, C, P, W, W, W},
		},
		{
			name:    "warning counts as a success",
			def:     Definition{SuccessBeforePassing: 2, FailuresBeforeCritical: 2, InitialStatus: C},
			results: []Status{W, P, C, W, W},
			want:    []Status{C, P, P, P, W},
		},
		{
			name:    "failures_before_warning 0 means the same as failures_before_critical",
			def:     Definition{FailuresBeforeCritical: 3, InitialStatus: P},
			results: []Status{C, C, C, C},
			want:    []Status{P, P, C, C},
		},
		{
			name:    "a success resets the failure count",
			def:     Definition{FailuresBeforeCritical: 2, InitialStatus: P},
			results: []Status{C, P, C, P, C, C},
			want:    []Status{P, P, P, P, P, C},
		},
		{
			name:    "warning step before critical",
			def:     Definition{FailuresBeforeWarning: 2, FailuresBeforeCritical: 4, InitialStatus: P},
			results: []Status{C, C, C, C, P},
			want:    []Status{P, W, W, C, P},
		},
		{
			name:    "success_before_passing holds a warning back too",
			def:     Definition{SuccessBeforePassing: 3, InitialStatus: C},
			results: []Status{W, W, W, P},
			want:    []Status{C, C, W, P},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newThresholds(tt.def.WithDefaults())
			var got []Status
			prev := th.status
			for i, r := range tt.results {
				s, changed := th.observe(r)
				if changed != (s != prev) {
					t.Errorf("result %d (%s): changed = %v going %s -> %s", i, r, changed, prev, s)
				}
				prev = s
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("statuses\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestThresholdsCounters(t *testing.T) {
	th := newThresholds(Definition{SuccessBeforePassing: 5}.WithDefaults())
	for _, r := range []Status{Passing, Warning, Passing} {
		th.observe(r)
	}
	if th.successes != 3 || th.failures != 0 {
		t.Errorf("after 3 successes: successes %d failures %d", th.successes, th.failures)
	}
	th.observe(Critical)
	th.observe(Critical)
	if th.successes != 0 || th.failures != 2 {
		t.Errorf("after 2 failures: successes %d failures %d", th.successes, th.failures)
	}
}

func TestThresholdsSetBypasses(t *testing.T) {
	th := newThresholds(Definition{SuccessBeforePassing: 5, FailuresBeforeCritical: 5}.WithDefaults())
	if s, changed := th.set(Passing); s != Passing || !changed {
		t.Errorf("set(passing) = %s, %v", s, changed)
	}
	if s, changed := th.set(Passing); s != Passing || changed {
		t.Errorf("set(passing) again = %s, %v", s, changed)
	}
	if s, changed := th.set(Critical); s != Critical || !changed {
		t.Errorf("set(critical) = %s, %v", s, changed)
	}
}
