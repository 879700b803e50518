package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-agent/vigil/events"
)

// sdAgent is a fake agent with instances by service, and members that
// offer those services.
type sdAgent struct {
	*fakeAgent
	byService map[string][]Instance
}

func (a *sdAgent) Instances(service string) []Instance { return a.byService[service] }

func newSDAgent() *sdAgent {
	a := &sdAgent{fakeAgent: newFakeAgent(), byService: map[string][]Instance{
		"web": {
			{Node: "web-1", Addr: "10.0.0.1", Port: 8080, Tags: map[string]string{"version": "1.4", "app.kubernetes.io/name": "shop"}, Health: "passing", Status: "alive"},
			{Node: "web-2", Addr: "fd00::2", Port: 8080, Tags: map[string]string{"a.b": "first", "a_b": "second", "a-b": "third"}, Health: "passing", Status: "alive"},
			{Node: "web-3", Addr: "10.0.0.3", Port: 8080, Tags: map[string]string{}, Health: "critical", Status: "alive"},
			{Node: "web-4", Addr: "10.0.0.4", Port: 8080, Health: "critical", Status: "failed"},
		},
		"db": {
			{Node: "db-1", Addr: "10.0.1.1", Port: 5432, Health: "passing", Status: "alive"},
			{Node: "db-2", Addr: "10.0.1.2", Port: 0, Health: "passing", Status: "alive"},
		},
	}}
	a.members = nil
	for _, svc := range []string{"web", "db"} {
		for _, in := range a.byService[svc] {
			a.members = append(a.members, events.Member{Name: in.Node, Addr: in.Addr, Status: in.Status,
				Tags: map[string]string{events.ServiceTag: svc}})
		}
	}
	a.members = append(a.members, events.Member{Name: "plain", Addr: "10.0.2.1", Status: "alive", Tags: map[string]string{"role": "x"}})
	return a
}

// prometheusContentType is the Content-Type Prometheus' HTTP SD accepts
// (discovery/http/http.go).
var prometheusContentType = regexp.MustCompile(`^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$`)

func TestSDPrometheus(t *testing.T) {
	h := New(newSDAgent(), zerolog.Nop()).Handler()
	tests := []struct {
		name    string
		query   string
		status  int
		targets []string // in order
	}{
		{name: "passing instances of every service", status: 200,
			targets: []string{"10.0.1.1:5432", "10.0.0.1:8080", "[fd00::2]:8080"}},
		{name: "one service", query: "?service=web", status: 200, targets: []string{"10.0.0.1:8080", "[fd00::2]:8080"}},
		{name: "every instance", query: "?passing=false", status: 200,
			targets: []string{"10.0.1.1:5432", "10.0.0.1:8080", "[fd00::2]:8080", "10.0.0.3:8080", "10.0.0.4:8080"}},
		{name: "passing, bare", query: "?passing&service=db", status: 200, targets: []string{"10.0.1.1:5432"}},
		{name: "unknown service", query: "?service=nosuch", status: 200, targets: []string{}},
		{name: "bad passing", query: "?passing=maybe", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, localRequest("GET", "/v1/sd/prometheus"+tt.query, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !prometheusContentType.MatchString(ct) {
				t.Errorf("Content-Type %q: Prometheus refuses it", ct)
			}
			var groups []TargetGroup
			if err := json.Unmarshal(rec.Body.Bytes(), &groups); err != nil || groups == nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			var got []string
			for _, g := range groups {
				if len(g.Targets) != 1 {
					t.Errorf("group %v: want one target", g)
				}
				got = append(got, g.Targets...)
			}
			if strings.Join(got, " ") != strings.Join(tt.targets, " ") {
				t.Errorf("targets %q, want %q", got, tt.targets)
			}
		})
	}
}

// TestSDPrometheusLabels: every label name is one Prometheus accepts;
// tag keys are sanitized, a collision kept by the key that sorts first.
func TestSDPrometheusLabels(t *testing.T) {
	h := New(newSDAgent(), zerolog.Nop()).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/sd/prometheus?service=web", nil))
	var groups []TargetGroup
	if err := json.Unmarshal(rec.Body.Bytes(), &groups); err != nil || len(groups) != 2 {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	labelName := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	for _, g := range groups {
		for k := range g.Labels {
			if !labelName.MatchString(k) {
				t.Errorf("label name %q is not valid", k)
			}
		}
	}
	want := []map[string]string{
		{"__meta_vigil_service": "web", "__meta_vigil_node": "web-1", "__meta_vigil_service_address": "10.0.0.1",
			"__meta_vigil_service_port": "8080", "__meta_vigil_health": "passing", "__meta_vigil_status": "alive",
			"__meta_vigil_tag_version": "1.4", "__meta_vigil_tag_app_kubernetes_io_name": "shop"},
		{"__meta_vigil_service": "web", "__meta_vigil_node": "web-2", "__meta_vigil_service_address": "fd00::2",
			"__meta_vigil_service_port": "8080", "__meta_vigil_health": "passing", "__meta_vigil_status": "alive",
			"__meta_vigil_tag_a_b": "third"}, // "a-b" sorts before "a.b" and "a_b"
	}
	for i, g := range groups {
		b1, _ := json.Marshal(g.Labels)
		b2, _ := json.Marshal(want[i])
		if string(b1) != string(b2) {
			t.Errorf("labels %s, want %s", b1, b2)
		}
	}
}

// TestSDPrometheusIsARead: with a token set, the endpoint answers without
// it (a read, as Prometheus sends no token by default); other methods
// need the token, as every write does, and are then a 405; the browser
// guard refuses a foreign page.
func TestSDPrometheusIsARead(t *testing.T) {
	h := New(newSDAgent(), zerolog.Nop(), WithToken("tok-0123456789abcdef")).Handler()
	tests := []struct {
		name   string
		method string
		token  string
		origin string
		status int
	}{
		{"GET without the token", "GET", "", "", 200},
		{"POST without the token", "POST", "", "", 401},
		{"POST with the token", "POST", "tok-0123456789abcdef", "", 405},
		{"a foreign page", "GET", "", "http://evil.example", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := localRequest(tt.method, "/v1/sd/prometheus", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

// TestDocPrometheusSD: http-api.md's example answers what it says, and
// its prometheus.yml snippet is YAML whose http_sd_configs URL is this
// endpoint on the default API address.
func TestDocPrometheusSD(t *testing.T) {
	sec := docSection(t, "../docs/http-api.md", "### GET /v1/sd/prometheus")
	examples := curlExamples(sec)
	if len(examples) != 1 {
		t.Fatalf("found %d curl examples, want 1", len(examples))
	}
	// The agent of the docs' examples: -dev on host vm with /tmp/svc.yaml.
	a := &sdAgent{fakeAgent: newFakeAgent(), byService: map[string][]Instance{
		"web": {{Node: "vm", Addr: "127.0.0.1", Port: 8080, Tags: map[string]string{"version": "1.4"}, Health: "passing", Status: "alive"}},
	}}
	a.members = []events.Member{{Name: "vm", Addr: "127.0.0.1", Status: "alive", Tags: map[string]string{events.ServiceTag: "web"}}}
	ts := httptest.NewServer(New(a, zerolog.Nop()).Handler())
	t.Cleanup(ts.Close)
	checkExample(t, examples[0], ts.Listener.Addr().String(), nil)

	_, rest, ok := strings.Cut(sec, "```yml\n")
	if !ok {
		t.Fatal("no ```yml block in the section")
	}
	body, _, _ := strings.Cut(rest, "```")
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			HTTPSDConfigs []struct {
				URL             string `yaml:"url"`
				RefreshInterval string `yaml:"refresh_interval"`
			} `yaml:"http_sd_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				TargetLabel  string   `yaml:"target_label"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v\n%s", err, body)
	}
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].HTTPSDConfigs) != 1 {
		t.Fatalf("want one scrape config with one http_sd_config: %+v", cfg)
	}
	u, err := url.Parse(cfg.ScrapeConfigs[0].HTTPSDConfigs[0].URL)
	if err != nil || u.Scheme != "http" || u.Host != "127.0.0.1:7947" || u.Path != "/v1/sd/prometheus" {
		t.Errorf("url %q (%v): want http://127.0.0.1:7947/v1/sd/prometheus", cfg.ScrapeConfigs[0].HTTPSDConfigs[0].URL, err)
	}
	// The URL routes to this endpoint as a GET.
	rec := httptest.NewRecorder()
	New(a, zerolog.Nop()).Handler().ServeHTTP(rec, localRequest(http.MethodGet, u.RequestURI(), nil))
	if rec.Code != 200 {
		t.Errorf("GET %s: %d", u.RequestURI(), rec.Code)
	}
	// Relabeling reads labels the endpoint sets.
	for _, rc := range cfg.ScrapeConfigs[0].RelabelConfigs {
		for _, l := range rc.SourceLabels {
			if !strings.HasPrefix(l, "__meta_vigil_") || !strings.Contains(examples[0].want, `"`+l+`"`) {
				t.Errorf("relabel source %s is not a label of the example's answer", l)
			}
		}
	}
}
