package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/agent"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// loadAgentConfig parses `vigil agent ARGS` and returns loadConfig's result
// without starting an agent.
func loadAgentConfig(t *testing.T, args ...string) (agent.Config, error) {
	t.Helper()
	cmd := agentCommand()
	var cfg agent.Config
	var lerr error
	ran := false
	cmd.Action = func(c *cli.Context) error {
		ran = true
		cfg, lerr = loadConfig(c)
		return nil
	}
	app := &cli.App{Name: "vigil", Commands: []*cli.Command{cmd}, DisableSliceFlagSeparator: true,
		Writer: &clientBuffer{}, ErrWriter: &clientBuffer{}}
	if err := app.Run(append([]string{"vigil", "agent"}, args...)); err != nil {
		t.Fatalf("vigil agent %q: %v", args, err)
	}
	if !ran {
		t.Fatalf("vigil agent %q did not run", args)
	}
	return cfg, lerr
}

func TestAgentConfigDir(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"10-base.yaml": "name: from-dir\ntags: {dc: east, role: replica}\n",
		"20-more.yml":  "tags: {role: primary}\nlog_level: warn\n",
		"notes.txt":    "this: [is not yaml\n",
		"old.yaml~":    "this: [is not yaml\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := clustertest.WriteConfig(t, "name: from-file\nlog_level: debug\ntags: {zone: a}\n")
	t.Setenv("VIGIL_CONFIG_DIR", "")

	tests := []struct {
		name string
		env  string
		args []string
		want func(t *testing.T, c agent.Config)
	}{
		{name: "after -config, in name order", args: []string{"-config", file, "-config-dir", dir},
			want: func(t *testing.T, c agent.Config) {
				if c.Name != "from-dir" || c.LogLevel != "warn" || c.Tags["role"] != "primary" || c.Tags["dc"] != "east" || c.Tags["zone"] != "a" {
					t.Errorf("name %q, log_level %q, tags %v", c.Name, c.LogLevel, c.Tags)
				}
			}},
		{name: "flags win over the dir", args: []string{"-config-dir", dir, "-name", "from-flag"},
			want: func(t *testing.T, c agent.Config) {
				if c.Name != "from-flag" || c.LogLevel != "warn" {
					t.Errorf("name %q, log_level %q", c.Name, c.LogLevel)
				}
			}},
		{name: "VIGIL_CONFIG_DIR", env: dir,
			want: func(t *testing.T, c agent.Config) {
				if c.Name != "from-dir" {
					t.Errorf("name %q", c.Name)
				}
			}},
		{name: "-config-dir wins over VIGIL_CONFIG_DIR", env: "/nonexistent", args: []string{"-config-dir", dir},
			want: func(t *testing.T, c agent.Config) {
				if c.Name != "from-dir" {
					t.Errorf("name %q", c.Name)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VIGIL_CONFIG_DIR", tt.env)
			cfg, err := loadAgentConfig(t, append([]string{"-bind", "127.0.0.1:7946"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			tt.want(t, cfg)
		})
	}

	// A bad file in the directory: the error names it and its line.
	bad := filepath.Join(dir, "30-bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nprofile: turbo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadAgentConfig(t, "-config-dir", dir)
	if err == nil || !strings.Contains(err.Error(), bad+":2: profile: unknown profile") {
		t.Errorf("bad file in the dir: %v", err)
	}
	if err := os.WriteFile(bad, []byte("naem: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadAgentConfig(t, "-config-dir", dir)
	if err == nil || !strings.Contains(err.Error(), bad+":1: naem: unknown key") {
		t.Errorf("unknown key in a dir file: %v", err)
	}
	_, err = loadAgentConfig(t, "-config-dir", filepath.Join(dir, "nope"))
	var ces agent.ConfigErrors
	if !errors.As(err, &ces) || !strings.Contains(err.Error(), "nope: config-dir: read config dir") {
		t.Errorf("missing dir: %v", err)
	}

	// vigil validate -config-dir checks the same files.
	_, stderr, err := runValidateCLI(t, "validate", "-config-dir", dir)
	if err == nil || !strings.Contains(stderr, bad+":1: naem: unknown key") {
		t.Errorf("validate -config-dir: %v\n%s", err, stderr)
	}
	os.Remove(bad)
	if out, _, err := runValidateCLI(t, "validate", "-config-dir", dir, file); err != nil || !strings.Contains(out, "name:     from-dir") {
		t.Errorf("validate -config-dir of a good dir: %v\n%s", err, out)
	}
}
