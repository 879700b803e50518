package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The hook journal: in the agent's data_dir, one JSON line per queued
// event, finished run and run record. At start the agent reads it back:
// runs that were queued or in flight when it stopped are examined again
// and re-run if their event still holds (at least once, with the same
// VIGIL_EVENT_ID), and GET /v1/hooks shows the runs from before the restart.

// JournalEntry is one line of the journal.
type JournalEntry struct {
	// Op is queued (an event waits for a hook), done (the hook finished
	// with it) or run (a run record).
	Op string `json:"op"`
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// Event is the queued event (op queued).
	Event *Event `json:"event,omitempty"`
	// EventID and Key identify the finished event (op done).
	EventID uint64 `json:"event_id,omitempty"`
	Key     string `json:"key,omitempty"`
	// Run is a run record (op run).
	Run *Run `json:"run,omitempty"`
}

// Journal appends entries to the journal file.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
}

// journalRunsKept is how many run records survive a compaction.
const journalRunsKept = DefaultRunHistory

// OpenJournal reads the journal at path, compacts it to what is still
// pending plus the recent run records, and opens it for appending. It
// returns the events that were queued but never finished, oldest first,
// and the recent run records.
func OpenJournal(path string) (*Journal, []JournalEntry, []Run, error) {
	pending, runs, err := readJournal(path)
	if err != nil {
		return nil, nil, nil, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range runs {
		_ = enc.Encode(JournalEntry{Op: "run", Hook: r.Hook, Run: &r})
	}
	for _, p := range pending {
		_ = enc.Encode(p)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return &Journal{f: f, w: bufio.NewWriter(f), path: path}, pending, runs, nil
}

func journalID(hook string, id uint64, key string) string {
	return fmt.Sprintf("%s\x00%d\x00%s", hook, id, key)
}

// readJournal returns the unfinished queued entries and the last run
// records. A torn last line (a crash mid-write) is skipped.
func readJournal(path string) ([]JournalEntry, []Run, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	var queued []JournalEntry
	finished := map[string]bool{}
	var runs []Run
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var e JournalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Op {
		case "queued":
			if e.Event != nil {
				queued = append(queued, e)
			}
		case "done":
			finished[journalID(e.Hook, e.EventID, e.Key)] = true
		case "run":
			if e.Run != nil {
				runs = append(runs, *e.Run)
				if len(runs) > 2*journalRunsKept {
					runs = append(runs[:0], runs[len(runs)-journalRunsKept:]...)
				}
			}
		}
	}
	if len(runs) > journalRunsKept {
		runs = runs[len(runs)-journalRunsKept:]
	}
	var pending []JournalEntry
	for _, q := range queued {
		if !finished[journalID(q.Hook, q.Event.ID, q.Event.Key)] {
			pending = append(pending, q)
		}
	}
	return pending, runs, nil
}

func (j *Journal) append(e JournalEntry) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	j.w.Write(append(b, '\n'))
	// Flushed at once: the point of the journal is to survive a crash.
	j.w.Flush()
}

func (j *Journal) queued(hook string, ev *Event) {
	j.append(JournalEntry{Op: "queued", Hook: hook, Event: ev})
}

func (j *Journal) done(hook string, ev *Event) {
	j.append(JournalEntry{Op: "done", Hook: hook, EventID: ev.ID, Key: ev.Key})
}

func (j *Journal) run(r Run) {
	r.Output = tailString(r.Output, 4<<10)
	j.append(JournalEntry{Op: "run", Hook: r.Hook, Run: &r})
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Close flushes and closes the journal.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Flush()
	return j.f.Close()
}

// JournalPath is the journal's file name in a data dir.
func JournalPath(dataDir string) string { return filepath.Join(dataDir, "hooks.journal") }
