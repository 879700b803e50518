package agent

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// configFuzzSeeds are valid and broken config files: every key kind
// (scalars, durations, lists, maps, nested hooks and checks), YAML
// features (anchors, aliases, flow style, documents) and known errors.
// The committed corpus in testdata/fuzz/FuzzConfigDecode adds more.
var configFuzzSeeds = []string{
	"",
	"name: db-2\nbind: 10.0.0.6:7946\njoin: [10.0.0.5:7946]\ntags: {role: replica}\nservice: {name: db, port: 5432}\n" +
		"checks:\n  - id: pg\n    tcp: 127.0.0.1:5432\n    interval: 2s\n" +
		"hooks:\n  - name: on-failed\n    on: [member-failed]\n    command: [/etc/vigil/on-failed.sh]\n    timeout: 30s\n",
	"hooks:\n  - name: promote\n    on: [member-failed]\n    run_on: one\n    quorum: majority\n    settle: 3s\n    retries: 2\n" +
		"    max_runs_per: 3/10m\n    match: {service: db, role: primary}\n    eligible: {role: replica}\n    shell: ./promote.sh\n" +
		"failover: {flap_limit: 3, flap_window: 10m, brake_fraction: 0.5, brake_window: 30s}\n",
	"probe_interval: 500ms\nprobe_timeout: 200ms\nsuspicion_mult: 3\ngossip_interval: 100ms\ngossip_nodes: 4\n" +
		"retransmit_mult: 5\nreconnect_interval: 10s\nreconnect_timeout: 1h\ndrain: 5s\nprofile: fast\n",
	"http: 0.0.0.0:7947\nhttp_token: 0123456789abcdef0123\nencrypt: cg8StVXbQJ0gPvMd9o7yrg==\nlog_level: debug\nlog_format: json\n",
	"base: &b {name: x, shell: 'true'}\nhooks: [*b, *b]\n",
	"a: &a [*a]\n",
	"name: [\n",
	"hook_timeout: 10\n",
	"join: 5\n",
	"bnid: 1.2.3.4:1\n",
	"hooks:\n  - name: x\n    shell: 'true'\n    tiemout: 5s\n",
	"---\nname: a\n---\nname: b\n",
	"tags: ~\nservice: ~\nhooks: ~\n",
	"\"my key\": 1\n",
	"name: \"\\xff\"\n",
	"checks:\n  - id: web\n    http: http://127.0.0.1:8080/health\n    interval: 1s\n    timeout: 500ms\n    rise: 2\n    fall: 3\n",
	"!!binary gIGC: x\n",
	"? [a, b]\n: c\n",
	"{name: x, tags: {a: 1, b: [1]}}\n",
}

func FuzzConfigDecode(f *testing.F) {
	for _, s := range configFuzzSeeds {
		f.Add([]byte(s))
	}
	lineInMsg := regexp.MustCompile(`^line \d+:`)
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz.yaml"
		c := Default()
		err := c.loadYAML(path, data)
		if err != nil {
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("loadYAML error is %T, want non-empty ConfigErrors: %v", err, err)
			}
			for _, e := range errs {
				// Every error names the file, and the line when YAML
				// knows it: a "line N:" left in the message means the
				// location was not lifted into Where.
				if e.Where != path && !strings.HasPrefix(e.Where, path+":") {
					t.Fatalf("error %q does not name the file %s", e, path)
				}
				if e.Msg == "" {
					t.Fatalf("error with an empty message: %#v", e)
				}
				if lineInMsg.MatchString(e.Msg) {
					t.Fatalf("error %q: its line number was not made a location", e)
				}
				if strings.Contains(e.Msg, "not found in type") {
					t.Fatalf("error %q: an unknown key not reported as one", e)
				}
			}
			return
		}
		for key, p := range c.lines {
			if p.source != path || p.line < 1 {
				t.Fatalf("key %q recorded at %q, want a line of %s", key, p, path)
			}
		}
		// Validate must not touch the file system for arbitrary paths:
		// TLS files named by the input are replaced by one that does not
		// exist (a fuzzer could name /dev/zero).
		if c.HTTPTLSCert != "" {
			c.HTTPTLSCert = "/nonexistent/vigil-fuzz/cert.pem"
		}
		if c.HTTPTLSKey != "" {
			c.HTTPTLSKey = "/nonexistent/vigil-fuzz/key.pem"
		}
		if verr := c.Validate(); verr != nil {
			var errs ConfigErrors
			if !errors.As(verr, &errs) || len(errs) == 0 {
				t.Fatalf("Validate error is %T, want non-empty ConfigErrors: %v", verr, verr)
			}
			for _, e := range errs {
				if e.Msg == "" {
					t.Fatalf("Validate error with an empty message: %#v", e)
				}
			}
		}
		// The same bytes as a second file over the first: lists add up
		// and must not panic either.
		_ = c.loadYAML("second.yaml", data)
	})
}
