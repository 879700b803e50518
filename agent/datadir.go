package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigil-agent/vigil/internal/nofollow"
)

// LockFileName is the lock file in data_dir.
const LockFileName = "vigil.lock"

// SnapshotFileName is serf's snapshot in data_dir; serf compacts it
// through SnapshotFileName+".compact".
const SnapshotFileName = "serf.snapshot"

// lockDataDir creates dir if needed and takes an exclusive lock on it, so
// two agents never share one snapshot. The lock is released when the
// returned file is closed or the process exits. The lock file is opened
// without following a symbolic link: one planted there is an error, never
// a file elsewhere truncated and written. serf opens its snapshot files by
// path, following links, so with the lock held they are checked too
// (checkSerfFiles).
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	// Checked again now that it exists: validation passed a missing
	// directory, which someone else may have made in the meantime.
	if msg := dataDirProblem(dir); msg != "" {
		return nil, ConfigErrors{{Key: "data_dir", Msg: msg}}
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("data dir %s: %s is a symbolic link: refusing to follow it (remove it; the agent creates its own)", dir, LockFileName)
	}
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("data dir %s: %s is not a regular file: remove it; the agent creates its own", dir, LockFileName)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner := make([]byte, 32)
		n, _ := f.ReadAt(owner, 0)
		f.Close()
		pid := strings.TrimSpace(string(owner[:n]))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("data dir %s is in use by another vigil agent (pid %s)", dir, pid)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err := checkSerfFiles(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkSerfFiles refuses serf's snapshot (SnapshotFileName) and its
// compaction file when either is a symbolic link or not a regular file:
// serf opens them by path and would read or write through a link. A
// missing file is fine (serf creates it). Only the agent's user or root
// can write data_dir (dataDirProblem), so no one else can plant a link
// between this check and serf's open.
func checkSerfFiles(dir string) error {
	for _, name := range []string{SnapshotFileName, SnapshotFileName + ".compact"} {
		if err := nofollow.Check(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("data dir %s: serf opens %s by path: %w", dir, name, err)
		}
	}
	return nil
}

// dataDirProblem says why a user other than the agent's (and root) could
// write dir, or returns "" when none can. Such a user could plant links
// that the agent writes through, or replace its keyring, snapshot, peers
// and hook journal. A missing directory is fine: the agent creates it
// with mode 0700. Refused: a directory writable by every user (even with
// the sticky bit); one writable by its group when that group is not the
// agent's; one owned by a user other than the agent's and root (its owner
// can change its mode at will). The directories above it are not checked.
func dataDirProblem(dir string) string {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ""
	case err != nil:
		return fmt.Sprintf("cannot check who may write it: %v", err)
	case !st.IsDir():
		return fmt.Sprintf("%s is not a directory", dir)
	}
	mode := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	const advice = "other users could plant links there that the agent writes through, or replace its keyring and snapshot"
	switch {
	case mode&0o002 != 0:
		return fmt.Sprintf("%s is writable by every user (mode %04o): %s; chmod 0700 %s", dir, mode, advice, dir)
	case mode&0o020 != 0 && int(sys.Gid) != os.Getegid():
		return fmt.Sprintf("%s is writable by group %d, which is not the agent's group (%d) (mode %04o): %s; chmod 0700 %s", dir, sys.Gid, os.Getegid(), mode, advice, dir)
	case int(sys.Uid) != os.Geteuid() && sys.Uid != 0:
		return fmt.Sprintf("%s belongs to user %d, not to the agent's user (%d) or root, and its owner can change who may write it: chown it to the agent's user", dir, sys.Uid, os.Geteuid())
	}
	return ""
}
