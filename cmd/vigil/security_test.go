package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/agent"
	"github.com/vigil-agent/vigil/internal/certtest"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestClientTokenAndTLS runs a real agent in this process with HTTPS and a
// token, and drives it with the client commands.
func TestClientTokenAndTLS(t *testing.T) {
	// A runtime directory of its own: a token file another agent left on
	// this port in /run/vigil (one killed, not stopped) would be sent
	// where the test wants none ("invalid token", not "missing token").
	t.Setenv(agent.RuntimeDirEnv, t.TempDir())
	certFile, keyFile := certtest.Write(t, "vigil client test")
	const token = "client-test-token-0123456789"
	cfg := agent.Default()
	cfg.Name = "tls-agent"
	// Two distinct ports from one call: two calls may pick the same one.
	ports := clustertest.FreePorts(t, 2)
	cfg.Bind = fmt.Sprintf("127.0.0.1:%d", ports[0])
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg.Profile = "local"
	cfg.HTTPToken, cfg.HTTPTLSCert, cfg.HTTPTLSKey = token, certFile, keyFile
	a, err := agent.New(cfg, zerolog.Nop(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	clustertest.WaitFor(t, 20*time.Second, "the agent to serve HTTPS", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup, which waits for it
			t.Fatalf("the agent stopped before it served: %v", err)
		default:
		}
		resp, err := insecure.Get("https://" + cfg.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	https := "https://" + cfg.HTTP

	// Reads need no token.
	out, err := runClient(t, "members", "-http-addr", https, "-http-ca", certFile)
	if err != nil || !strings.Contains(out, "tls-agent") {
		t.Fatalf("members over https: %q, %v", out, err)
	}
	// Changes do.
	_, err = runClient(t, "event", "-http-addr", https, "-http-ca", certFile, "deploy")
	wantExitErr(t, err, "missing token")
	_, err = runClient(t, "event", "-http-addr", https, "-http-ca", certFile, "-http-token", "wrong-token-0123456789", "deploy")
	wantExitErr(t, err, "invalid token")
	out, err = runClient(t, "event", "-http-addr", https, "-http-ca", certFile, "-http-token", token, "deploy")
	if err != nil || !strings.Contains(out, `Fired user event "deploy"`) {
		t.Fatalf("event with -http-token: %q, %v", out, err)
	}
	// The environment serves as well, for the agent and the client alike.
	t.Setenv("VIGIL_HTTP_TOKEN", token)
	t.Setenv("VIGIL_HTTP_CA", certFile)
	if out, err = runClient(t, "event", "-http-addr", https, "again"); err != nil {
		t.Fatalf("event with VIGIL_HTTP_TOKEN and VIGIL_HTTP_CA: %q, %v", out, err)
	}
	t.Setenv("VIGIL_HTTP_CA", "")

	// The usual mistakes get a hint.
	_, err = runClient(t, "members", "-http-addr", https)
	wantExitErr(t, err, "-http-ca")
	_, err = runClient(t, "members", "-http-addr", cfg.HTTP)
	wantExitErr(t, err, "serves HTTPS: use -http-addr https://")
}

func runValidateCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut clientBuffer
	app := &cli.App{
		Name:           "vigil",
		Commands:       []*cli.Command{validateCommand(), keygenCommand()},
		Writer:         &out,
		ErrWriter:      &errOut,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err = app.RunContext(t.Context(), append([]string{"vigil"}, args...))
	return out.String(), errOut.String(), err
}

func TestValidateCommand(t *testing.T) {
	good := clustertest.WriteConfig(t, `
name: db-2
bind: 10.0.0.6:7946
service: {name: db, port: 5432}
checks:
  - {id: pg, tcp: '127.0.0.1:5432', interval: 2s}
hooks:
  - {name: on-failed, on: [member-failed], shell: 'true'}
`)
	out, _, err := runValidateCLI(t, "validate", good)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	for _, want := range []string{"Configuration is valid", "name:     db-2", "bind:     10.0.0.6:7946", "service:  db:5432", "checks:   1 (pg)", "hooks:    1 (on-failed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// Errors of every file: a YAML error in one does not stop the others.
	syntax := clustertest.WriteConfig(t, "name: [\n")
	unknown := clustertest.WriteConfig(t, "naem: x\n")
	invalid := clustertest.WriteConfig(t, "http: 0.0.0.0:7947\nprofile: turbo\nencrypt: short\n")
	_, stderr, err := runValidateCLI(t, "validate", syntax, unknown, invalid, "/nonexistent/vigil.yaml")
	var ec cli.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 2 {
		t.Fatalf("invalid files: err %v, want exit status 2", err)
	}
	for _, want := range []string{
		syntax + ":1:",
		unknown + ":1: naem: unknown key",
		invalid + ":1: http:",
		invalid + ":2: profile:",
		invalid + ":3: encrypt:",
		"/nonexistent/vigil.yaml: read config",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("errors lack %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(err.Error(), "6 problems") {
		t.Errorf("summary line %q, want 6 problems", err.Error())
	}

	// Every problem of one file, in file order, each named by its key,
	// type mismatches in plain words: an unknown key does not hide the
	// wrong types and bad durations after it.
	many := clustertest.WriteConfig(t, `name: x
bogus: 1
http_max_connections: lots
checks:
  - id: web
    http: http://127.0.0.1:8080/
    interval: 5 seconds
hooks:
  - name: a
    on: [member-failed]
    command: [/bin/true]
    retries: many
`)
	_, stderr, err = runValidateCLI(t, "validate", many)
	if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), "4 problems") {
		t.Fatalf("four problems in one file: err %v, want exit status 2 and 4 problems\n%s", err, stderr)
	}
	wantLines := []string{
		many + `:2: bogus: unknown key`,
		many + `:3: http_max_connections: want a whole number, got the string "lots"`,
		many + `:7: checks[0].interval: invalid duration "5 seconds": want a Go duration such as "10s" or "1m30s"`,
		many + `:12: hooks[0].retries: want a whole number, got the string "many"`,
	}
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", stderr, strings.Join(wantLines, "\n"))
	}

	// A string where a list or a mapping belongs, and keys of one flow
	// mapping line, each named by its own path.
	flow := clustertest.WriteConfig(t, "join: 10.0.0.1:7946\ntags: primary\nservice: {name: web, bogus: 1, port: x}\n")
	_, stderr, _ = runValidateCLI(t, "validate", flow)
	for _, want := range []string{
		flow + `:1: join: want a list, got a string`,
		flow + `:2: tags: want a mapping (KEY: VALUE lines), got the string "primary"`,
		flow + `:3: service.bogus: unknown key`,
		flow + `:3: service.port: want a whole number, got the string "x"`,
	} {
		if !strings.Contains(stderr, want+"\n") {
			t.Errorf("problems lack %q:\n%s", want, stderr)
		}
	}

	// A hook program that is not there is a warning: valid, exit 0.
	missing := clustertest.WriteConfig(t, "hooks:\n  - name: promote\n    on: [member-failed]\n    command: [/nonexistent/promote.sh]\n")
	out, stderr, err = runValidateCLI(t, "validate", missing)
	if err != nil || !strings.Contains(out, "Configuration is valid") ||
		!strings.Contains(stderr, "warning: "+missing+":4: hooks[0].command: /nonexistent/promote.sh is not an executable file") {
		t.Errorf("a missing hook program: err %v\nstdout %s\nstderr %s", err, out, stderr)
	}

	// -env applies VIGIL_* as the agent would.
	t.Setenv("VIGIL_HTTP_TOKEN", "env-token-0123456789")
	open := clustertest.WriteConfig(t, "http: 0.0.0.0:7947\n")
	if _, _, err := runValidateCLI(t, "validate", open); err == nil {
		t.Error("non-loopback http without a token in the file passed without -env")
	}
	if out, _, err := runValidateCLI(t, "validate", "-env", open); err != nil || !strings.Contains(out, "token on") {
		t.Errorf("with -env and VIGIL_HTTP_TOKEN: %q, %v", out, err)
	}
}

func TestKeygen(t *testing.T) {
	out, _, err := runValidateCLI(t, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil || len(key) != 32 {
		t.Fatalf("keygen printed %q: %d bytes, %v", out, len(key), err)
	}
}
