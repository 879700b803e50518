package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// apiStatus sends one request with the token (if not "") and returns the
// status.
func apiStatus(t *testing.T, addr, method, path, body, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAgentMakesToken: without http_token, the agent makes a token, writes
// it (mode 0600) in its runtime directory as http-token-PORT, requires it
// for changes, keys and hook runs while reads stay open, says so in its
// start line, and removes the file when it stops. With a data dir, the
// token is kept in data_dir/http-token across starts.
func TestAgentMakesToken(t *testing.T) {
	tests := []struct {
		name    string
		dataDir bool
	}{
		{"without a data dir", false},
		{"with a data dir", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := filepath.Join(t.TempDir(), "run")
			t.Setenv(RuntimeDirEnv, run)
			var dataDir, path string
			if tt.dataDir {
				dataDir = filepath.Join(t.TempDir(), "data")
			}
			t.Cleanup(func() { // after the agent stopped
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s is still there after the agent stopped", path)
				}
			})
			a := startTestAgent(t, http.DefaultClient, func(c *Config) { c.DataDir = dataDir })
			_, port, _ := strings.Cut(a.http, ":")
			path = RuntimeTokenPath(run, port)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimSpace(string(b))
			if token != a.token || len(token) < 40 {
				t.Fatalf("token file has %q, the agent uses %q", token, a.token)
			}
			for _, p := range []string{path, run} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s has mode %s: others can read it", p, st.Mode())
				}
			}
			if tt.dataDir {
				kept, err := loadOrCreateDataDirToken(dataDir)
				if err != nil || kept != token {
					t.Errorf("data_dir/http-token: %q %v, want the agent's token", kept, err)
				}
			}
			for _, c := range []struct {
				method, path, body, token string
				want                      int
			}{
				{"GET", "/v1/members", "", "", 200},
				{"GET", "/v1/self", "", "", 200},
				{"POST", "/v1/event", `{"name":"x"}`, "", 401},
				{"POST", "/v1/keys/install", `{"key":"x"}`, "", 401},
				{"GET", "/v1/keys", "", "", 401},
				{"GET", "/v1/hooks", "", "", 401},
				{"POST", "/v1/leave", "", "wrong-token-0123456789", 401},
				{"GET", "/v1/hooks", "", token, 200},
				{"POST", "/v1/event", `{"name":"x"}`, token, 200},
			} {
				if got := apiStatus(t, a.http, c.method, c.path, c.body, c.token); got != c.want {
					t.Errorf("%s %s (token %v): %d, want %d", c.method, c.path, c.token != "", got, c.want)
				}
			}
			if !strings.Contains(a.log.String(), `"api_auth":"token made by the agent"`) || !strings.Contains(a.log.String(), `"token_file":"`+path+`"`) {
				t.Errorf("the log does not say the agent made a token, and where it is:\n%s", a.log.String())
			}
		})
	}
}

// TestAgentTokenModes: http_token is used as it is and written nowhere;
// -dev without http_token leaves the API open and says so at start.
func TestAgentTokenModes(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	t.Setenv(RuntimeDirEnv, run)
	t.Run("http_token", func(t *testing.T) {
		a := startTestAgent(t, http.DefaultClient, func(c *Config) { c.HTTPToken = "configured-token-0123456789" })
		if a.token != "configured-token-0123456789" || a.tokenGenerated {
			t.Errorf("token %q (made %v)", a.token, a.tokenGenerated)
		}
		if entries, _ := os.ReadDir(run); len(entries) != 0 {
			t.Errorf("a token file was written for a configured token: %v", entries)
		}
		if got := apiStatus(t, a.http, "POST", "/v1/event", `{"name":"x"}`, ""); got != 401 {
			t.Errorf("event without the token: %d", got)
		}
		if !strings.Contains(a.log.String(), `"api_auth":"http_token"`) {
			t.Errorf("start line:\n%s", a.log.String())
		}
	})
	t.Run("-dev", func(t *testing.T) {
		a := startTestAgent(t, http.DefaultClient, func(c *Config) { c.Dev = true })
		if got := apiStatus(t, a.http, "POST", "/v1/event", `{"name":"x"}`, ""); got != 200 {
			t.Errorf("-dev event without a token: %d, want 200", got)
		}
		if !strings.Contains(a.log.String(), `"api_auth":"none: every local user can make changes and read secrets through the API (-dev without http_token)"`) {
			t.Errorf("the -dev start line does not say the API is open:\n%s", a.log.String())
		}
	})
}

// TestAgentTokenFilesRefused: a data_dir/http-token that is a link, that
// others can read or that holds no valid token is an error, and so is a
// runtime directory others can read (then, without a data dir, the agent
// does not start).
func TestAgentTokenFilesRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("attacker-chosen-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, TokenFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateDataDirToken(dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a linked token file: %v", err)
	}
	for _, c := range []struct {
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable-by-all-0123456789\n", 0o644, "mode 0600"},
		{"short\n", 0o600, "too short"},
	} {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, TokenFileName), []byte(c.content), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(d, TokenFileName), c.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := loadOrCreateDataDirToken(d); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("token file %q mode %s: %v, want an error containing %q", c.content, c.mode, err, c.want)
		}
	}

	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(RuntimeDirEnv, open)
	cfg := Default()
	cfg.Name = "refused"
	cfg.Bind = "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg.HTTP = "127.0.0.1:" + strconv.Itoa(freePort(t))
	a, err := New(cfg, zerolog.Nop(), "test")
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "other users could read the token there") || !strings.Contains(err.Error(), "set http_token, data_dir or VIGIL_RUNTIME_DIR") {
		t.Fatalf("Run with only a world-readable runtime directory: %v", err)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Errorf("a token was written in the open directory: %v", entries)
	}
}
