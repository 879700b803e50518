package clustertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteConfig writes body, without its leading newlines, as vigil.yaml in a
// fresh test directory (mode 0600: a configuration may hold a key or a
// token) and returns its path, for an agent's -config.
func WriteConfig(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := WriteConfigFile(p, body); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteConfigFile is WriteConfig for code that is not a test (the
// benchmark): it writes body, without its leading newlines, to path, mode
// 0600.
func WriteConfigFile(path, body string) error {
	return os.WriteFile(path, []byte(strings.TrimLeft(body, "\n")), 0o600)
}

// Victim is a file that a test points a symbolic link at, planted where an
// agent writes (its data_dir), to show that the agent does not follow it.
type Victim struct {
	// Path is the file's path.
	Path string
}

// victimContent is what a Victim holds until something writes through a
// link to it.
const victimContent = "precious\n"

// NewVictim writes a file holding "precious\n" in a fresh test directory.
func NewVictim(t testing.TB) Victim {
	t.Helper()
	v := Victim{Path: filepath.Join(t.TempDir(), "victim")}
	if err := os.WriteFile(v.Path, []byte(victimContent), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// LinkAt plants a symbolic link to the victim at path.
func (v Victim) LinkAt(t testing.TB, path string) {
	t.Helper()
	if err := os.Symlink(v.Path, path); err != nil {
		t.Fatal(err)
	}
}

// CheckIntact fails the test if the victim no longer holds what NewVictim
// wrote.
func (v Victim) CheckIntact(t testing.TB) {
	t.Helper()
	if b, _ := os.ReadFile(v.Path); string(b) != victimContent {
		t.Errorf("the link's target %s was changed to %q", v.Path, b)
	}
}
