package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestReportMatchesDoc renders the report from the results the last
// scripts/bench run recorded (docs/benchmarks/results.json) and checks
// that every line of it is in docs/benchmarks.md: the report code and the
// published page agree, so neither drifts from the numbers. (The page may
// hold hand-written sections beside the generated ones.)
func TestReportMatchesDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/benchmarks/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	analysis, err := os.ReadFile("../docs/benchmarks/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		have[l] = true
	}
	md := Markdown(&res, Summarize(res.Detection), "benchmarks", string(analysis))
	missing := 0
	for _, l := range strings.Split(md, "\n") {
		if !have[l] {
			missing++
			if missing <= 10 {
				t.Errorf("docs/benchmarks.md lacks the generated line:\n%s", l)
			}
		}
	}
	if missing > 10 {
		t.Errorf("... and %d more", missing-10)
	}
}
