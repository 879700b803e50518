package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigDirFiles(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "20-tags.yml"), "tags: {b: two}\n")
	write(filepath.Join(dir, "10-name.yaml"), "name: ten\ntags: {a: one}\n")
	write(filepath.Join(dir, "README.md"), "not: [yaml\n")
	write(filepath.Join(dir, "30-old.yaml.bak"), "not: [yaml\n")
	write(filepath.Join(dir, ".10-name.yaml.swp"), "not: [yaml\n")
	write(filepath.Join(dir, ".hidden.yaml"), "not: [yaml\n")
	write(filepath.Join(dir, "sub.yaml", "x.yaml"), "not: [yaml\n") // a directory named *.yaml
	write(filepath.Join(other, "linked.yaml"), "log_level: warn\n")
	if err := os.Symlink(filepath.Join(other, "linked.yaml"), filepath.Join(dir, "15-linked.yaml")); err != nil {
		t.Fatal(err)
	}

	files, err := ConfigDirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "10-name.yaml"), filepath.Join(dir, "15-linked.yaml"), filepath.Join(dir, "20-tags.yml")}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("ConfigDirFiles = %q\nwant %q", files, want)
	}

	cfg := Default()
	if err := cfg.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "ten" || cfg.LogLevel != "warn" || cfg.Tags["a"] != "one" || cfg.Tags["b"] != "two" {
		t.Errorf("after LoadDir: name %q, log_level %q, tags %v", cfg.Name, cfg.LogLevel, cfg.Tags)
	}

	write(filepath.Join(dir, "25-bad.yaml"), "name: x\nbnd: 1.2.3.4:1\n")
	fresh := Default()
	err = fresh.LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "25-bad.yaml")+":2: bnd: unknown key") {
		t.Errorf("bad file in dir: %v", err)
	}

	_, err = ConfigDirFiles(filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")+": config-dir: read config dir: no such file or directory") {
		t.Errorf("missing dir: %v", err)
	}
}
