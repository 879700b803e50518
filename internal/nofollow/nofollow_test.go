package nofollow

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenAndCheck: a regular file opens and passes; a link, a FIFO and a
// directory are refused by both, the link without being followed; a
// missing file is fs.ErrNotExist to Open and fine to Check.
func TestOpenAndCheck(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, openErr, checkErr string
		missing                 bool
	}{
		{name: "target"},
		{name: "link", openErr: "is a symbolic link: refusing to follow it", checkErr: "is a symbolic link: refusing to let it be followed"},
		{name: "fifo", openErr: "is not a regular file", checkErr: "is not a regular file"},
		{name: "dir", openErr: "is not a regular file", checkErr: "is not a regular file"},
		{name: "missing", missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			f, err := Open(path, os.O_RDONLY, 0)
			switch {
			case tt.missing:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Open: %v, want fs.ErrNotExist", err)
				}
			case tt.openErr == "":
				if err != nil {
					t.Errorf("Open: %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.openErr):
				t.Errorf("Open: %v, want %q", err, tt.openErr)
			}
			if f != nil {
				f.Close()
			}
			err = Check(path)
			if (tt.checkErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.checkErr)) {
				t.Errorf("Check: %v, want %q", err, tt.checkErr)
			}
		})
	}
}
