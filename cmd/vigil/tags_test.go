package main

import (
	"errors"
	nethttp "net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestRuntimeTags: vigil tags set and unset change a running agent's tags,
// every member sees the change at once, vigil's own tags are refused, the
// API needs the token, and the change survives a restart with the same
// data_dir over the configured tags.
func TestRuntimeTags(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, "a", "-data-dir", dir, "-tag", "role=web", "-tag", "dc=east")
	b := startAgent(t, "b", "-join", a.GossipAddr())
	clustertest.AllSee(t, 20*time.Second, []*clustertest.Agent{b}, map[string]string{"a": "alive"})
	tagsOf := func(from *clustertest.Agent, name string) map[string]string {
		var ms []clustertest.Member
		_ = from.Get("/v1/members", &ms)
		for _, m := range ms {
			if m.Name == name {
				return m.Tags
			}
		}
		return nil
	}

	tests := []struct {
		args    []string
		out     string
		code    int
		seen    map[string]string // tags b must see on a ("" value: absent)
		wantErr string
	}{
		{args: []string{"set", "zone=z1", "role=db"}, out: "Tags of this agent: dc=east,role=db,zone=z1\n",
			seen: map[string]string{"zone": "z1", "role": "db", "dc": "east"}},
		{args: []string{"unset", "dc"}, out: "Tags of this agent: role=db,zone=z1\n",
			seen: map[string]string{"dc": "", "role": "db"}},
		{args: []string{"set", "health=passing"}, code: 1, wantErr: `vigil: tag "health" is reserved: vigil sets it itself`},
		{args: []string{"set", "zone"}, code: 2, wantErr: `vigil: tags set: "zone": want KEY=VALUE`},
		{args: []string{"unset"}, code: 2, wantErr: "vigil: tags unset needs at least one KEY"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"tags", tt.args[0], "-http-addr", a.HTTPAddr()}, tt.args[1:]...)
			out, err := execVigil(t, args...)
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Fatalf("vigil %s: exit status %d, want %d\n%s", strings.Join(args, " "), code, tt.code, out)
			}
			if tt.wantErr != "" {
				if !strings.HasPrefix(out, tt.wantErr) {
					t.Errorf("prints %q, want %q", out, tt.wantErr)
				}
				return
			}
			if out != tt.out {
				t.Errorf("prints %q, want %q", out, tt.out)
			}
			clustertest.WaitFor(t, 10*time.Second, "b to see a's tags", func() bool {
				got := tagsOf(b, "a")
				for k, v := range tt.seen {
					if got[k] != v {
						return false
					}
				}
				return true
			})
		})
	}

	// The API refuses a change without the token.
	resp, err := nethttp.Post("http://"+a.HTTPAddr()+"/v1/tags", "application/json", strings.NewReader(`{"set":{"x":"y"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != nethttp.StatusUnauthorized {
		t.Errorf("POST /v1/tags without the token: %s", resp.Status)
	}

	// A restart with the same data_dir and the same -tag flags keeps the
	// runtime tags over the configured ones.
	if err := a.Stop(); err != nil {
		t.Fatalf("agent a: %v", err)
	}
	a2 := startAgent(t, "a", "-data-dir", dir, "-tag", "role=web", "-tag", "dc=east")
	got := tagsOf(a2, "a")
	if got["role"] != "db" || got["zone"] != "z1" || got["dc"] != "" {
		t.Errorf("after a restart a's tags are %v, want role=db, zone=z1 and no dc", got)
	}
}
