package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-agent/vigil/agent"
)

// TestDocKubernetesManifests checks the Kubernetes manifests of the docs
// (YAML blocks with apiVersion, which TestDocConfigExamplesValidate leaves
// out) as far as they are vigil's: every document parses; a ConfigMap's
// vigil.yaml passes vigil validate; a vigil container's args parse as a
// vigil command line, and each VIGIL_* variable of its env is one the
// agent reads.
func TestDocKubernetesManifests(t *testing.T) {
	known := map[string]bool{"VIGIL_CONFIG": true, "VIGIL_CONFIG_DIR": true, "VIGIL_RUNTIME_DIR": true}
	for _, o := range agent.Options {
		known[o.EnvVar()] = true
	}
	configs, containers := 0, 0
	for _, b := range docBlocks(t) {
		if b.lang != "yaml" || !strings.Contains(b.body, "apiVersion:") {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader([]byte(b.body)))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s:%d: a manifest that does not parse: %v", b.file, b.line, err)
			}
			if data, ok := doc["data"].(map[string]any); ok && doc["kind"] == "ConfigMap" {
				if cfg, ok := data["vigil.yaml"].(string); ok {
					configs++
					path := filepath.Join(t.TempDir(), "vigil.yaml")
					if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
						t.Fatal(err)
					}
					if _, stderr, code := runVigil(t, "validate", path); code != 0 {
						t.Errorf("%s:%d: the ConfigMap's vigil.yaml is not valid:\n%s", b.file, b.line, stderr)
					}
				}
			}
			for _, c := range podContainers(doc) {
				if c.Name != "vigil" {
					continue
				}
				containers++
				if msg, code := parseOnly(c.Args); code != 0 {
					t.Errorf("%s:%d: container args %q: %s", b.file, b.line, c.Args, msg)
				}
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "VIGIL_") && !known[e.Name] {
						t.Errorf("%s:%d: the container sets %s, which the agent does not read", b.file, b.line, e.Name)
					}
				}
			}
		}
	}
	if configs == 0 || containers == 0 {
		t.Errorf("found %d vigil.yaml ConfigMaps and %d vigil containers in the docs' manifests, want some of each", configs, containers)
	}
}

// k8sContainer is what the test reads of a container.
type k8sContainer struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
	Env  []struct {
		Name string `yaml:"name"`
	} `yaml:"env"`
}

// podContainers returns the containers of a Deployment, StatefulSet,
// DaemonSet or Pod document.
func podContainers(doc map[string]any) []k8sContainer {
	spec, _ := doc["spec"].(map[string]any)
	if tmpl, ok := spec["template"].(map[string]any); ok {
		spec, _ = tmpl["spec"].(map[string]any)
	}
	raw, err := yaml.Marshal(spec["containers"])
	if err != nil {
		return nil
	}
	var out []k8sContainer
	_ = yaml.Unmarshal(raw, &out)
	return out
}
