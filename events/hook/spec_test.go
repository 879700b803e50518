package hook

import (
	"strings"
	"testing"
)

func TestParseHookSpec(t *testing.T) {
	tests := []struct {
		spec    string
		filters string
		script  string
		wantErr string
	}{
		{spec: "/bin/handler.sh", filters: "*", script: "/bin/handler.sh"},
		{spec: "member-failed,member-leave=/path/script --arg", filters: "member-failed,member-leave", script: "/path/script --arg"},
		{spec: "user:deploy=echo hi", filters: "user:deploy", script: "echo hi"},
		{spec: "/bin/notify --level=warn", filters: "*", script: "/bin/notify --level=warn"},
		{spec: "member-join=echo a=b", filters: "member-join", script: "echo a=b"},
		{spec: "member-fialed=/x", wantErr: "unknown event filter"},
		{spec: "member-join=", wantErr: "no script"},
		{spec: "  ", wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			h, err := ParseHookSpec(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(h.Filters.Strings(), ","); got != tt.filters {
				t.Errorf("filters = %q, want %q", got, tt.filters)
			}
			if h.Shell != tt.script || h.Stdin != StdinSerf {
				t.Errorf("script = %q stdin = %q, want %q serf", h.Shell, h.Stdin, tt.script)
			}
		})
	}
}
