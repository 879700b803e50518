package membership

import (
	"fmt"
	"io"
	"os"

	"github.com/vigil-agent/vigil/internal/nofollow"
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
	f, err := nofollow.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDataFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDataFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxDataFile)
	}
	return b, nil
}
