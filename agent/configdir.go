package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ConfigDirFiles returns the config files of dir, in name order: every
// regular file (or symbolic link to one) whose name ends in .yaml or .yml
// and does not start with a dot. Other files and subdirectories are
// ignored, so a directory can hold READMEs and editor backups, and a
// Kubernetes ConfigMap mount (whose ..data entries start with dots) works.
func ConfigDirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, ConfigErrors{{Where: dir, Key: "config-dir", Msg: fmt.Sprintf("read config dir: %v", unwrapPathError(err))}}
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows symbolic links
		if err != nil {
			return nil, ConfigErrors{{Where: path, Msg: fmt.Sprintf("read config: %v", unwrapPathError(err))}}
		}
		if info.Mode().IsRegular() {
			files = append(files, path)
		}
	}
	sort.Strings(files)
	return files, nil
}

// LoadDir loads the config files of dir (see ConfigDirFiles) over c, in
// name order, each as LoadFile would: a later file wins over an earlier
// one, and over the files loaded before. It stops at the first file with
// an error; errors name the file.
func (c *Config) LoadDir(dir string) error {
	files, err := ConfigDirFiles(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := c.LoadFile(f); err != nil {
			return err
		}
	}
	return nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
