package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/internal/clustertest"

	"github.com/rs/zerolog"
)

// waitCompaction waits for the compaction in flight, if one is, and
// returns the last compaction's error.
// mib is a mebibyte.
const mib = 1 << 20

func (j *Journal) waitCompaction() error {
	j.mu.Lock()
	ch := j.compactDone
	j.mu.Unlock()
	if ch != nil {
		<-ch
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.compactErr
}

// compactNow runs a compaction as appends would start it, and waits for
// it.
func (j *Journal) compactNow() error {
	for {
		j.mu.Lock()
		if !j.compacting {
			j.startCompaction()
			ch := j.compactDone
			j.mu.Unlock()
			<-ch
			return j.waitCompaction()
		}
		ch := j.compactDone
		j.mu.Unlock()
		<-ch
	}
}

func journalTestEvent(id uint64) *events.Event {
	return &events.Event{ID: id, Type: events.MemberFailed, Time: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		Members: []events.Member{{Name: fmt.Sprintf("node-%d", id), Addr: "10.0.0.1", Port: 7946, Status: "failed"}}}
}

// journalModel is what a journal must read back as: the unfinished
// events, oldest first, and the event ids of the last journalRunsKept run
// records.
type journalModel struct {
	pending []uint64
	runs    []uint64
}

func (m *journalModel) clone() journalModel {
	return journalModel{pending: slices.Clone(m.pending), runs: slices.Clone(m.runs)}
}

// hookRun journals one run of hook h, as the runner does: queued, the
// run record, and done unless the run is left unfinished (the agent died
// in it).
func (m *journalModel) hookRun(j *Journal, id uint64, output string, finish bool) {
	ev := journalTestEvent(id)
	j.Queued("h", ev)
	j.Record(events.Run{Hook: "h", EventID: id, Event: ev.Type, Outcome: events.OutcomeOK, Output: output, OutputBytes: int64(len(output))})
	m.runs = append(m.runs, id)
	if len(m.runs) > journalRunsKept {
		m.runs = m.runs[len(m.runs)-journalRunsKept:]
	}
	if finish {
		j.Done("h", ev)
	} else {
		m.pending = append(m.pending, id)
	}
}

// finish journals the end of an earlier unfinished run.
func (m *journalModel) finish(j *Journal, id uint64) {
	j.Done("h", journalTestEvent(id))
	m.pending = slices.DeleteFunc(m.pending, func(p uint64) bool { return p == id })
}

// readBack returns what the journal at path reads back as.
func readBack(t *testing.T, path string) journalModel {
	t.Helper()
	pending, runs, err := readJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	return journalIDs(pending, runs)
}

func journalIDs(pending []Entry, runs []events.Run) journalModel {
	var m journalModel
	for _, p := range pending {
		m.pending = append(m.pending, p.Event.ID)
	}
	for _, r := range runs {
		m.runs = append(m.runs, r.EventID)
	}
	return m
}

func (m journalModel) String() string {
	runs := fmt.Sprint(m.runs)
	if len(m.runs) > 4 {
		runs = fmt.Sprintf("%d runs %d..%d", len(m.runs), m.runs[0], m.runs[len(m.runs)-1])
	}
	return fmt.Sprintf("pending %v, %s", m.pending, runs)
}

func openTestJournal(t *testing.T, path string) *Journal {
	t.Helper()
	j, _, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestJournalReading pins how a journal reads back, and that compacting
// it changes nothing: a done line finishes the queued lines of its event
// before it, and an event queued more than once (resumed, then queued
// again) is resumed once.
func TestJournalReading(t *testing.T) {
	q := func(id uint64) Entry {
		return Entry{Op: "queued", Hook: "h", Event: journalTestEvent(id)}
	}
	d := func(id uint64) Entry { return Entry{Op: "done", Hook: "h", EventID: id} }
	r := func(id uint64) Entry {
		return Entry{Op: "run", Hook: "h", Run: &events.Run{Hook: "h", EventID: id}}
	}
	tests := []struct {
		name    string
		entries []Entry
		torn    string
		pending []uint64
	}{
		{name: "finished", entries: []Entry{q(1), r(1), d(1)}},
		{name: "unfinished", entries: []Entry{q(1), r(1), q(2)}, pending: []uint64{1, 2}},
		{name: "queued twice", entries: []Entry{q(1), q(1)}, pending: []uint64{1}},
		{name: "queued twice, finished", entries: []Entry{q(1), q(1), d(1)}},
		{name: "queued again after done", entries: []Entry{q(1), d(1), q(1)}, pending: []uint64{1}},
		{name: "other hook", entries: []Entry{q(1), {Op: "done", Hook: "g", EventID: 1}}, pending: []uint64{1}},
		{name: "in order", entries: []Entry{q(3), q(1), q(2), d(1)}, pending: []uint64{3, 2}},
		{name: "torn last line", entries: []Entry{q(1)}, torn: `{"op":"done","hook":"h","ev`, pending: []uint64{1}},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := Path(dir)
			var buf bytes.Buffer
			var wantRuns []uint64
			for _, e := range tt.entries {
				fmt.Fprintf(&buf, "%s\n", mustJSON(t, e))
				if e.Op == "run" {
					wantRuns = append(wantRuns, e.Run.EventID)
				}
			}
			buf.WriteString(tt.torn)
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			want := journalModel{pending: tt.pending, runs: wantRuns}
			if got := readBack(t, path); got.String() != want.String() {
				t.Errorf("read back %s, want %s", got, want)
			}
			var compacted bytes.Buffer
			if _, _, err := compactJournal(bytes.NewReader(buf.Bytes()), int64(buf.Len()), &compacted); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, compacted.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, path); got.String() != want.String() {
				t.Errorf("compacted, read back %s, want %s:\n%s", got, want, compacted.Bytes())
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJournalCompactsWhileRunning: an agent that runs hooks for a long
// time keeps a journal of bounded size (compacted every
// journalCompactLines lines or journalCompactBytes bytes), and a run left
// unfinished before all of them is still resumed after a restart, with
// the run records of the last runs.
func TestJournalCompactsWhileRunning(t *testing.T) {
	tests := []struct {
		name   string
		runs   int
		output int   // bytes of output per run (the journal keeps 4 KiB)
		bound  int64 // the file's size never exceeds it
	}{
		// 1,024 run records of ~400 bytes, plus 4,096 lines.
		{name: "short output", runs: 8000, output: 64, bound: 2 << 20},
		// 1,024 run records of ~4.4 KiB, plus 4 MiB.
		{name: "4 KiB output", runs: 3000, output: 64 << 10, bound: 9 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := Path(t.TempDir())
			j := openTestJournal(t, path)
			var m journalModel
			m.hookRun(j, 1, "started\n", false) // the agent dies in this one
			output := strings.Repeat("o", tt.output-1) + "\n"
			var peak int64
			for i := range tt.runs {
				m.hookRun(j, uint64(i+2), output, true)
				// The peak between compactions; a compaction in flight
				// adds what is appended meanwhile.
				if err := j.waitCompaction(); err != nil {
					t.Fatal(err)
				}
				peak = max(peak, fileSize(t, path))
			}
			j.mu.Lock()
			compactions, live := j.compactions, j.liveBytes
			j.mu.Unlock()
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			written := int64(tt.runs) * 3
			t.Logf("%d runs (%d lines) with %d bytes of output: %d compactions, largest file %.2f MiB, last compaction kept %.2f MiB",
				tt.runs, written, tt.output, compactions, float64(peak)/mib, float64(live)/mib)
			if peak > tt.bound {
				t.Errorf("the journal grew to %.2f MiB, want <= %.2f MiB", float64(peak)/mib, float64(tt.bound)/mib)
			}
			if compactions < 2 {
				t.Errorf("%d compactions while running, want several", compactions)
			}

			// A restart: the run left unfinished is resumed, the history
			// has the last runs.
			j2, pending, past, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j2.Close() })
			if got := journalIDs(pending, past); got.String() != m.String() {
				t.Fatalf("after the restart: %s, want %s", got, m)
			}
			r, err := hook.NewRunner(hook.RunnerConfig{Journal: j2, PastRuns: past, KillGrace: time.Second, Logger: zerolog.Nop()},
				[]hook.Hook{{Name: "h", Shell: `echo "resumed $VIGIL_EVENT_ID"`}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(t.Context()) })
			runs := make([]hook.Pending, 0, len(pending))
			for _, p := range pending {
				runs = append(runs, hook.Pending{Hook: p.Hook, Event: *p.Event})
			}
			r.Resume(runs, func(*events.Event) (bool, string) { return true, "" })
			clustertest.WaitFor(t, 10*time.Second, "the resumed run", func() bool {
				runs := r.Runs()
				last := runs[len(runs)-1]
				return last.EventID == 1 && last.Output == "resumed 1\n"
			})
			r.Close(t.Context())
			if err := j2.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, path); len(got.pending) != 0 {
				t.Errorf("after the resumed run: %s, want nothing pending", got)
			}
		})
	}
}

// TestJournalCompactionCrash: a crash at any step of a compaction leaves
// the old journal or the new one, and either reads back to the same
// unfinished runs and run records, including what was appended while the
// compaction ran.
func TestJournalCompactionCrash(t *testing.T) {
	tests := []struct {
		stage     string
		compacted bool // the journal file is the compacted one
	}{
		{stage: "tmp-created"},
		{stage: "base-written"},
		{stage: "delta-copied"},
		{stage: "renamed", compacted: true},
		{stage: "synced", compacted: true},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			dir := t.TempDir()
			path := Path(dir)
			j := openTestJournal(t, path)
			j.compactLines, j.compactBytes = 1<<40, 1<<40 // compactNow only
			var m journalModel
			for i := uint64(1); i <= 1500; i++ {
				m.hookRun(j, i, "ok\n", i%100 != 0)
			}
			before := fileSize(t, path)
			var want journalModel
			crashDir := t.TempDir()
			j.stage = func(s string) {
				if s == "base-written" {
					// Appends between the compaction's snapshot and the
					// swap: new runs, finished or not, and the end of a
					// run the snapshot has unfinished.
					for i := uint64(1501); i <= 1510; i++ {
						m.hookRun(j, i, "ok\n", i%2 == 0)
					}
					m.finish(j, 100)
				}
				if s != tt.stage {
					return
				}
				// What a crash now leaves on disk: the journal, and the
				// temporary file if there is one.
				want = m.clone()
				for _, name := range []string{"hooks.journal", "hooks.journal.tmp"} {
					b, err := os.ReadFile(filepath.Join(dir, name))
					if os.IsNotExist(err) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if err := os.WriteFile(filepath.Join(crashDir, name), b, 0o600); err != nil {
						t.Error(err)
					}
				}
			}
			if err := j.compactNow(); err != nil {
				t.Fatal(err)
			}
			after := fileSize(t, path)
			t.Logf("journal %d bytes before the compaction, %d after", before, after)
			if after >= before {
				t.Errorf("the compaction left %d bytes of %d", after, before)
			}

			crashPath := Path(crashDir)
			if size := fileSize(t, crashPath); (size < before) != tt.compacted {
				t.Errorf("a crash at %s leaves a journal of %d bytes (%d before the compaction); want the compacted one: %v", tt.stage, size, before, tt.compacted)
			}
			cj, pending, past, err := Open(crashPath)
			if err != nil {
				t.Fatal(err)
			}
			cj.Close()
			if got := journalIDs(pending, past); got.String() != want.String() {
				t.Errorf("after a crash at %s: %s, want %s", tt.stage, got, want)
			}
			if _, err := os.Stat(crashPath + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("the temporary file survives the restart: %v", err)
			}

			// The running journal goes on in the compacted file.
			m.hookRun(j, 2000, "ok\n", false)
			m.finish(j, 200)
			if got := readBack(t, path); got.String() != m.String() {
				t.Errorf("after the compaction: %s, want %s", got, m)
			}
		})
	}
}

// TestJournalCompactionRacesAppends: hook workers append while the journal
// compacts again and again (run with -race); nothing is lost: every
// unfinished run, and no finished one, is resumed, and the run records
// keep each worker's order.
func TestJournalCompactionRacesAppends(t *testing.T) {
	path := Path(t.TempDir())
	j := openTestJournal(t, path)
	j.compactLines = 64
	// Compactions that copied lines appended while they ran: the journal's
	// size when the compaction began, against its size at the swap. Each
	// waits, before the swap, for a worker to finish a run (or for all to
	// be done), so appends do race with it.
	var began int64
	var raced int
	progress, allDone := make(chan struct{}, 1), make(chan struct{})
	j.stage = func(s string) {
		switch s {
		case "tmp-created":
			began = fileSize(t, path)
		case "base-written":
			select {
			case <-progress:
			default:
			}
			select {
			case <-progress:
			case <-allDone:
			}
		case "delta-copied":
			if fileSize(t, path) > began {
				raced++
			}
		}
	}
	const workers, perWorker = 8, 1000
	var wg sync.WaitGroup
	wantPending := map[uint64]bool{}
	for w := range workers {
		for i := range perWorker {
			if i%9 == 0 {
				wantPending[uint64(w*perWorker+i+1)] = true
			}
		}
		wg.Go(func() {
			var m journalModel // per worker; only its appends matter
			for i := range perWorker {
				id := uint64(w*perWorker + i + 1)
				m.hookRun(j, id, fmt.Sprintf("worker %d run %d\n", w, i), i%9 != 0)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	wg.Wait()
	close(allDone)
	if err := j.waitCompaction(); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	compactions := j.compactions
	j.mu.Unlock()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d lines appended by %d workers, %d compactions meanwhile (%d of them copied lines appended while they ran), %d bytes left",
		workers*perWorker*3, workers, compactions, raced, fileSize(t, path))
	if compactions < 2 || raced == 0 {
		t.Errorf("%d compactions, %d raced with appends; want at least 2, and 1", compactions, raced)
	}
	pending, runs, err := readJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for _, p := range pending {
		if got[p.Event.ID] {
			t.Errorf("event %d pending twice", p.Event.ID)
		}
		got[p.Event.ID] = true
	}
	for id := range wantPending {
		if !got[id] {
			t.Errorf("unfinished event %d lost", id)
		}
	}
	for id := range got {
		if !wantPending[id] {
			t.Errorf("finished event %d pending", id)
		}
	}
	if len(runs) != journalRunsKept {
		t.Errorf("%d run records, want %d", len(runs), journalRunsKept)
	}
	last := map[int]uint64{}
	for _, r := range runs {
		w := int(r.EventID-1) / perWorker
		if r.EventID <= last[w] {
			t.Errorf("worker %d: run %d after run %d", w, r.EventID, last[w])
		}
		last[w] = r.EventID
	}
}

// TestJournalReportsFailedAppends: an append that cannot be written is
// reported through OnError once when appends start failing, not once per
// line, and again after an append succeeded in between.
func TestJournalReportsFailedAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.journal")
	j := openTestJournal(t, path)
	var errs []error
	j.OnError(func(err error) { errs = append(errs, err) })
	ev := &events.Event{ID: 1, Type: events.MemberFailed}
	j.Queued("h", ev)
	if len(errs) != 0 {
		t.Fatalf("a good append reported %v", errs)
	}
	good := j.f
	bad, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bad.Close() })
	j.mu.Lock()
	j.f = bad
	j.mu.Unlock()
	for range 3 {
		j.Done("h", ev)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "append to journal "+path) {
		t.Fatalf("3 failed appends reported %v, want one error naming the journal", errs)
	}
	j.mu.Lock()
	j.f = good
	j.mu.Unlock()
	j.Queued("h", ev)
	j.mu.Lock()
	j.f = bad
	j.mu.Unlock()
	j.Done("h", ev)
	j.mu.Lock()
	j.f = good
	j.mu.Unlock()
	if len(errs) != 2 {
		t.Fatalf("failing again after a good append: %d errors reported, want 2", len(errs))
	}
}
