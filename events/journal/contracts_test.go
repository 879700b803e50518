package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-agent/vigil/events"
)

// pinnedJournal is hooks.journal as this version writes it: an agent
// upgraded in place reads the file its previous version left, so a change
// to these lines (TestJournalFormatIsPinned fails) needs the reader to
// keep accepting the old ones.
const pinnedJournal = `{"op":"queued","hook":"promote","event":{"id":1765000000000123,"event":"member-failed","time":"2025-12-06T05:46:40.5Z","members":[{"name":"db-1","addr":"10.0.0.5","port":7946,"status":"failed","tags":{"role":"primary"}}],"key":"db-1@dndxbwrck3ev.0:member-failed"}}
{"op":"queued","hook":"promote","event":{"id":1765000000000124,"event":"member-failed","time":"2025-12-06T05:46:40.5Z","members":[{"name":"db-1","addr":"10.0.0.5","port":7946,"status":"failed","tags":{"role":"primary"}}],"key":"db-9@x.1:member-failed"}}
{"op":"run","hook":"promote","run":{"hook":"promote","event_id":1765000000000123,"event":"member-failed","member":"db-1","start":"2025-12-06T05:46:41Z","duration_ms":12.5,"outcome":"ok","exit_code":0,"key":"db-1@dndxbwrck3ev.0:member-failed","fence":42,"output":"promoted\n","output_bytes":9}}
{"op":"done","hook":"promote","event_id":1765000000000123,"key":"db-1@dndxbwrck3ev.0:member-failed"}
`

// TestJournalFormatIsPinned: the journal writes exactly pinnedJournal for
// two queued runs, one run record and one completion, and reading
// pinnedJournal back gives the unfinished run and the run record.
func TestJournalFormatIsPinned(t *testing.T) {
	ev := &events.Event{ID: 1765000000000123, Type: events.MemberFailed, Time: time.Unix(1765000000, 5e8).UTC(),
		Members: []events.Member{{Name: "db-1", Addr: "10.0.0.5", Port: 7946, Status: "failed", Tags: map[string]string{"role": "primary"}}},
		Key:     "db-1@dndxbwrck3ev.0:member-failed"}
	ev2 := *ev
	ev2.ID++
	ev2.Key = "db-9@x.1:member-failed"
	run := events.Run{Hook: "promote", EventID: ev.ID, Event: ev.Type, Member: "db-1", Key: ev.Key, Fence: 42,
		Start: time.Unix(1765000001, 0).UTC(), DurationMS: 12.5, Outcome: events.OutcomeOK, Output: "promoted\n", OutputBytes: 9}

	path := filepath.Join(t.TempDir(), "hooks.journal")
	j, _, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Queued("promote", ev)
	j.Queued("promote", &ev2)
	j.Record(run)
	j.Done("promote", ev)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != pinnedJournal {
		t.Errorf("written journal (%v):\n%s\nwant:\n%s", err, b, pinnedJournal)
	}

	old := filepath.Join(t.TempDir(), "hooks.journal")
	if err := os.WriteFile(old, []byte(pinnedJournal), 0o600); err != nil {
		t.Fatal(err)
	}
	j2, pending, runs, err := Open(old)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j2.Close() })
	if len(pending) != 1 || pending[0].Hook != "promote" || pending[0].Event == nil || pending[0].Event.Key != ev2.Key || pending[0].Event.ID != ev2.ID {
		t.Errorf("pending after reading the pinned journal: %+v, want the run of %s", pending, ev2.Key)
	}
	if len(runs) != 1 || runs[0].Key != run.Key || runs[0].Fence != 42 || runs[0].Output != run.Output || runs[0].Outcome != events.OutcomeOK {
		t.Errorf("runs after reading the pinned journal: %+v", runs)
	}
}

// TestTailStringKeepsCharacters: the journal keeps the tail of a run's
// output without cutting a UTF-8 character in half.
func TestTailStringKeepsCharacters(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "def"},
		{"xé", 1, ""},    // é is 2 bytes: its second alone is not kept
		{"aéb", 2, "b"},  // the cut lands inside é
		{"a€b", 3, "b"},  // € is 3 bytes
		{"a€b", 4, "€b"}, // the cut lands on €'s first byte
		{"ok🙂", 3, ""},   // a 4-byte character
		{"ok🙂", 4, "🙂"},
	} {
		got := tailString(tc.s, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("tailString(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
