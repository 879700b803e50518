package agent

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/internal/certtest"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/membership"
)

func TestSecurityValidation(t *testing.T) {
	certFile, keyFile := certtest.Write(t, "vigil test")
	key16 := "AAAAAAAAAAAAAAAAAAAAAA=="
	tests := []struct {
		name string
		body string
		want string // "" means valid
	}{
		{name: "loopback without token", body: "http: 127.0.0.1:7947\n"},
		{name: "localhost without token", body: "http: localhost:7947\n"},
		{name: "ipv6 loopback without token", body: "http: '[::1]:7947'\n"},
		{name: "all interfaces without token", body: "http: 0.0.0.0:7947\n", want: `vigil.yaml:1: http: "0.0.0.0:7947" is not a loopback address`},
		{name: "empty host without token", body: "http: ':7947'\n", want: "vigil.yaml:1: http:"},
		{name: "host name without token", body: "http: db-2.internal:7947\n", want: "set http_token"},
		{name: "all interfaces with token", body: "http: 0.0.0.0:7947\nhttp_token: 0123456789abcdef\n"},
		{name: "short token", body: "http_token: hunter2\n", want: "vigil.yaml:1: http_token: 7 characters is too short"},
		{name: "token with a space", body: "http_token: '0123456789 abcdef'\n", want: "http_token: must not contain spaces"},
		{name: "encrypt 16 bytes", body: "encrypt: " + key16 + "\n"},
		{name: "encrypt wrong size", body: "encrypt: AAAA\n", want: "vigil.yaml:1: encrypt: key decodes to 3 bytes"},
		{name: "encrypt not base64", body: "encrypt: 'not a key'\n", want: "encrypt: key is not valid base64"},
		{name: "tls pair", body: fmt.Sprintf("http_tls_cert: %s\nhttp_tls_key: %s\n", certFile, keyFile)},
		{name: "tls cert alone", body: "http_tls_cert: " + certFile + "\n", want: "vigil.yaml:1: http_tls_key: missing: http_tls_cert is set"},
		{name: "tls key alone", body: "http_tls_key: " + keyFile + "\n", want: "http_tls_cert: missing"},
		{name: "allowed hosts", body: "http_allowed_hosts: [vigil.internal, 10.0.0.5, '[fd00::1]', 'fd00::2']\n"},
		{name: "allowed host with port", body: "http_allowed_hosts: [vigil.internal, 'vigil.internal:7947']\n", want: `vigil.yaml:1: http_allowed_hosts[1]: "vigil.internal:7947": want a host name or address without a port`},
		{name: "allowed host url", body: "http_allowed_hosts: ['http://vigil.internal']\n", want: "without a scheme or path"},
		{name: "allowed host wildcard", body: "http_allowed_hosts: ['*.internal']\n", want: "wildcards and spaces are not supported"},
		{name: "allowed host empty", body: "http_allowed_hosts: ['']\n", want: "http_allowed_hosts[0]: \"\": empty name"},
		{name: "caps", body: "http_max_connections: 10\nhttp_max_streams: 9\n"},
		{name: "no connections", body: "http_max_connections: 0\n", want: "vigil.yaml:1: http_max_connections: 0: must be at least 1"},
		{name: "no streams", body: "http_max_streams: 0\n", want: "http_max_streams: 0: must be at least 1"},
		{name: "streams take every connection", body: "http_max_connections: 10\nhttp_max_streams: 10\n", want: "vigil.yaml:2: http_max_streams: 10: must be smaller than http_max_connections (10)"},
		{name: "tls files swapped", body: fmt.Sprintf("http_tls_cert: %s\nhttp_tls_key: %s\n", keyFile, certFile), want: "http_tls_cert: load certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, tt.body, tt.want)
		})
	}
}

func TestNonLoopbackHTTPWithoutTokenRefusedAtStart(t *testing.T) {
	cfg := Default()
	cfg.Name = "x"
	if err := cfg.ApplyOption(optionByFlag(t, "http"), "0.0.0.0:7947", "-http"); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, zerolog.Nop(), "test")
	var ces ConfigErrors
	if !errors.As(err, &ces) || len(ces) != 1 || ces[0].Key != "http" || ces[0].Where != "-http" {
		t.Fatalf("New = %v, want one ConfigError for key http set by -http", err)
	}
	t.Setenv("VIGIL_HTTP_TOKEN", "0123456789abcdef0123")
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with VIGIL_HTTP_TOKEN: %v", err)
	}
}

func optionByFlag(t *testing.T, flag string) *Option {
	t.Helper()
	for _, o := range Options {
		if o.Flag == flag {
			return o
		}
	}
	t.Fatalf("no option -%s", flag)
	return nil
}

// testAgent is an agent run in this process on loopback.
type testAgent struct {
	*Agent
	http string // HOST:PORT
	log  *syncBuffer
}

// syncBuffer is the agent's log, read while it runs.
type syncBuffer = clustertest.Buffer

// freePort returns a loopback port free on TCP and UDP, below the
// ephemeral range so no outgoing connection takes it before the agent
// binds it (clustertest.FreePort).
func freePort(t *testing.T) int { return clustertest.FreePort(t) }

// startTestAgent runs an agent on free loopback ports with the local
// profile, after mutate changed its configuration, and stops it at the end
// of the test. client is used to wait until it serves HTTP.
func startTestAgent(t *testing.T, client *http.Client, mutate func(*Config)) *testAgent {
	t.Helper()
	cfg := Default()
	cfg.Name = "node-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	cfg.Bind = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.Profile = string(membership.ProfileLocal)
	cfg.LogLevel = "debug"
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	r := runAgent(t, cfg, zerolog.New(logs).Level(zerolog.DebugLevel))
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	ta := &testAgent{Agent: r.Agent, http: cfg.HTTP, log: logs}
	scheme := "http"
	if cfg.HTTPTLSCert != "" {
		scheme = "https"
	}
	r.waitServing(t, client, scheme+"://"+cfg.HTTP, logs.String)
	return ta
}

// TestHTTPSWithToken: the API serves TLS with a certificate made here; reads
// are open, changes need the token; hooks get the https:// address, the
// token (asked for with hook_http_token) and the certificate to call back.
func TestHTTPSWithToken(t *testing.T) {
	certFile, keyFile := certtest.Write(t, "vigil test")
	pemBytes, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	const token = "tok-0123456789abcdef"
	out := filepath.Join(t.TempDir(), "hook.env")
	a := startTestAgent(t, client, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPToken = certFile, keyFile, token
		c.HookHTTPToken = true
		c.Hooks = []HookConfig{{Name: "env", On: []string{"user"}, Shell: `env | grep '^VIGIL_HTTP' > "` + out + `"`}}
	})
	base := "https://" + a.http

	req := func(method, path, body, auth string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := req("GET", "/v1/self", "", ""); st != 200 || !strings.Contains(body, `"http_addr"`) {
		t.Errorf("GET /v1/self over TLS: %d %s", st, body)
	}
	if st, body := req("POST", "/v1/event", `{"name":"deploy"}`, ""); st != 401 || !strings.Contains(body, `"error"`) {
		t.Errorf("POST without token: %d %s", st, body)
	}
	if st, body := req("POST", "/v1/event", `{"name":"deploy"}`, "wrong-token-0123456789"); st != 401 {
		t.Errorf("POST with a wrong token: %d %s", st, body)
	}
	if st, body := req("POST", "/v1/event", `{"name":"deploy"}`, token); st != 200 {
		t.Errorf("POST with the token: %d %s", st, body)
	}

	// Plain HTTP to the TLS port gets no API answer.
	if resp, err := http.Get("http://" + a.http + "/v1/self"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
	// A client that does not trust the certificate is refused.
	if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: err %v, want a certificate error", err)
	}

	waitUntil(t, 10*time.Second, "the hook to run", func() bool {
		b, err := os.ReadFile(out)
		return err == nil && len(b) > 0
	})
	env, _ := os.ReadFile(out)
	abs, _ := filepath.Abs(certFile)
	for _, want := range []string{"VIGIL_HTTP_ADDR=" + base, "VIGIL_HTTP_TOKEN=" + token, "VIGIL_HTTP_CA=" + abs} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook env lacks %s:\n%s", want, env)
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitEvery(t, d, 50*time.Millisecond, what, cond)
}

func mustKey(t *testing.T) (string, []byte) {
	t.Helper()
	k, err := membership.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := membership.DecodeKey(k)
	return k, raw
}

// TestKeyringFileWinsOverEncrypt: a keyring in data_dir, as a rotation
// left it, is used instead of encrypt, and the agent says so.
func TestKeyringFileWinsOverEncrypt(t *testing.T) {
	dir := t.TempDir()
	k1, raw1 := mustKey(t)
	k2, raw2 := mustKey(t)
	k3, _ := mustKey(t)
	if err := membership.WriteKeyringFile(filepath.Join(dir, KeyringFileName), [][]byte{raw2, raw1}); err != nil {
		t.Fatal(err)
	}
	a := startTestAgent(t, http.DefaultClient, func(c *Config) { c.DataDir, c.Encrypt = dir, k3 })
	resp, err := a.ListKeys()
	if err != nil || resp.Error != "" {
		t.Fatalf("ListKeys: %+v, %v", resp, err)
	}
	if len(resp.Keys) != 2 || resp.Keys[k1] != 1 || resp.Keys[k2] != 1 || resp.PrimaryKeys[k2] != 1 {
		t.Errorf("keys %v, primary %v: want k1 and k2 with k2 primary, not the encrypt key", resp.Keys, resp.PrimaryKeys)
	}
	if !strings.Contains(a.log.String(), "the encrypt key is NOT in it and is ignored") {
		t.Errorf("the log does not say encrypt is ignored:\n%s", a.log.String())
	}
}

// TestKeyOperationsPersist: encrypt starts the keyring file; install, use
// and remove change it; the API refuses what can't work.
func TestKeyOperationsPersist(t *testing.T) {
	dir := t.TempDir()
	k1, raw1 := mustKey(t)
	k2, raw2 := mustKey(t)
	a := startTestAgent(t, http.DefaultClient, func(c *Config) { c.DataDir, c.Encrypt = dir, k1 })
	file := filepath.Join(dir, KeyringFileName)
	readRing := func() [][]byte {
		t.Helper()
		keys, err := membership.ReadKeyringFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if keys := readRing(); len(keys) != 1 || !bytes.Equal(keys[0], raw1) {
		t.Fatalf("keyring file after start holds %d keys, want the encrypt key", len(keys))
	}
	for _, step := range []struct {
		name string
		op   func(string) (vigilhttp.KeysResponse, error)
		key  string
		want [][]byte
	}{
		{"install", a.InstallKey, k2, [][]byte{raw1, raw2}},
		{"use", a.UseKey, k2, [][]byte{raw2, raw1}},
		{"remove", a.RemoveKey, k1, [][]byte{raw2}},
	} {
		resp, err := step.op(step.key)
		if err != nil || resp.Error != "" || resp.NumNodes != 1 || resp.NumResponses != 1 {
			t.Fatalf("%s: %+v, %v", step.name, resp, err)
		}
		got := readRing()
		if len(got) != len(step.want) {
			t.Fatalf("after %s the keyring holds %d keys, want %d", step.name, len(got), len(step.want))
		}
		for i := range got {
			if !bytes.Equal(got[i], step.want[i]) {
				t.Fatalf("after %s key %d differs (primary first)", step.name, i)
			}
		}
	}
	k3, _ := mustKey(t)
	for name, call := range map[string]func() (vigilhttp.KeysResponse, error){
		"remove primary": func() (vigilhttp.KeysResponse, error) { return a.RemoveKey(k2) },
		"use unknown":    func() (vigilhttp.KeysResponse, error) { return a.UseKey(k3) },
		"malformed":      func() (vigilhttp.KeysResponse, error) { return a.InstallKey("abc") },
	} {
		if _, err := call(); !errors.Is(err, vigilhttp.ErrKeyRequest) {
			t.Errorf("%s: err %v, want ErrKeyRequest", name, err)
		}
	}
}

func TestKeysWithoutEncryption(t *testing.T) {
	a := startTestAgent(t, http.DefaultClient, nil)
	_, err := a.ListKeys()
	if !errors.Is(err, vigilhttp.ErrKeyRequest) || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("ListKeys without encryption: %v", err)
	}
}
