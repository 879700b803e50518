package probes

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefinitionYAML(t *testing.T) {
	src := `
- id: web
  http: http://127.0.0.1:8080/health
  method: POST
  header:
    X-Token: [abc]
  body: '{"deep": true}'
  tls_skip_verify: true
  interval: 5s
  timeout: 2s
  success_before_passing: 2
  failures_before_warning: 1
  failures_before_critical: 3
  initial_status: passing
- id: heartbeat
  ttl: 1m30s
- id: script
  exec: ["/usr/local/bin/check-db", "--quick"]
- id: rpc
  grpc: 127.0.0.1:9090
  grpc_service: orders
`
	var defs []Definition
	if err := yaml.Unmarshal([]byte(src), &defs); err != nil {
		t.Fatal(err)
	}
	want := Definition{
		ID: "web", HTTP: "http://127.0.0.1:8080/health", Method: "POST",
		Header: map[string][]string{"X-Token": {"abc"}}, Body: `{"deep": true}`, TLSSkipVerify: true,
		Interval: Duration(5 * time.Second), Timeout: Duration(2 * time.Second),
		SuccessBeforePassing: 2, FailuresBeforeWarning: 1, FailuresBeforeCritical: 3, InitialStatus: Passing,
	}
	got := defs[0]
	if got.ID != want.ID || got.HTTP != want.HTTP || got.Method != want.Method || got.Header["X-Token"][0] != "abc" ||
		got.Body != want.Body || !got.TLSSkipVerify || got.Interval != want.Interval || got.Timeout != want.Timeout ||
		got.SuccessBeforePassing != 2 || got.FailuresBeforeWarning != 1 || got.FailuresBeforeCritical != 3 ||
		got.InitialStatus != Passing {
		t.Errorf("decoded %+v\nwant %+v", got, want)
	}
	if defs[1].TTL != Duration(90*time.Second) || defs[1].Kind() != KindTTL {
		t.Errorf("ttl check: %+v", defs[1])
	}
	if defs[2].Kind() != KindExec || len(defs[2].Exec) != 2 {
		t.Errorf("exec check: %+v", defs[2])
	}
	if defs[3].Kind() != KindGRPC || defs[3].GRPCService != "orders" {
		t.Errorf("grpc check: %+v", defs[3])
	}
	for _, d := range defs {
		if err := d.Validate(); err != nil {
			t.Errorf("check %s: %v", d.ID, err)
		}
	}

	out, err := yaml.Marshal(defs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "interval: 5s") || !strings.Contains(string(out), "timeout: 2s") {
		t.Errorf("marshalled:\n%s", out)
	}
	var back Definition
	if err := yaml.Unmarshal(out, &back); err != nil || back.Interval != defs[0].Interval {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestDurationYAMLErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no unit", "id: a\ntcp: h:1\ninterval: 10\n", "line 3"},
		{"garbage", "id: a\ninterval: soon\n", `line 2: invalid duration "soon"`},
		{"not a scalar", "id: a\n\ntimeout: [1s]\n", "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Definition
			err := yaml.Unmarshal([]byte(tt.src), &d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestKindAndDefaults(t *testing.T) {
	tests := []struct {
		def               Definition
		kind              string
		interval, timeout time.Duration
		method            string
	}{
		{Definition{HTTP: "http://x"}, KindHTTP, 10 * time.Second, 10 * time.Second, "GET"},
		{Definition{TCP: "x:1"}, KindTCP, 10 * time.Second, 10 * time.Second, ""},
		{Definition{GRPC: "x:1"}, KindGRPC, 10 * time.Second, 10 * time.Second, ""},
		{Definition{Exec: []string{"true"}}, KindExec, 10 * time.Second, 30 * time.Second, ""},
		{Definition{TTL: Duration(time.Minute)}, KindTTL, 0, 0, ""},
		{Definition{TCP: "x:1", Interval: Duration(3 * time.Second), Timeout: Duration(time.Second)}, KindTCP, 3 * time.Second, time.Second, ""},
		{Definition{TCP: "x:1", HTTP: "http://x"}, "", 0, 0, ""},
		{Definition{}, "", 0, 0, ""},
	}
	for _, tt := range tests {
		d := tt.def.WithDefaults()
		if d.Kind() != tt.kind || time.Duration(d.Interval) != tt.interval || time.Duration(d.Timeout) != tt.timeout ||
			d.Method != tt.method || d.InitialStatus != Critical {
			t.Errorf("%+v with defaults: kind %q interval %s timeout %s method %q initial %q",
				tt.def, d.Kind(), d.Interval, d.Timeout, d.Method, d.InitialStatus)
		}
		if again := d.WithDefaults(); again.Interval != d.Interval || again.Timeout != d.Timeout || again.Method != d.Method {
			t.Errorf("WithDefaults is not idempotent for %+v", tt.def)
		}
	}
}

func TestValidate(t *testing.T) {
	sec := Duration(time.Second)
	tests := []struct {
		name string
		def  Definition
		want []string // substrings of the error; none means valid
	}{
		{"http", Definition{ID: "web", HTTP: "https://127.0.0.1:8443/health"}, nil},
		{"tcp", Definition{ID: "db", TCP: "localhost:5432"}, nil},
		{"tcp ipv6", Definition{ID: "db", TCP: "[::1]:5432"}, nil},
		{"exec", Definition{ID: "s", Exec: []string{"/bin/true"}}, nil},
		{"grpc", Definition{ID: "g", GRPC: "127.0.0.1:9090", GRPCService: "x"}, nil},
		{"ttl", Definition{ID: "t", TTL: sec}, nil},
		{"interval exactly 1s", Definition{ID: "a", TCP: "h:1", Interval: sec}, nil},
		{"thresholds", Definition{ID: "a", TCP: "h:1", SuccessBeforePassing: 2, FailuresBeforeWarning: 1, FailuresBeforeCritical: 3}, nil},

		{"interval 500ms", Definition{ID: "a", TCP: "h:1", Interval: Duration(500 * time.Millisecond)}, []string{"interval 500ms: below the 1s minimum"}},
		{"negative interval", Definition{ID: "a", TCP: "h:1", Interval: -sec}, []string{"interval -1s: below the 1s minimum"}},
		{"two kinds", Definition{ID: "a", TCP: "h:1", HTTP: "http://h"}, []string{"kind: http, tcp are all set; set exactly one"}},
		{"no kind", Definition{ID: "a"}, []string{"kind: set one of"}},
		{"no id", Definition{TCP: "h:1"}, []string{"id: required"}},
		{"bad id", Definition{ID: "my check/1", TCP: "h:1"}, []string{`id "my check/1": want letters`}},
		{"ttl below 1s", Definition{ID: "a", TTL: Duration(100 * time.Millisecond)}, []string{"ttl 100ms: below the 1s minimum"}},
		{"interval on ttl", Definition{ID: "a", TTL: sec, Interval: sec}, []string{"interval: ttl checks are not probed"}},
		{"thresholds on ttl", Definition{ID: "a", TTL: sec, FailuresBeforeCritical: 2}, []string{"do not apply to ttl checks"}},
		{"negative timeout", Definition{ID: "a", TCP: "h:1", Timeout: -sec}, []string{"timeout -1s: must be positive"}},
		{"negative threshold", Definition{ID: "a", TCP: "h:1", SuccessBeforePassing: -1}, []string{"success_before_passing -1: must not be negative"}},
		{"warning above critical", Definition{ID: "a", TCP: "h:1", FailuresBeforeWarning: 4, FailuresBeforeCritical: 2}, []string{"failures_before_warning 4: above failures_before_critical 2"}},
		{"initial status", Definition{ID: "a", TCP: "h:1", InitialStatus: "ok"}, []string{`initial_status "ok"`}},
		{"url scheme", Definition{ID: "a", HTTP: "ftp://h/x"}, []string{`http "ftp://h/x": scheme "ftp": want http or https`}},
		{"url no host", Definition{ID: "a", HTTP: "http:///x"}, []string{"no host"}},
		{"url unparsable", Definition{ID: "a", HTTP: "http://h:port/"}, []string{`http "http://h:port/"`}},
		{"tcp no port", Definition{ID: "a", TCP: "localhost"}, []string{`tcp "localhost": want host:port`}},
		{"tcp bad port", Definition{ID: "a", TCP: "localhost:99999"}, []string{`port "99999"`}},
		{"tcp no host", Definition{ID: "a", TCP: ":80"}, []string{"the host is empty"}},
		{"grpc addr", Definition{ID: "a", GRPC: "h"}, []string{`grpc "h": want host:port`}},
		{"exec empty program", Definition{ID: "a", Exec: []string{""}}, []string{"exec: the program"}},
		{"method on tcp", Definition{ID: "a", TCP: "h:1", Method: "GET"}, []string{"method: only http checks use it"}},
		{"grpc_service on tcp", Definition{ID: "a", TCP: "h:1", GRPCService: "x"}, []string{"grpc_service: only grpc checks"}},
		{"bad method", Definition{ID: "a", HTTP: "http://h", Method: "GE T"}, []string{`method "GE T"`}},
		{"bad header", Definition{ID: "a", HTTP: "http://h", Header: map[string][]string{"X-A": {"a\r\nB: c"}}}, []string{`header "X-A": value has a line break`}},
		{"several problems at once", Definition{ID: "", TCP: "h:1", Interval: Duration(time.Millisecond), FailuresBeforeCritical: -1},
			[]string{"id: required", "interval 1ms", "failures_before_critical -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.def.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
