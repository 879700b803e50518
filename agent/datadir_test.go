package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestDataDirOtherUsersRefused: a data_dir that another user can write
// is a configuration error naming data_dir and the fix; one only the
// agent's user (and its group) can write, or a missing one, is fine.
func TestDataDirOtherUsersRefused(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		mode     os.FileMode
		uid, gid int // -1: the agent's
		needRoot bool
		missing  bool
		file     bool
		want     string // "" valid
	}{
		{name: "private", mode: 0o700, uid: -1, gid: -1},
		{name: "readable by all", mode: 0o755, uid: -1, gid: -1},
		{name: "missing", missing: true},
		{name: "writable by all", mode: 0o777, uid: -1, gid: -1, want: "is writable by every user (mode 0777)"},
		{name: "writable by all, sticky", mode: 0o777 | os.ModeSticky, uid: -1, gid: -1, want: "is writable by every user"},
		{name: "writable by own group", mode: 0o770, uid: -1, gid: -1},
		{name: "writable by another group", mode: 0o770, uid: -1, gid: 54321, needRoot: true, want: "is writable by group 54321, which is not the agent's group"},
		{name: "another group may only read", mode: 0o750, uid: -1, gid: 54321, needRoot: true},
		{name: "another user's", mode: 0o700, uid: 54321, gid: -1, needRoot: true, want: "belongs to user 54321, not to the agent's user"},
		{name: "a file", file: true, want: "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot && !root {
				t.Skip("changing a directory's owner needs root")
			}
			dir := filepath.Join(t.TempDir(), "data")
			switch {
			case tt.missing:
			case tt.file:
				if err := os.WriteFile(dir, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(dir, tt.uid, tt.gid); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			body := "data_dir: " + dir + "\n"
			want := tt.want
			if want != "" {
				want = "vigil.yaml:1: data_dir: " + dir + " " + want
			}
			checkValidate(t, body, want)
		})
	}
}

// TestLockFileNotFollowed: a symbolic link planted as vigil.lock is an
// error at start, and the file it points to is left as it was.
func TestLockFileNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := clustertest.NewVictim(t)
	victim.LinkAt(t, filepath.Join(dir, LockFileName))
	f, err := lockDataDir(dir)
	if err == nil {
		f.Close()
		t.Fatal("lockDataDir followed the link")
	}
	if !strings.Contains(err.Error(), "vigil.lock is a symbolic link: refusing to follow it") {
		t.Errorf("error %q does not name the link", err)
	}
	victim.CheckIntact(t)

	// A real lock file is taken, and a second agent is refused.
	dir2 := t.TempDir()
	f, err = lockDataDir(dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := lockDataDir(dir2); err == nil || !strings.Contains(err.Error(), "in use by another vigil agent (pid ") {
		t.Errorf("second lock: %v", err)
	}
}

// TestKeyringLinkNotFollowed: an agent whose data_dir holds a link as its
// keyring does not start with the linked keys.
func TestKeyringLinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(elsewhere, []byte(`["AAAAAAAAAAAAAAAAAAAAAA=="]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, KeyringFileName)); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{DataDir: dir}}
	if _, _, err := a.gossipKeyring(); err == nil || !strings.Contains(err.Error(), "is a symbolic link: refusing to follow it") {
		t.Errorf("gossipKeyring: %v, want a refusal to follow the link", err)
	}
}

// TestDataDirMadeByAnotherUser: a data_dir that was missing at validation
// but that another user made before the agent started is refused when the
// agent takes its lock.
func TestDataDirMadeByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a directory's owner needs root")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	f, err := lockDataDir(dir)
	if err == nil {
		f.Close()
		t.Fatal("lockDataDir took another user's directory")
	}
	if !strings.Contains(err.Error(), "data_dir: "+dir+" belongs to user 54321") {
		t.Errorf("error %q", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the agent wrote in another user's directory")
	}
}

// TestSerfSnapshotLinkNotFollowed: serf opens its snapshot files by path,
// following links, so an agent whose data_dir holds a link (or something
// that is not a regular file) as serf.snapshot or serf.snapshot.compact
// refuses to start, naming it, and leaves the link's target as it was. A
// regular snapshot is kept.
func TestSerfSnapshotLinkNotFollowed(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, dir string, victim clustertest.Victim)
		want  string // "" starts
	}{
		{name: "snapshot is a link", plant: symlink(SnapshotFileName), want: "serf.snapshot is a symbolic link: refusing to let it be followed"},
		{name: "compaction file is a link", plant: symlink(SnapshotFileName + ".compact"), want: "serf.snapshot.compact is a symbolic link: refusing to let it be followed"},
		{name: "snapshot is a directory", plant: func(t *testing.T, dir string, _ clustertest.Victim) {
			if err := os.Mkdir(filepath.Join(dir, SnapshotFileName), 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: "serf.snapshot is not a regular file"},
		{name: "regular snapshot", plant: func(t *testing.T, dir string, _ clustertest.Victim) {
			if err := os.WriteFile(filepath.Join(dir, SnapshotFileName), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			victim := clustertest.NewVictim(t)
			tt.plant(t, dir, victim)
			cfg := Default()
			cfg.Name = "snap"
			cfg.Bind = "127.0.0.1:0"
			cfg.HTTP = "127.0.0.1:0"
			cfg.DataDir = dir
			a, err := New(cfg, zerolog.Nop(), "test")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				a.lock.Close()
				a.journal.Close()
				return
			}
			if err == nil {
				a.lock.Close()
				a.journal.Close()
				t.Fatal("New accepted the data_dir")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want %q", err, tt.want)
			}
			victim.CheckIntact(t)
		})
	}
}

// symlink plants name in dir as a link to victim.
func symlink(name string) func(t *testing.T, dir string, victim clustertest.Victim) {
	return func(t *testing.T, dir string, victim clustertest.Victim) {
		victim.LinkAt(t, filepath.Join(dir, name))
	}
}
