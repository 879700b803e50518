package membership

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxDataFile bounds what is read of a data_dir file (keyring, peers): both
// are small; a huge one is not vigil's.
const maxDataFile = 16 << 20

// ReadFileNoFollow reads a regular file of the data directory without
// following a symbolic link in its last component: a link there (which
// only someone who can write the directory could plant) is an error, never
// a file elsewhere read as vigil's own. Errors wrap the os errors
// (fs.ErrNotExist for a missing file).
func ReadFileNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: refusing to follow it (vigil writes its data_dir files itself; remove the link): %w", path, err)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDataFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDataFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxDataFile)
	}
	return b, nil
}
