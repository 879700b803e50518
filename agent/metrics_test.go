package agent

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-agent/vigil/probes"
)

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of fam with exactly the labels
// given (name, value pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, fam string, labels ...string) (float64, bool) {
	f, ok := fams[fam]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsEndpoint scrapes a running agent with hooks and checks and
// checks every vigil series, plus serf's, memberlist's and Go's.
func TestMetricsEndpoint(t *testing.T) {
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.Service = &ServiceConfig{Name: "web", Port: 8080}
		c.Checks = []probes.Definition{
			{ID: "ttl", TTL: probes.Duration(time.Minute)},
			{ID: "exec", Exec: []string{"true"}, Interval: probes.Duration(time.Second)},
		}
		c.Hooks = []HookConfig{
			{Name: "ok-hook", On: []string{"user:deploy"}, Shell: "exit 0"},
			{Name: "bad-hook", On: []string{"user:deploy"}, Shell: "exit 3"},
		}
	})
	post := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+a.http+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token) // the token the agent made
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	post("POST", "/v1/event", `{"name":"deploy","payload":"v1"}`)
	post("PUT", "/v1/checks/ttl/pass", "")
	waitUntil(t, 10*time.Second, "both hooks to run and the exec check to pass", func() bool {
		fams := scrape(t, a.http)
		ok, _ := value(fams, "vigil_hook_runs_total", "hook", "ok-hook", "outcome", "ok")
		bad, _ := value(fams, "vigil_hook_runs_total", "hook", "bad-hook", "outcome", "failed")
		exec, _ := value(fams, "vigil_check_status", "check", "exec", "status", "passing")
		return ok == 1 && bad == 1 && exec == 1
	})
	fams := scrape(t, a.http)

	want := []struct {
		fam    string
		labels []string
		value  float64
	}{
		{"vigil_members", []string{"status", "alive"}, 1},
		{"vigil_members", []string{"status", "failed"}, 0},
		{"vigil_members", []string{"status", "left"}, 0},
		{"vigil_events_total", []string{"event", "member-join"}, 1},
		{"vigil_events_total", []string{"event", "user"}, 1},
		{"vigil_events_total", []string{"event", "member-failed"}, 0},
		{"vigil_hook_runs_total", []string{"hook", "ok-hook", "outcome", "ok"}, 1},
		{"vigil_hook_runs_total", []string{"hook", "ok-hook", "outcome", "failed"}, 0},
		{"vigil_hook_runs_total", []string{"hook", "bad-hook", "outcome", "failed"}, 1},
		{"vigil_hook_duration_seconds", []string{"hook", "ok-hook"}, 1}, // sample count
		{"vigil_hook_duration_seconds", []string{"hook", "bad-hook"}, 1},
		{"vigil_hook_queue_depth", []string{"hook", "ok-hook"}, 0},
		{"vigil_hook_queue_depth", []string{"hook", "bad-hook"}, 0},
		{"vigil_check_status", []string{"check", "ttl", "status", "passing"}, 1},
		{"vigil_check_status", []string{"check", "ttl", "status", "critical"}, 0},
		{"vigil_check_status", []string{"check", "ttl", "status", "warning"}, 0},
		{"vigil_check_status", []string{"check", "exec", "status", "passing"}, 1},
	}
	for _, w := range want {
		got, ok := value(fams, w.fam, w.labels...)
		if !ok {
			t.Errorf("no series %s%v", w.fam, w.labels)
			continue
		}
		// Check events, health events and the like may add to the
		// counters below; the exact ones are exact.
		if got != w.value && !(w.fam == "vigil_events_total" && w.value > 0 && got >= w.value) {
			t.Errorf("%s%v = %v, want %v", w.fam, w.labels, got, w.value)
		}
	}
	if f := fams["vigil_hook_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("vigil_hook_duration_seconds is a %v", f.GetType())
	} else {
		for _, m := range f.GetMetric() {
			if s := m.GetHistogram().GetSampleSum(); s < 0 || s > 10 {
				t.Errorf("hook duration sum %v s is not sane", s)
			}
		}
	}
	if d, ok := value(fams, "vigil_check_duration_seconds", "check", "exec"); !ok || d <= 0 || d > 5 {
		t.Errorf("vigil_check_duration_seconds{check=exec} = %v, %v; want a positive duration", d, ok)
	}
	if _, ok := value(fams, "vigil_check_duration_seconds", "check", "ttl"); ok {
		t.Error("a TTL check has a probe duration")
	}

	// serf's and memberlist's own metrics come through go-metrics.
	var serf, memberlist bool
	for name := range fams {
		serf = serf || strings.HasPrefix(name, "vigil_serf_")
		memberlist = memberlist || strings.HasPrefix(name, "vigil_memberlist_")
	}
	if !serf || !memberlist {
		t.Errorf("serf metrics: %v, memberlist metrics: %v; want both", serf, memberlist)
	}
	if v, ok := value(fams, "go_goroutines"); !ok || v < 1 {
		t.Errorf("go_goroutines = %v, %v", v, ok)
	}
}
