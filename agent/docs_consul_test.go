package agent

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-agent/vigil/events"
)

// docConsulBlocks returns docs/consul.md's fenced blocks in order, each
// as its language and body.
func docConsulBlocks(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile("../docs/consul.md")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	parts := strings.Split(string(b), "```")
	for i := 1; i+1 < len(parts); i += 2 {
		lang, body, _ := strings.Cut(parts[i], "\n")
		out = append(out, [2]string{strings.TrimSpace(lang), body})
	}
	return out
}

// consulTemplateService is the part of consul-template's HealthService
// (what `range service` gives) that templates use, filled as
// consul-template fills it from a health entry.
type consulTemplateService struct {
	Node, NodeAddress, Address, ID, Name, Status string
	Port                                         int
	Tags                                         []string
	ServiceMeta, NodeMeta                        map[string]string
}

// TestDocConsulExamples runs docs/consul.md's examples against an agent
// set up as its first blocks say: every curl line (answers compared, the
// indexes aside), the consul-template template (rendered with a service
// function that asks what consul-template asks), the Prometheus snippet
// (parsed) and the write refusal.
func TestDocConsulExamples(t *testing.T) {
	blocks := docConsulBlocks(t)
	if len(blocks) < 8 || blocks[0][0] != "yaml" || !strings.Contains(blocks[1][1], "-consul-http 127.0.0.1:8500") {
		t.Fatalf("docs/consul.md no longer starts with the svc.yaml and agent blocks the test sets up: %q", blocks[:2])
	}
	var svc Config
	if err := yaml.Unmarshal([]byte(blocks[0][1]), &svc); err != nil || svc.Service == nil {
		t.Fatalf("svc.yaml: %v", err)
	}
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.Name = "vm"
		c.Service, c.Checks = svc.Service, svc.Checks
		c.ConsulHTTP = "127.0.0.1:0"
		c.DNS = ""
	})
	waitUntil(t, 10*time.Second, "the service to pass", func() bool {
		return len(a.Instances("web")) == 1 && a.Instances("web")[0].Health == events.HealthPassing
	})
	addr := a.ConsulAddr()
	index := regexp.MustCompile(`"(CreateIndex|ModifyIndex)":\d+`)
	normalize := func(s string) string { return index.ReplaceAllString(strings.TrimSpace(s), `"$1":0`) }

	curls := 0
	for i, b := range blocks {
		line := strings.TrimSpace(b[1])
		switch {
		case b[0] == "sh" && strings.HasPrefix(line, "curl -s ") && !strings.Contains(line, "\n"):
			if i+1 >= len(blocks) || blocks[i+1][0] != "json" {
				t.Fatalf("%s: no json block after it", line)
			}
			target := strings.Trim(strings.TrimPrefix(line, "curl -s "), "'")
			path, ok := strings.CutPrefix(target, "127.0.0.1:8500")
			if !ok {
				t.Fatalf("%s: want the example's address 127.0.0.1:8500", line)
			}
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if normalize(string(got)) != normalize(blocks[i+1][1]) {
				t.Errorf("%s answers:\n%s\ndocs/consul.md says:\n%s", line, got, blocks[i+1][1])
			}
			curls++
		case b[0] == "" && strings.Contains(line, `range service "web"`):
			c, err := consulapi.NewClient(&consulapi.Config{Address: addr})
			if err != nil {
				t.Fatal(err)
			}
			service := func(name string) ([]consulTemplateService, error) {
				entries, _, err := c.Health().Service(name, "", true, &consulapi.QueryOptions{AllowStale: true})
				var out []consulTemplateService
				for _, e := range entries {
					addr := e.Service.Address
					if addr == "" {
						addr = e.Node.Address
					}
					out = append(out, consulTemplateService{Node: e.Node.Node, NodeAddress: e.Node.Address, Address: addr,
						ID: e.Service.ID, Name: e.Service.Service, Status: e.Checks.AggregatedStatus(), Port: e.Service.Port,
						Tags: e.Service.Tags, ServiceMeta: e.Service.Meta, NodeMeta: e.Node.Meta})
				}
				return out, err
			}
			tmpl, err := template.New("upstream").Funcs(template.FuncMap{"service": service}).Parse(b[1])
			if err != nil {
				t.Fatalf("the template: %v", err)
			}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, nil); err != nil {
				t.Fatalf("the template: %v", err)
			}
			want := ""
			for _, later := range blocks[i+1:] {
				if later[0] == "" {
					want = later[1]
					break
				}
			}
			if out.String() != want {
				t.Errorf("the template renders:\n%s\ndocs/consul.md says:\n%s", out.String(), want)
			}
		case b[0] == "yml":
			var cfg struct {
				ScrapeConfigs []struct {
					ConsulSDConfigs []struct {
						Server string `yaml:"server"`
					} `yaml:"consul_sd_configs"`
				} `yaml:"scrape_configs"`
			}
			if err := yaml.Unmarshal([]byte(b[1]), &cfg); err != nil || len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].ConsulSDConfigs) != 1 {
				t.Fatalf("prometheus.yml: %v %+v", err, cfg)
			}
			if s := cfg.ScrapeConfigs[0].ConsulSDConfigs[0].Server; s != "127.0.0.1:8500" {
				t.Errorf("consul_sd_configs server %q, want the example's 127.0.0.1:8500", s)
			}
		case b[0] == "" && strings.HasPrefix(line, `{"error":"PUT `):
			method, rest, _ := strings.Cut(strings.TrimPrefix(line, `{"error":"`), " ")
			path, _, _ := strings.Cut(rest, ":")
			req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			prefix, _, _ := strings.Cut(line, "...")
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.HasPrefix(string(got), prefix) {
				t.Errorf("%s %s: %d %s, want 405 starting %s", method, path, resp.StatusCode, got, prefix)
			}
		}
	}
	if curls < 2 {
		t.Fatalf("ran %d curl examples", curls)
	}
}
