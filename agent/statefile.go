package agent

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/vigil-agent/vigil/internal/nofollow"
)

// writeStateFile replaces path with b and a newline, atomically: written to
// path.tmp (created afresh, never through a link) and renamed, so a crash
// leaves the old content or the new one. Mode 0600.
func writeStateFile(path string, b []byte) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := nofollow.Open(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}

// readStateFile returns a state file's content (at most 64 KiB), read
// without following a link; nil and no error when it does not exist.
func readStateFile(path string) ([]byte, error) {
	f, err := nofollow.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}
