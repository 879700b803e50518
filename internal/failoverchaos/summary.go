package failoverchaos

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary adds up a scenario's trials.
type Summary struct {
	// Scenario and Title name the scenario; Profile is the gossip profile.
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	Profile  string `json:"profile"`
	// Lock is the claim mode: gossip or etcd.
	Lock string `json:"lock"`
	// Trials counts the trials that were not excluded.
	Trials int `json:"trials"`
	// One, Zero and TwoOrMore count the trials with exactly one, zero,
	// and two or more completed runs.
	One       int `json:"exactly_one"`
	Zero      int `json:"zero"`
	TwoOrMore int `json:"two_or_more"`
	// MaxConcurrent is the most runs running at once in any trial.
	MaxConcurrent int `json:"max_concurrent"`
	// FenceViolations counts the trials whose completed runs do not carry
	// strictly increasing fences.
	FenceViolations int `json:"fence_violations"`
	// Excluded counts the excluded trials, Why says why.
	Excluded int      `json:"excluded"`
	Why      []string `json:"excluded_why,omitempty"`
	// NotQuiet counts the trials that ended at their deadline, not quiet.
	NotQuiet int `json:"not_quiet"`
	// P50 and P90 are the kill-to-first-completion times of the trials
	// with a completed run (nearest rank); 0 when there are none.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	// FenceSeen is whether any completed run carried a fence.
	FenceSeen bool `json:"fence_seen"`
	// Notes describe the trials that went wrong.
	Notes []string `json:"notes,omitempty"`
}

// Summarize adds up the results of one scenario's trials, run with opt.
func Summarize(sc Scenario, opt Options, rs []Result) Summary {
	opt = opt.withDefaults()
	s := Summary{Scenario: sc.Name, Title: sc.Title, Profile: opt.Profile, Lock: opt.Lock()}
	var lat []time.Duration
	for _, r := range rs {
		if r.Excluded != "" {
			s.Excluded++
			s.Why = append(s.Why, fmt.Sprintf("trial %d: %s", r.Trial, r.Excluded))
			continue
		}
		s.Trials++
		note := ""
		switch {
		case r.Completed == 0:
			s.Zero++
			note = fmt.Sprintf("no completed run (%d started)", r.Started)
		case r.Completed == 1:
			s.One++
		default:
			s.TwoOrMore++
			note = fmt.Sprintf("%d completed runs, at most %d at once", r.Completed, r.MaxConcurrent)
		}
		s.MaxConcurrent = max(s.MaxConcurrent, r.MaxConcurrent)
		if r.FenceViolation != "" {
			s.FenceViolations++
			note += "; fence order violated: " + r.FenceViolation
		}
		if note != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("trial %d: %s", r.Trial, note))
		}
		if !r.Quiet {
			s.NotQuiet++
		}
		s.FenceSeen = s.FenceSeen || r.FenceSeen
		if r.KillToFirst > 0 {
			lat = append(lat, r.KillToFirst)
		}
	}
	s.P50, s.P90 = percentile(lat, 50), percentile(lat, 90)
	return s
}

// percentile returns the nearest-rank p-th percentile (the element at
// index (n-1)·p/100 of the sorted values, as the old chaos-failover script
// computed it); 0 when there are none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

// Problems lists what issue 11's "done when" forbids in this summary:
// trials with zero completed runs, trials whose completed runs do not
// carry strictly increasing fences, with the etcd lock trials with two
// completed runs at all, and a scenario every trial of which was excluded
// (nothing was measured).
func (s Summary) Problems() []string {
	var out []string
	if s.Lock == "etcd" && s.TwoOrMore > 0 {
		out = append(out, fmt.Sprintf("%d of %d trials had two or more completed runs with the etcd lock", s.TwoOrMore, s.Trials))
	}
	if s.Zero > 0 {
		out = append(out, fmt.Sprintf("%d of %d trials had no completed run", s.Zero, s.Trials))
	}
	if s.FenceViolations > 0 {
		out = append(out, fmt.Sprintf("%d of %d trials had completed runs without strictly increasing fences", s.FenceViolations, s.Trials))
	}
	if s.Trials == 0 && s.Excluded > 0 {
		out = append(out, fmt.Sprintf("all %d trials were excluded", s.Excluded))
	}
	return out
}

// mode labels the profile and, for the etcd lock, the lock: "lan", "lan, etcd".
func (s Summary) mode() string {
	if s.Lock == "etcd" {
		return s.Profile + ", etcd"
	}
	return s.Profile
}

// seconds formats a duration as "3.39 s", "-" when zero.
func seconds(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Table formats summaries as an aligned text table, followed by the notes
// of the trials that went wrong and the reasons for exclusions.
func Table(ss []Summary) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tprofile\ttrials\texactly one\tzero\ttwo or more\tmax concurrent\tfence violations\texcluded\tkill → first completion p50 / p90\t")
	for _, s := range ss {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s / %s\t\n", s.Scenario, s.mode(), s.Trials, s.One, s.Zero, s.TwoOrMore,
			s.MaxConcurrent, s.FenceViolations, s.Excluded, seconds(s.P50), seconds(s.P90))
	}
	w.Flush()
	for _, s := range ss {
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "%s: %s\n", s.Scenario, n)
		}
		for _, n := range s.Why {
			fmt.Fprintf(&b, "%s: excluded %s\n", s.Scenario, n)
		}
		if s.NotQuiet > 0 {
			fmt.Fprintf(&b, "%s: %d trial(s) ended at the deadline, not quiet\n", s.Scenario, s.NotQuiet)
		}
	}
	return b.String()
}

// Markdown formats summaries as a table to paste into docs/failover.md.
func Markdown(ss []Summary) string {
	var b strings.Builder
	b.WriteString("| scenario | profile | trials | exactly one | zero | two or more | max concurrent | fence-order violations | excluded | kill → first completion p50 / p90 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range ss {
		title := strings.ReplaceAll(s.Title, "|", `\|`)
		fmt.Fprintf(&b, "| `%s`: %s | `%s` | %d | %d | %d | %d | %d | %d | %d | %s / %s |\n", s.Scenario, title, s.mode(), s.Trials,
			s.One, s.Zero, s.TwoOrMore, s.MaxConcurrent, s.FenceViolations, s.Excluded, seconds(s.P50), seconds(s.P90))
	}
	return b.String()
}
