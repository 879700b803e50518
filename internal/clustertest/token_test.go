package clustertest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAgentToken: an agent started without -http-token makes its API
// token; the harness reads it from the agent's own runtime directory, so
// Fire (a change) and Runs (hook output) work, while a request without
// it is refused. With -http-token, that token is sent.
func TestAgentToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil agents")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"made by the agent", []string{"-hook", `user=echo "$VIGIL_USER_EVENT" >> "$OUT/user.log"`}},
		{"-http-token", []string{"-http-token", "given-token-0123456789", "-hook", `user=echo "$VIGIL_USER_EVENT" >> "$OUT/user.log"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := StartLocal(t, "tok", tt.args...)
			if a.token == "" {
				t.Fatal("the harness has no token for the agent")
			}
			resp, err := http.Post(a.httpURL+"/v1/event", "application/json", strings.NewReader(`{"name":"no-token"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST /v1/event without the token: %s, want 401", resp.Status)
			}
			if err := a.Fire("with-token", ""); err != nil {
				t.Fatal(err)
			}
			WaitFor(t, 10*time.Second, "the hook's run", func() bool {
				return strings.Contains(a.ReadOut("user.log"), "with-token\n")
			})
			if _, err := a.Runs("hook-1"); err != nil {
				t.Errorf("Runs: %v", err)
			}
		})
	}
}
