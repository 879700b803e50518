package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestJournalLinksNotFollowed: a symbolic link planted as the hook journal
// makes Open fail, naming it; one planted as its temporary file (which
// every compaction writes) is removed, never written through, both when
// the journal is opened and when it compacts while running. The link's
// target is left as it was.
func TestJournalLinksNotFollowed(t *testing.T) {
	tests := []struct {
		name    string
		link    string // in the data dir
		openErr string
		running bool // plant the link after Open, then compact
	}{
		{name: "journal", link: "hooks.journal", openErr: "hooks.journal is a symbolic link: refusing to follow it"},
		{name: "temporary file at open", link: "hooks.journal.tmp"},
		{name: "temporary file while running", link: "hooks.journal.tmp", running: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := Path(dir)
			victim := clustertest.NewVictim(t)
			plant := func() { victim.LinkAt(t, filepath.Join(dir, tt.link)) }
			if !tt.running {
				plant()
			}
			j, _, _, err := Open(path)
			if tt.openErr != "" {
				if err == nil {
					j.Close()
					t.Fatal("Open followed the link")
				}
				if !strings.Contains(err.Error(), tt.openErr) {
					t.Errorf("Open: %v, want %q", err, tt.openErr)
				}
			} else {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer j.Close()
				j.Queued("h", journalTestEvent(1))
				j.Done("h", journalTestEvent(1))
				j.Queued("h", journalTestEvent(2))
				if tt.running {
					plant()
					if err := j.compactNow(); err != nil {
						t.Fatalf("compaction: %v", err)
					}
				}
				if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
					t.Errorf("the journal is not a regular file: %v %v", st, err)
				}
				if _, err := os.Lstat(filepath.Join(dir, tt.link)); err == nil {
					t.Errorf("%s is still there", tt.link)
				}
			}
			victim.CheckIntact(t)
		})
	}
}
