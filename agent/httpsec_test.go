package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/certtest"
	"github.com/vigil-agent/vigil/probes"
)

// TestHookEnvToken: hooks get VIGIL_HTTP_TOKEN only with hook_http_token,
// whether the agent's token came from the file or from its own
// VIGIL_HTTP_TOKEN variable (which hooks would otherwise inherit).
func TestHookEnvToken(t *testing.T) {
	const token = "tok-0123456789abcdef"
	t.Setenv("VIGIL_HTTP_TOKEN", token)
	tests := []struct {
		name  string
		cfg   Config
		count int // VIGIL_HTTP_TOKEN= entries wanted
	}{
		{name: "token, not asked", cfg: Config{HTTPToken: token}, count: 0},
		{name: "no token", cfg: Config{}, count: 0},
		{name: "asked without a token", cfg: Config{HookHTTPToken: true}, count: 0},
		{name: "token, asked", cfg: Config{HTTPToken: token, HookHTTPToken: true}, count: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := hookEnv(&tt.cfg, tt.cfg.HTTPToken)
			n := 0
			for _, kv := range env {
				if strings.HasPrefix(kv, "VIGIL_HTTP_TOKEN=") {
					n++
					if kv != "VIGIL_HTTP_TOKEN="+token {
						t.Errorf("hook env has %q", kv)
					}
				}
			}
			if n != tt.count {
				t.Errorf("%d VIGIL_HTTP_TOKEN entries in the hook env, want %d", n, tt.count)
			}
			if !slices.Contains(env, "PATH="+os.Getenv("PATH")) {
				t.Errorf("hook env lost the agent's PATH")
			}
		})
	}
}

// TestHookWithoutTokenEnv: a running agent with a token, whose hook does
// not ask for it, runs the hook without VIGIL_HTTP_TOKEN, while the hook
// still gets VIGIL_HTTP_ADDR.
func TestHookWithoutTokenEnv(t *testing.T) {
	const token = "tok-0123456789abcdef"
	t.Setenv("VIGIL_HTTP_TOKEN", token)
	out := filepath.Join(t.TempDir(), "hook.env")
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.HTTPToken = token
		c.Hooks = []HookConfig{{Name: "env", On: []string{"user"}, Shell: `env > "` + out + `.tmp" && mv "` + out + `.tmp" "` + out + `"`}}
	})
	if err := a.UserEvent("deploy", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the hook to run", func() bool {
		_, err := os.Stat(out)
		return err == nil
	})
	env, _ := os.ReadFile(out)
	if strings.Contains(string(env), token) || strings.Contains(string(env), "VIGIL_HTTP_TOKEN") {
		t.Errorf("the hook's environment has the token:\n%s", env)
	}
	if !strings.Contains(string(env), "VIGIL_HTTP_ADDR="+a.http+"\n") {
		t.Errorf("the hook's environment lacks VIGIL_HTTP_ADDR=%s:\n%s", a.http, env)
	}
}

// TestReloadTokenNeedsRestart: an edited http_token (and the other API
// settings) is listed in needs_restart, and the running API keeps
// requiring the token it started with.
func TestReloadTokenNeedsRestart(t *testing.T) {
	const token, next = "tok-0123456789abcdef", "new-0123456789abcdef"
	var started Config
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.HTTPToken = token
		started = *c
	})
	edited := started
	edited.HTTPToken = next
	edited.HTTPAllowedHosts = []string{"vigil.internal"}
	edited.HTTPMaxStreams = 3
	edited.HookHTTPToken = true
	a.SetReloader(func() (Config, error) { return edited, nil })
	res, err := a.Reload()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"http_token", "http_allowed_hosts", "http_max_streams", "hook_http_token"} {
		if !slices.Contains(res.NeedsRestart, key) {
			t.Errorf("needs_restart %q lacks %s", res.NeedsRestart, key)
		}
	}
	post := func(tok string) int {
		req, _ := http.NewRequest("POST", "http://"+a.http+"/v1/event", strings.NewReader(`{"name":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(token); st != 200 {
		t.Errorf("the started token after the reload: %d, want 200", st)
	}
	if st := post(next); st != 401 {
		t.Errorf("the edited token before a restart: %d, want 401", st)
	}
}

// TestAgentConnectionCapTLS: the agent's API, serving TLS, answers a
// connection over http_max_connections with the 503 JSON error over TLS,
// and a stream over http_max_streams with a 429, while a GET still works.
func TestAgentConnectionCapTLS(t *testing.T) {
	certFile, keyFile := certtest.Write(t, "vigil test")
	pemBytes, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tc := &tls.Config{RootCAs: pool}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	a := startTestAgent(t, client, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey = certFile, keyFile
		c.HTTPToken = "tok-0123456789abcdef"
		c.HTTPMaxConnections, c.HTTPMaxStreams = 3, 1
	})
	base := "https://" + a.http
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// One stream open; a second is refused; reads work.
	streamResp, err := client.Get(base + "/v1/events/stream")
	if err != nil || streamResp.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", err, streamResp)
	}
	defer streamResp.Body.Close()
	if st, body := get("/v1/events/stream"); st != 429 || !strings.Contains(body, "http_max_streams") {
		t.Errorf("second stream: %d %s, want 429", st, body)
	}
	if st, body := get("/v1/members"); st != 200 {
		t.Errorf("GET /v1/members with the stream open: %d %s", st, body)
	}
	// More connections held (TLS handshaken, idle) until the cap is
	// reached: the stream's and two more make 3, and the next is answered
	// 503 over TLS. The server closes the connections of the requests
	// above a moment after their answers; a connection dialed before that
	// is over the cap itself and held by the rejecting path, not counted,
	// so one more is dialed while a request still gets through (a full
	// suite under load saw exactly that).
	held := 0
	hold := func() {
		c, err := tls.Dial("tcp", a.http, tc)
		if err != nil {
			t.Fatalf("held connection %d: %v", held, err)
		}
		t.Cleanup(func() { c.Close() })
		held++
	}
	hold()
	hold()
	waitUntil(t, 10*time.Second, "a 503 over the connection cap", func() bool {
		st, body := get("/healthz")
		if st == 503 && strings.Contains(body, fmt.Sprintf("at most %d API connections at once (http_max_connections)", 3)) {
			return true
		}
		if st == 200 && held < 10 {
			hold()
		}
		return false
	})
}

// TestAPISecurityEnv: the new keys are set by their VIGIL_* variables,
// and a bad value is an error naming the variable.
func TestAPISecurityEnv(t *testing.T) {
	tests := []struct {
		env   map[string]string
		check func(c *Config) bool
		err   string
	}{
		{env: map[string]string{"VIGIL_HOOK_HTTP_TOKEN": "true"}, check: func(c *Config) bool { return c.HookHTTPToken }},
		{env: map[string]string{"VIGIL_HOOK_HTTP_TOKEN": "sometimes"}, err: `VIGIL_HOOK_HTTP_TOKEN: hook_http_token: "sometimes" is not true or false`},
		{env: map[string]string{"VIGIL_HTTP_ALLOWED_HOST": "vigil.internal, 10.0.0.5"},
			check: func(c *Config) bool { return slices.Equal(c.HTTPAllowedHosts, []string{"vigil.internal", "10.0.0.5"}) }},
		{env: map[string]string{"VIGIL_HTTP_MAX_CONNECTIONS": "40", "VIGIL_HTTP_MAX_STREAMS": "4"},
			check: func(c *Config) bool { return c.HTTPMaxConnections == 40 && c.HTTPMaxStreams == 4 }},
		{env: map[string]string{"VIGIL_HTTP_MAX_STREAMS": "many"}, err: `VIGIL_HTTP_MAX_STREAMS: http_max_streams: "many" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			c := Default()
			if c.HookHTTPToken || c.HTTPMaxConnections != 256 || c.HTTPMaxStreams != 64 || c.HTTPAllowedHosts != nil {
				t.Fatalf("defaults: %v %d %d %v", c.HookHTTPToken, c.HTTPMaxConnections, c.HTTPMaxStreams, c.HTTPAllowedHosts)
			}
			err := c.ApplyEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case !tt.check(&c):
				t.Errorf("config after %v: %+v", tt.env, c)
			}
		})
	}
}

// TestCrossSiteEventRunsNoHook: the attack on a running agent. A
// cross-site "simple" POST of a user event, and one through a rebound
// Host, are refused, and no hook runs for them: the hook runs only for the
// event the vigil commands' way of calling fires afterwards.
func TestCrossSiteEventRunsNoHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.Hooks = []HookConfig{{Name: "log", On: []string{"user"}, Shell: `echo "$VIGIL_USER_EVENT" >> "` + out + `"`}}
	})
	send := func(host, origin, ctype, name string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+a.http+"/v1/event", strings.NewReader(`{"name":"`+name+`"}`))
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+a.token) // the token the agent made
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := send("", "http://evil.example", "text/plain", "x"); st != 403 {
		t.Errorf("cross-site text/plain POST: %d, want 403", st)
	}
	if st := send("evil.example:7947", "", "application/json", "y"); st != 403 {
		t.Errorf("POST through a rebound Host: %d, want 403", st)
	}
	if st := send("", "", "text/plain", "z"); st != 415 {
		t.Errorf("text/plain POST: %d, want 415", st)
	}
	if st := send("", "", "application/json", "after"); st != 200 {
		t.Fatalf("the CLI's POST: %d, want 200", st)
	}
	waitUntil(t, 10*time.Second, "the hook's run for the allowed event", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "after\n")
	})
	if b, _ := os.ReadFile(out); string(b) != "after\n" {
		t.Errorf("the hook ran for %q, want only the allowed event", b)
	}
	for _, ev := range a.Events().Since(0) {
		if ev.User != nil && ev.User.Name != "after" {
			t.Errorf("a refused user event reached the ring: %+v", ev.User)
		}
	}
}

// TestHookOutputTokenRedacted: a running agent whose hook prints the API
// token, given it by hook_http_token or read from data_dir/http-token,
// logs the run with the token as [redacted], and neither GET /v1/hooks nor
// the hook journal holds it.
func TestHookOutputTokenRedacted(t *testing.T) {
	const token = "tok-0123456789abcdef-leak"
	tests := []struct {
		name   string
		mutate func(c *Config, dataDir string)
	}{
		{name: "http_token with hook_http_token", mutate: func(c *Config, _ string) {
			c.HTTPToken = token
			c.HookHTTPToken = true
			c.Hooks = []HookConfig{{Name: "leaky", On: []string{"user"}, Shell: `echo "calling back with $VIGIL_HTTP_TOKEN"; echo "stderr $VIGIL_HTTP_TOKEN" >&2; exit 3`}}
		}},
		{name: "made token read from its file", mutate: func(c *Config, dataDir string) {
			c.Hooks = []HookConfig{{Name: "leaky", On: []string{"user"}, Shell: `echo "calling back with $(cat '` + filepath.Join(dataDir, "http-token") + `')"`}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RuntimeDirEnv, filepath.Join(t.TempDir(), "run"))
			dataDir := filepath.Join(t.TempDir(), "data")
			a := startTestAgent(t, http.DefaultClient, func(c *Config) {
				c.DataDir = dataDir
				tt.mutate(c, dataDir)
			})
			secret := a.token
			if len(secret) < 20 {
				t.Fatalf("agent token %q", secret)
			}
			if err := a.UserEvent("deploy", nil); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, "the hook run to be logged", func() bool {
				return strings.Contains(a.log.String(), `"message":"hook run"`)
			})
			log := a.log.String()
			if strings.Contains(log, secret) {
				t.Errorf("the agent's log holds the token:\n%s", log)
			}
			if !strings.Contains(log, `calling back with `+events.Redacted) {
				t.Errorf("the hook run's log line lacks its redacted output:\n%s", log)
			}
			req, _ := http.NewRequest("GET", "http://"+a.http+"/v1/hooks", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.Contains(string(body), secret) || !strings.Contains(string(body), events.Redacted) {
				t.Errorf("GET /v1/hooks: %d %s", resp.StatusCode, body)
			}
			for _, run := range a.HookRuns() {
				if strings.Contains(run.Output+run.Error+run.Reason, secret) {
					t.Errorf("the run history holds the token: %+v", run)
				}
			}
			journal, err := os.ReadFile(filepath.Join(dataDir, "hooks.journal"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(journal), secret) {
				t.Errorf("the hook journal holds the token:\n%s", journal)
			}
		})
	}
}

// TestCheckOutputTokenRedacted: an exec check of an agent whose token came
// from VIGIL_HTTP_TOKEN does not get that variable, and a check that
// prints the token anyway (it has it in its argv) has it as [redacted] in
// GET /v1/checks, the check event (GET /v1/events) and every line of the
// agent's log, the probes' own "check ran" and "check status changed"
// included.
func TestCheckOutputTokenRedacted(t *testing.T) {
	const token = "tok-0123456789abcdef-check"
	t.Setenv("VIGIL_HTTP_TOKEN", token)
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.HTTPToken = token
		c.Service = &ServiceConfig{Name: "web", Port: 8080}
		c.Checks = []probes.Definition{{ID: "leaky", Interval: probes.Duration(time.Second), InitialStatus: probes.Passing,
			Exec: []string{"/bin/sh", "-c", `echo "env=$VIGIL_HTTP_TOKEN"; echo "argv=` + token + `"; exit 2`}}}
	})
	waitUntil(t, 10*time.Second, "the check to fail", func() bool {
		return strings.Contains(a.log.String(), `"message":"check status changed"`)
	})
	log := a.log.String()
	if strings.Contains(log, "env="+token) {
		t.Errorf("the check got VIGIL_HTTP_TOKEN:\n%s", log)
	}
	if strings.Contains(log, token) {
		t.Errorf("the agent's log holds the token:\n%s", log)
	}
	if want := `{"level":"info","check":"leaky","status":"critical","previous":"passing","output":"env=\nargv=` + events.Redacted + `\n","message":"check status changed"}`; !strings.Contains(log, want) {
		t.Errorf("the agent's log lacks the line\n%s\nin:\n%s", want, log)
	}
	for _, path := range []string{"/v1/checks", "/v1/events"} {
		resp, err := http.Get("http://" + a.http + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), token) || !strings.Contains(string(body), `argv=`+events.Redacted) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}
