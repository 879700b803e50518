package membership

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataFilesNotFollowed: the keyring and peers files are read only
// when they are regular files: a symbolic link (to a file another user
// controls) is an error, and a missing file is still fs.ErrNotExist.
func TestDataFilesNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "planted")
	if err := os.WriteFile(target, []byte(`["AAAAAAAAAAAAAAAAAAAAAA=="]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keyring", "peers.json"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		read func() error
	}{
		{"keyring", func() error { _, err := ReadKeyringFile(filepath.Join(dir, "keyring")); return err }},
		{"peers", func() error { _, err := ReadPeers(filepath.Join(dir, "peers.json")); return err }},
		{"fifo", func() error {
			p := filepath.Join(dir, "fifo")
			if err := mkfifo(p); err != nil {
				t.Skip(err)
			}
			_, err := ReadFileNoFollow(p)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			if err == nil || !(strings.Contains(err.Error(), "is a symbolic link: refusing to follow it") || strings.Contains(err.Error(), "is not a regular file")) {
				t.Errorf("read: %v, want a refusal", err)
			}
		})
	}
	if _, err := ReadKeyringFile(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing keyring: %v, want fs.ErrNotExist", err)
	}
	if peers, err := ReadPeers(filepath.Join(dir, "none")); err != nil || peers != nil {
		t.Errorf("missing peers: %v %v", peers, err)
	}
}
