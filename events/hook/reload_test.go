package hook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadNeitherLosesNorRepeats: a reload changes one hook while it
// runs, keeps one, adds one: the run in flight finishes with the old
// definition, every later event reaches each hook once, and no hook runs
// for an event from before it was added.
func TestReloadNeitherLosesNorRepeats(t *testing.T) {
	dir := t.TempDir()
	line := func(tag string) string { return `echo "` + tag + ` $VIGIL_EVENT_ID" >> ` + filepath.Join(dir, "log") }
	a1 := Hook{Name: "a", Shell: line("a1") + "; sleep 1"}
	b := Hook{Name: "b", Shell: line("b")}
	r := newTestRunner(t, a1, b)
	r.Dispatch(failedEvent(1, "m"))
	waitFor(t, 5*time.Second, "a1 to start", func() bool { return r.QueueDepth()["a"] == 0 && len(runsOf(r, "b")) == 1 })

	a2 := Hook{Name: "a", Shell: line("a2")}
	c := Hook{Name: "c", Shell: line("c")}
	res, err := r.Reload([]Hook{a2, b, c})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Changed, ",") != "a" || strings.Join(res.Added, ",") != "c" || len(res.Removed) != 0 {
		t.Errorf("reload result %+v", res)
	}
	r.Dispatch(failedEvent(2, "m"))
	waitFor(t, 10*time.Second, "every run", func() bool { return len(r.Runs()) == 5 })
	got, _ := os.ReadFile(filepath.Join(dir, "log"))
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	want := map[string]bool{"a1 1": true, "b 1": true, "a2 2": true, "b 2": true, "c 2": true}
	if len(lines) != len(want) {
		t.Fatalf("runs %q, want exactly %v", lines, want)
	}
	for _, l := range lines {
		if !want[l] {
			t.Errorf("unexpected run %q (all: %q)", l, lines)
		}
	}
	// Removing a hook stops it.
	if res, err := r.Reload([]Hook{b}); err != nil || strings.Join(res.Removed, ",") != "a,c" {
		t.Fatalf("reload: %+v %v", res, err)
	}
	r.Dispatch(failedEvent(3, "m"))
	waitFor(t, 5*time.Second, "b's third run", func() bool { return len(runsOf(r, "b")) == 3 })
	if n := len(runsOf(r, "c")); n != 1 {
		t.Errorf("removed hook c ran %d times, want 1", n)
	}
}
