// Package journal keeps the hook journal (data_dir/hooks.journal): the
// events queued for hooks, the runs finished and the run records, so a
// restarted agent resumes the runs its last stop left unfinished and shows
// the runs from before. It implements hook.Journal.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unicode/utf8"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/nofollow"
)

// The hook journal: in the agent's data_dir, one JSON line per queued
// event, finished run and run record. At start the agent reads it back:
// runs that were queued or in flight when it stopped are examined again
// and re-run if their event still holds (at least once, with the same
// VIGIL_EVENT_ID), and GET /v1/hooks shows the runs from before the restart.
//
// A done line finishes the queued lines of its event that come before it
// (the runner writes an event's queued line before a worker can take the
// event). The journal is compacted when the agent starts and again while
// it runs, once journalCompactLines lines or journalCompactBytes bytes
// were appended since the last compaction (or more, when the compacted
// journal itself is larger): it is rewritten with the unfinished queued
// events and the last journalRunsKept run records, so its size stays
// bounded however long the agent runs.
//
// A compaction in flight never blocks appends for long and loses none:
//
//  1. under the lock, note the file's size (end); appends go on to the
//     old file;
//  2. without the lock, read the old file up to end and write what it
//     still needs to hooks.journal.tmp, and fsync it;
//  3. under the lock, copy the lines appended since end (the delta, a few
//     lines) to the temporary file, rename it over the journal and make
//     it the file appends go to;
//  4. without the lock, fsync the new file (the delta) and the directory.
//
// A crash before the rename leaves the old journal, complete (the
// temporary file is ignored and overwritten later); a crash after it
// leaves the new one, which reads back to the same unfinished events and
// run records. Like every append, the delta is written but not fsynced
// before the rename: a power loss can lose the last lines either way.

// Entry is one line of the journal.
type Entry struct {
	// Op is queued (an event waits for a hook), done (the hook finished
	// with it) or run (a run record).
	Op string `json:"op"`
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// Event is the queued event (op queued).
	Event *events.Event `json:"event,omitempty"`
	// EventID and Key identify the finished event (op done).
	EventID uint64 `json:"event_id,omitempty"`
	Key     string `json:"key,omitempty"`
	// Run is a run record (op run).
	Run *events.Run `json:"run,omitempty"`
}

// Journal appends entries to the journal file and compacts it as it grows.
type Journal struct {
	path string

	mu     sync.Mutex
	f      *os.File
	size   int64 // bytes in the file
	torn   bool  // a write failed part-way: the next line starts on a new one
	closed bool
	// failing is set while appends fail, so that a full disk is reported
	// once when it starts, not once per line.
	failing bool
	// onError, when set (OnError), hears of failed appends and
	// compactions.
	onError func(error)

	// Compaction, under mu.
	compactLines int64         // start one once this many lines were appended (journalCompactLines)
	compactBytes int64         // or this many bytes (journalCompactBytes)
	lines, bytes int64         // appended since the last compaction
	liveLines    int64         // lines the last compaction kept
	liveBytes    int64         // bytes the last compaction kept
	compacting   bool          // a compaction is in flight
	compactDone  chan struct{} // closed when the last compaction started ends
	compactions  int           // compactions done while running
	compactErr   error         // the last compaction's error
	wg           sync.WaitGroup

	// stage, when set (by tests), is called at each step of a compaction
	// while running: "tmp-created", "base-written" (without the lock),
	// "delta-copied" and "renamed" (with it), "synced" (without).
	stage func(string)
}

const (
	// journalRunsKept is how many run records survive a compaction.
	journalRunsKept = 1024 // hook.DefaultRunHistory: the run history's size
	// journalCompactLines starts a compaction once this many lines (a run
	// writes three: queued, run, done) were appended since the last one,
	// or as many as the last one kept if that is more, so a large backlog
	// of queued events is not rewritten over and over.
	journalCompactLines = 4096
	// journalCompactBytes likewise in bytes: a run record carries up to
	// 4 KiB of output. With the line count it bounds the file to
	// max(live+4 MiB, 2×live), live being what a compaction keeps.
	journalCompactBytes = 4 << 20
	// journalRunOutput is how much of a run's output the journal keeps.
	journalRunOutput = 4 << 10
)

// Open reads the journal at path, compacts it to what is still
// pending plus the recent run records, and opens it for appending. It
// returns the events that were queued but never finished, oldest first,
// and the recent run records.
func Open(path string) (*Journal, []Entry, []events.Run, error) {
	pending, runs, err := readJournal(path)
	if err != nil {
		return nil, nil, nil, err
	}
	lines, size, err := compactFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f, err := nofollow.Open(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{
		path: path, f: f, size: size,
		liveLines: lines, liveBytes: size,
		compactLines: journalCompactLines, compactBytes: journalCompactBytes,
	}
	return j, pending, runs, nil
}

// compactFile rewrites the journal at path (if there is one) with what
// it still needs, atomically, and returns the lines and bytes it kept.
func compactFile(path string) (int64, int64, error) {
	src, err := nofollow.Open(path, os.O_RDONLY, 0)
	if os.IsNotExist(err) {
		src = nil
	} else if err != nil {
		return 0, 0, err
	}
	var n int64
	if src != nil {
		defer src.Close()
		st, err := src.Stat()
		if err != nil {
			return 0, 0, err
		}
		n = st.Size()
	}
	tmp, err := createTemp(path)
	if err != nil {
		return 0, 0, err
	}
	defer tmp.Close()
	var lines, size int64
	if src != nil {
		if lines, size, err = compactJournal(src, n, tmp); err != nil {
			os.Remove(tmp.Name())
			return 0, 0, err
		}
	}
	if err := tmp.Sync(); err != nil {
		os.Remove(tmp.Name())
		return 0, 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return 0, 0, err
	}
	syncDir(filepath.Dir(path))
	return lines, size, nil
}

// createTemp creates the journal's temporary file anew, for appending:
// it becomes the journal once renamed. Whatever is at its path (a
// leftover of a crash, or a symbolic link someone planted) is removed
// first, and the file is created exclusively and without following a
// link, so it is never written through one.
func createTemp(path string) (*os.File, error) {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return nofollow.Open(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
}

// syncDir makes a rename in dir durable. Best effort: some file systems
// refuse to fsync a directory, and the rename itself is atomic anyway.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func journalID(hook string, id uint64, key string) string {
	return fmt.Sprintf("%s\x00%d\x00%s", hook, id, key)
}

// journalState follows a journal line by line: the queued events not
// finished yet, in order, and how many run records there were.
type journalState struct {
	queued []journalQueued
	open   map[string][]int // event id → indexes in queued of its unfinished entries
	runs   int
}

type journalQueued struct {
	id       string
	finished bool
}

// parseJournalLine decodes one line; ok is false for a line to ignore (a
// torn last line, or one that is not an entry).
func parseJournalLine(raw []byte) (e Entry, id string, ok bool) {
	if json.Unmarshal(raw, &e) != nil {
		return e, "", false
	}
	switch e.Op {
	case "queued":
		if e.Event == nil {
			return e, "", false
		}
		return e, journalID(e.Hook, e.Event.ID, e.Event.Key), true
	case "done":
		return e, journalID(e.Hook, e.EventID, e.Key), true
	case "run":
		return e, "", e.Run != nil
	}
	return e, "", false
}

// add follows one entry. It returns the index of a queued entry.
func (s *journalState) add(e *Entry, id string) int {
	switch e.Op {
	case "queued":
		if s.open == nil {
			s.open = map[string][]int{}
		}
		s.queued = append(s.queued, journalQueued{id: id})
		s.open[id] = append(s.open[id], len(s.queued)-1)
		return len(s.queued) - 1
	case "done":
		for _, i := range s.open[id] {
			s.queued[i].finished = true
		}
		delete(s.open, id)
	case "run":
		s.runs++
	}
	return -1
}

// pending reports whether the queued entry at index i is one to resume:
// unfinished, and the first unfinished entry of its event (an event
// resumed and queued again is run once).
func (s *journalState) pending(i int) bool {
	q := s.queued[i]
	return !q.finished && s.open[q.id][0] == i
}

// readJournal returns the unfinished queued entries and the last run
// records. A torn last line (a crash mid-write) is skipped.
func readJournal(path string) ([]Entry, []events.Run, error) {
	f, err := nofollow.Open(path, os.O_RDONLY, 0)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	var st journalState
	var queued []Entry
	var runs []events.Run
	err = eachLine(f, func(raw []byte) error {
		e, id, ok := parseJournalLine(raw)
		if !ok {
			return nil
		}
		st.add(&e, id)
		switch e.Op {
		case "queued":
			queued = append(queued, e)
		case "run":
			runs = append(runs, *e.Run)
			if len(runs) > 2*journalRunsKept {
				runs = append(runs[:0], runs[len(runs)-journalRunsKept:]...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if len(runs) > journalRunsKept {
		runs = runs[len(runs)-journalRunsKept:]
	}
	var pending []Entry
	for i, q := range queued {
		if st.pending(i) {
			pending = append(pending, q)
		}
	}
	return pending, runs, nil
}

// compactJournal writes to dst the lines of the journal's first n bytes
// that a reader still needs: the queued lines of unfinished events (once
// each) and the last journalRunsKept run records, in their order. It reads
// src twice, so it holds no more than the events' ids. It returns the
// lines and bytes it wrote.
func compactJournal(src io.ReaderAt, n int64, dst io.Writer) (lines, size int64, err error) {
	var st journalState
	err = eachLine(io.NewSectionReader(src, 0, n), func(raw []byte) error {
		if e, id, ok := parseJournalLine(raw); ok {
			st.add(&e, id)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(dst, 64<<10)
	skipRuns := st.runs - journalRunsKept
	var queued, runs int
	err = eachLine(io.NewSectionReader(src, 0, n), func(raw []byte) error {
		e, _, ok := parseJournalLine(raw)
		if !ok {
			return nil
		}
		keep := false
		switch e.Op {
		case "queued":
			keep = st.pending(queued)
			queued++
		case "run":
			keep = runs >= skipRuns
			runs++
		}
		if !keep {
			return nil
		}
		lines++
		size += int64(len(raw)) + 1
		w.Write(raw)
		return w.WriteByte('\n')
	})
	if err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return lines, size, nil
}

// eachLine calls fn with every line of r, of any length, without its
// newline; the slice is only valid during the call.
func eachLine(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if len(line) > 0 {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// OnError sets f to hear of the journal's failures: an append that could
// not be written (reported when appends start failing, and again after one
// succeeded), and a compaction that failed (it is retried once as much
// more was appended). f is called with the journal's lock held: it must
// not call back into the journal. The agent logs them.
func (j *Journal) OnError(f func(error)) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.onError = f
}

func (j *Journal) append(e Entry) {
	if j == nil {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if j.torn {
		b = append([]byte{'\n'}, b...)
	}
	// Written at once, unbuffered: the point of the journal is to survive
	// a crash of the agent. A write that fails part-way leaves a torn
	// line, which readers skip; the next line starts on a new one.
	n, err := j.f.Write(b)
	if n > 0 {
		j.torn = err != nil
	}
	if err != nil && !j.failing && j.onError != nil {
		j.onError(fmt.Errorf("append to journal %s: %w", j.path, err))
	}
	j.failing = err != nil
	j.size += int64(n)
	j.lines++
	j.bytes += int64(n)
	if !j.compacting && (j.lines >= max(j.compactLines, j.liveLines) || j.bytes >= max(j.compactBytes, j.liveBytes)) {
		j.startCompaction()
	}
}

// startCompaction compacts the journal in the background. Called with mu
// held, while no compaction is in flight and the journal is open.
func (j *Journal) startCompaction() {
	j.compacting = true
	done := make(chan struct{})
	j.compactDone = done
	end, lines := j.size, j.lines
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		err := j.compact(end, lines)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.compacting = false
		j.compactErr = err
		if err != nil && j.onError != nil {
			j.onError(err)
		}
		if err != nil {
			// Tried again once as much more was appended.
			j.lines, j.bytes = 0, 0
		}
		close(done)
	}()
}

func (j *Journal) onStage(s string) {
	if j.stage != nil {
		j.stage(s)
	}
}

// compact rewrites the journal with what its first end bytes (the first
// linesAtEnd lines appended since the last compaction) still need,
// followed by what was appended since. See the comment at the top of the
// file.
func (j *Journal) compact(end, linesAtEnd int64) error {
	src, err := nofollow.Open(j.path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("compact journal %s: %w", j.path, err)
	}
	defer src.Close()
	nf, err := createTemp(j.path)
	if err != nil {
		return fmt.Errorf("compact journal %s: %w", j.path, err)
	}
	kept := false
	defer func() {
		if !kept {
			nf.Close()
			os.Remove(nf.Name())
		}
	}()
	j.onStage("tmp-created")
	lines, size, err := compactJournal(src, end, nf)
	if err == nil {
		err = nf.Sync()
	}
	if err != nil {
		return fmt.Errorf("compact journal %s: %w", j.path, err)
	}
	j.onStage("base-written")

	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	delta := j.size - end
	if n, err := io.Copy(nf, io.NewSectionReader(src, end, delta)); err != nil || n != delta {
		j.mu.Unlock()
		return fmt.Errorf("compact journal %s: copying the %d bytes appended meanwhile: copied %d: %v", j.path, delta, n, err)
	}
	j.onStage("delta-copied")
	if err := os.Rename(nf.Name(), j.path); err != nil {
		j.mu.Unlock()
		return fmt.Errorf("compact journal %s: %w", j.path, err)
	}
	kept = true
	j.onStage("renamed")
	old := j.f
	j.f = nf
	j.size = size + delta
	j.liveLines, j.liveBytes = lines, size
	j.lines -= linesAtEnd
	j.bytes = delta
	j.compactions++
	j.mu.Unlock()

	old.Close()
	// Journal.Close waits for this goroutine, so nf is still open.
	err = nf.Sync()
	syncDir(filepath.Dir(j.path))
	j.onStage("synced")
	if err != nil {
		return fmt.Errorf("compact journal %s: %w", j.path, err)
	}
	return nil
}

// Queued implements hook.Journal: ev waits for the named hook.
func (j *Journal) Queued(hook string, ev *events.Event) {
	j.append(Entry{Op: "queued", Hook: hook, Event: ev})
}

// Done implements hook.Journal: the named hook is finished with ev.
func (j *Journal) Done(hook string, ev *events.Event) {
	j.append(Entry{Op: "done", Hook: hook, EventID: ev.ID, Key: ev.Key})
}

// Record implements hook.Journal: a run record, with the tail of its
// output.
func (j *Journal) Record(r events.Run) {
	r.Output = tailString(r.Output, journalRunOutput)
	j.append(Entry{Op: "run", Hook: r.Hook, Run: &r})
}

// tailString returns the last n bytes of s at most, starting at a UTF-8
// character boundary (so up to 3 bytes fewer), never half a character.
func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for j := 0; j < utf8.UTFMax && i < len(s) && !utf8.RuneStart(s[i]); j++ {
		i++
	}
	return s[i:]
}

// Close waits for a compaction in flight, then closes the journal. Later
// entries are not written.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.wg.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// Path is the journal's file name in a data dir.
func Path(dataDir string) string { return filepath.Join(dataDir, "hooks.journal") }
