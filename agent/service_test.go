package agent

import (
	"strings"
	"testing"
	"time"
)

func TestServiceValidation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // "" means valid
	}{
		{name: "valid", body: "service: {name: web, port: 8080, tags: {version: '1.4'}}\nchecks:\n  - id: web-http\n    http: http://127.0.0.1:8080/health\n    interval: 2s\n"},
		{name: "checks without service", body: "checks:\n  - id: t\n    ttl: 10s\n", want: "checks: checks need a service"},
		{name: "bad port", body: "service: {name: web, port: 0}\n", want: "vigil.yaml:1: service.port: 0"},
		{name: "bad name", body: "service: {name: 'web api', port: 80}\n", want: "service.name"},
		{name: "interval below 1s", body: "service: {name: web, port: 80}\nchecks:\n  - id: x\n    tcp: 127.0.0.1:80\n    interval: 500ms\n", want: "vigil.yaml:3: checks[0]:"},
		{name: "duplicate check id", body: "service: {name: web, port: 80}\nchecks:\n  - {id: x, tcp: '127.0.0.1:80'}\n  - {id: x, ttl: 10s}\n", want: `check id "x" is used twice`},
		{name: "reserved tag", body: "tags: {health: passing}\n", want: `tag "health" is reserved`},
		{name: "tags over serf's limit", body: "service: {name: web, port: 80, tags: {note: '" + strings.Repeat("x", 500) + "'}}\n", want: "over serf's limit of 512"},
		{name: "bad max_runs_per", body: "hooks:\n  - {name: r, shell: 'true', max_runs_per: 'often'}\n", want: "vigil.yaml:2: hooks[0].max_runs_per"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, tt.body, tt.want)
		})
	}
}

func TestServiceFlagsAndGossipTags(t *testing.T) {
	cfg := Default()
	for flag, v := range map[string]string{"service": "web:8080", "check-http": "http://127.0.0.1:8080/health", "check-interval": "3s"} {
		for _, o := range Options {
			if o.Flag == flag {
				if err := cfg.ApplyOption(o, v, "-"+flag); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	defs := cfg.checkDefinitions()
	if len(defs) != 1 || defs[0].ID != "http" || time.Duration(defs[0].Interval) != 3*time.Second {
		t.Errorf("flag check = %+v", defs)
	}
	cfg.Tags["role"] = "primary"
	cfg.Service.Tags = map[string]string{"version": "1.4"}
	tags := cfg.gossipTags("critical", 7)
	want := map[string]string{"role": "primary", "service": "web", "service_port": "8080", "svc:version": "1.4", "health": "critical", "health_seq": "7", "boot": cfg.boot}
	if len(tags) != len(want) {
		t.Errorf("tags %v, want %v", tags, want)
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
}
