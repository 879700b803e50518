package agent

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	vigildns "github.com/vigil-agent/vigil/dns"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// agentRun is an agent running in the test process (runAgent).
type agentRun struct {
	*Agent
	// Exited is closed when Run returned; Err is what it returned.
	Exited chan struct{}
	Err    error
	// Stop cancels the agent (as SIGTERM: a graceful leave) and waits for
	// it to end, once; the test's end calls it too.
	Stop func()
}

// runAgent runs an agent with cfg, logging to log, until Stop or the end
// of the test.
func runAgent(t *testing.T, cfg Config, log zerolog.Logger) *agentRun {
	t.Helper()
	if cfg.DNS == vigildns.DefaultAddr {
		// Not the fixed default port: only a test of DNS asks for it.
		cfg.DNS = ""
	}
	if cfg.ClusterName == "" {
		// Apart from the agents of test packages running beside this one.
		cfg.ClusterName = clustertest.ClusterName()
	}
	a, err := New(cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{Agent: a, Exited: make(chan struct{})}
	go func() {
		r.Err = a.Run(ctx)
		close(r.Exited)
	}()
	var once sync.Once
	r.Stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-r.Exited:
			case <-time.After(30 * time.Second):
				t.Errorf("agent %s did not stop", cfg.Name)
			}
		})
	}
	t.Cleanup(r.Stop)
	return r
}

// waitServing waits until the agent answers GET /healthz 200 at url
// (http://HOST:PORT or https://) through client, and fails the test if
// it exits first or takes over 20 s; log, if set, is shown then.
func (r *agentRun) waitServing(t *testing.T, client *http.Client, url string, log func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-r.Exited:
			t.Fatalf("agent stopped at start: %v\n%s", r.Err, logOf(log))
		default:
		}
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not serve HTTP: %v\n%s", err, logOf(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func logOf(log func() string) string {
	if log == nil {
		return ""
	}
	return log()
}
