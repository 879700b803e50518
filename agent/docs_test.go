package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// yamlKeys returns the yaml keys of t's fields and, recursively, of the
// structs they hold, as paths: name, service.port, hooks[].run_on,
// checks[].interval, failover.flap_limit. Types with their own YAML
// decoding (durations) are leaves.
func yamlKeys(prefix string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		return yamlKeys(prefix+"[]", t.Elem())
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if prefix != "" {
		prefix += "."
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, prefix+name)
		keys = append(keys, yamlKeys(prefix+name, f.Type)...)
	}
	return keys
}

// TestConfigurationDocCoversEveryKey fails when a config key, flag or
// environment variable of the code is missing from docs/configuration.md,
// where each must appear in backticks: `key` (or `key:`) for a top-level
// key, its whole path for a nested one (`hooks[].run_on`), `-flag` and
// `VIGIL_FLAG`.
func TestConfigurationDocCoversEveryKey(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	keys := yamlKeys("", reflect.TypeOf(Config{}))
	if len(keys) < 40 {
		t.Fatalf("found only %d keys: the walk is broken: %q", len(keys), keys)
	}
	var missing []string
	for _, k := range keys {
		if !strings.Contains(doc, "`"+k+"`") && !strings.Contains(doc, "`"+k+":") {
			missing = append(missing, "key "+k)
		}
	}
	for _, o := range Options {
		if !strings.Contains(doc, "`-"+o.Flag) {
			missing = append(missing, "flag -"+o.Flag)
		}
		if !strings.Contains(doc, "`"+o.EnvVar()) {
			missing = append(missing, "variable "+o.EnvVar())
		}
	}
	for _, extra := range []string{"`-config-dir", "`VIGIL_CONFIG_DIR`", "`-config`", "`VIGIL_CONFIG`", "`-dev`", "`VIGIL_DEV`"} {
		if !strings.Contains(doc, extra) {
			missing = append(missing, extra)
		}
	}
	sort.Strings(missing)
	missing = compactStrings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md does not mention (in backticks):\n  %s", strings.Join(missing, "\n  "))
	}
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestSecurityDocNamesRealTests fails when docs/security.md names a test
// (`pkg.TestName`) that its package does not have, so the threat model
// never cites a test that was renamed or removed.
func TestSecurityDocNamesRealTests(t *testing.T) {
	b, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{"http": "../http", "agent": ".", "vigil": "../cmd/vigil", "membership": "../membership", "events": "../events", "hook": "../events/hook", "journal": "../events/journal", "dns": "../dns", "consul": "../consul", "ui": "../http/ui", "failover": "../events/failover", "etcdlock": "../events/failover/etcdlock", "probes": "../probes", "e2e": "../e2e", "nofollow": "../internal/nofollow", "faultnet": "../internal/faultnet"}
	cited := regexp.MustCompile("`([a-z]+)\\.(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(b), -1)
	if len(cited) < 10 {
		t.Fatalf("security.md cites only %d tests", len(cited))
	}
	for _, c := range cited {
		dir, ok := dirs[c[1]]
		if !ok {
			t.Errorf("security.md cites %s.%s: unknown package %s", c[1], c[2], c[1])
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		found := false
		for _, f := range files {
			src, _ := os.ReadFile(f)
			found = found || strings.Contains(string(src), "func "+c[2]+"(t *testing.T)")
		}
		if !found {
			t.Errorf("security.md cites %s.%s, which %s does not have", c[1], c[2], dir)
		}
	}
}
