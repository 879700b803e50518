package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestAgentRefusesSharedDataDir: vigil agent with a data_dir every user
// can write exits with status 2 and says which key and what to do, before
// it writes anything there; the message is the one the docs show.
func TestAgentRefusesSharedDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out, err := execVigil(t, "agent", "-name", "x", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0", "-data-dir", dir)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("vigil agent: %v, want exit status 2\n%s", err, out)
	}
	// The line docs/configuration.md shows, for its directory.
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "-data-dir: data_dir: /srv/vigil ") {
			want = strings.ReplaceAll(line, "/srv/vigil", dir)
		}
	}
	if want == "" {
		t.Fatal("docs/configuration.md shows no data_dir refusal")
	}
	if !strings.Contains(out, want+"\n") {
		t.Errorf("output:\n%s\nwant a line:\n%s", out, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the agent wrote %d files in the refused data_dir", len(entries))
	}
}

// TestAgentAPIFlags: -hook-http-token takes no value, and the cap flags
// are checked like the file's keys (exit status 2 naming the key).
func TestAgentAPIFlags(t *testing.T) {
	out, err := execVigil(t, "agent", "-name", "x", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-hook-http-token", "-http-max-connections", "5", "-http-max-streams", "5", "-http-allowed-host", "vigil.internal:80")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("vigil agent: %v, want exit status 2\n%s", err, out)
	}
	for _, want := range []string{
		"-http-max-streams: http_max_streams: 5: must be smaller than http_max_connections (5)",
		`-http-allowed-host: http_allowed_hosts[0]: "vigil.internal:80": want a host name or address without a port`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestAgentRefusesInvalidGossipInput: a member name, tag or user event
// filter that peers would refuse stops the agent at start with exit
// status 2 and an error naming the key and the flag, the name escaped;
// the first is the error docs/configuration.md shows.
func TestAgentRefusesInvalidGossipInput(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "-name: name: member name has") {
			documented = line
		}
	}
	if documented == "" {
		t.Fatal("docs/configuration.md shows no refused name")
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"ESC in -name", []string{"-name", "evil\x1b[2J"}, documented},
		{"newline in -tag", []string{"-name", "x", "-tag", "role=a\nb"}, `-tag: tags: value of tag "role" has the unprintable character U+000A at byte 1`},
		{"long -name", []string{"-name", strings.Repeat("n", 129)}, "-name: name: member name is 129 bytes long, over the limit of 128"},
		{"ESC in a -hook filter", []string{"-name", "x", "-hook", "user:de\x1bploy=/bin/true"}, `-hook: hook: event filter "user:de\x1bploy": user event name has the unprintable character U+001B`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"agent", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0"}, tt.args...)
			out, err := execVigil(t, args...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("vigil agent: %v, want exit status 2\n%s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output:\n%q\nwant it to contain:\n%s", out, tt.want)
			}
		})
	}
}

// TestAgentRefusesLinkedDataFiles: vigil agent exits with status 2,
// naming the file, when its data_dir holds a symbolic link as serf's
// snapshot (which serf opens by path) or as the hook journal, and writes
// nothing through the link; for the snapshot, with the message
// docs/configuration.md shows.
func TestAgentRefusesLinkedDataFiles(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var docLine string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "data dir /srv/vigil: serf opens serf.snapshot by path: ") {
			docLine = line
		}
	}
	if docLine == "" {
		t.Fatal("docs/configuration.md shows no refusal of a linked serf.snapshot")
	}
	tests := []struct {
		file, want string
	}{
		{"serf.snapshot", "serf.snapshot is a symbolic link: refusing to let it be followed"},
		{"serf.snapshot.compact", "serf.snapshot.compact is a symbolic link: refusing to let it be followed"},
		{"hooks.journal", "hooks.journal is a symbolic link: refusing to follow it"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			victim := clustertest.NewVictim(t)
			victim.LinkAt(t, filepath.Join(dir, tt.file))
			out, err := execVigil(t, "agent", "-name", "x", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0", "-data-dir", dir)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("vigil agent: %v, want exit status 2\n%s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output:\n%s\nwant %q", out, tt.want)
			}
			if want := "vigil: configuration error:\n" + strings.ReplaceAll(docLine, "/srv/vigil", dir) + "\n"; tt.file == "serf.snapshot" && !strings.Contains(out, want) {
				t.Errorf("output:\n%s\nwant the lines docs/configuration.md shows:\n%s", out, want)
			}
			victim.CheckIntact(t)
		})
	}
}
