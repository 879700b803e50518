// Package nofollow opens the files of vigil's data directory without
// following a symbolic link in the last component of their path: a link
// there, which only someone who can write the directory could plant, is
// an error, never a file elsewhere read, truncated or written as vigil's
// own.
package nofollow

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Open opens path like os.OpenFile with O_NOFOLLOW (and O_NONBLOCK, so a
// FIFO planted there does not block), and refuses what is not a regular
// file. A symbolic link is an error that says so and wraps syscall.ELOOP;
// a missing file wraps fs.ErrNotExist as os.OpenFile's does.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: refusing to follow it (vigil writes its data_dir files itself; remove the link): %w", path, err)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	return f, nil
}

// Check reports, without opening it, why path can't be a data file that
// another program opens by path (following links): a symbolic link, or
// something else that is not a regular file. A missing file is fine.
func Check(path string) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refusing to let it be followed (vigil writes its data_dir files itself; remove the link)", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	return nil
}
