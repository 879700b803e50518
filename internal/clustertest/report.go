package clustertest

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"
)

// ReportRow is one line of the fault table scripts/chaos prints: a fault,
// how many times it was injected, and how the events it should cause
// turned out.
type ReportRow struct {
	// Test is the test's name; Report fills it in.
	Test string `json:"test"`
	// Fault describes the fault and the setting, e.g. "kill -9 20 of 50".
	Fault string `json:"fault"`
	// Trials is how many times the fault was injected.
	Trials int `json:"trials"`
	// Expected is how many events (hook runs, member-failed reports, …)
	// the faults should cause; Seen how many there were, Lost how many
	// expected ones never came, Duplicated how many came more than once.
	Expected   int `json:"expected"`
	Seen       int `json:"seen"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// Note holds measurements worth a column of their own.
	Note string `json:"note,omitempty"`
	// Failed is whether the test failed; Report fills it in.
	Failed bool `json:"failed"`
}

var reportMu sync.Mutex

// Report logs row and, when the environment names a file in
// VIGIL_CHAOS_REPORT, appends it there as a JSON line when the test ends
// (with the test's name and whether it failed), for scripts/chaos.
func Report(t testing.TB, row ReportRow) {
	t.Helper()
	row.Test = t.Name()
	t.Logf("report: %s: %d trials, %d events expected, %d seen, %d lost, %d duplicated %s",
		row.Fault, row.Trials, row.Expected, row.Seen, row.Lost, row.Duplicated, row.Note)
	path := os.Getenv("VIGIL_CHAOS_REPORT")
	if path == "" {
		return
	}
	t.Cleanup(func() {
		row.Failed = t.Failed()
		b, err := json.Marshal(row)
		if err != nil {
			return
		}
		reportMu.Lock()
		defer reportMu.Unlock()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Logf("report: %v", err)
			return
		}
		defer f.Close()
		_, _ = f.Write(append(b, '\n'))
	})
}

// DurationRange formats the smallest and largest of ds, each rounded to
// round, as "LO–HI" for a report's note; "-" when ds is empty.
func DurationRange(ds []time.Duration, round time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo.Round(round).String() + "–" + hi.Round(round).String()
}
