package main

import (
	"reflect"
	"strings"
	"testing"
)

// TestAgentFlagLists: one rule for lists. -join (and -http-allowed-host)
// is repeatable and comma-separated, like VIGIL_JOIN; -tag takes one
// KEY=VALUE per flag and refuses a comma in a value, naming the flags to
// write instead; -hook keeps its commas (serf's filter lists).
func TestAgentFlagLists(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		join    []string
		tags    map[string]string
		hooks   []string
		wantErr string
	}{
		{name: "join comma list", args: []string{"-join", "10.0.0.4:7946,10.0.0.6:7946", "-join", " 10.0.0.7:7946 ,"},
			join: []string{"10.0.0.4:7946", "10.0.0.6:7946", "10.0.0.7:7946"}},
		{name: "join as VIGIL_JOIN", env: map[string]string{"VIGIL_JOIN": "10.0.0.4:7946,10.0.0.6:7946"},
			join: []string{"10.0.0.4:7946", "10.0.0.6:7946"}},
		{name: "tag repeated", args: []string{"-tag", "role=replica", "-tag", "dc=east-1"},
			tags: map[string]string{"role": "replica", "dc": "east-1"}},
		{name: "tag list refused", args: []string{"-tag", "role=replica,dc=east-1"},
			wantErr: `-tag: tags: tag "role=replica,dc=east-1": one tag per -tag: -tag role=replica -tag dc=east-1`},
		{name: "tag value with a comma refused", args: []string{"-tag", "zones=a,b"},
			wantErr: `-tag: tags: tag "zones=a,b": a value cannot hold a comma on the command line or in VIGIL_TAG`},
		{name: "hook keeps commas", args: []string{"-hook", "member-join,member-failed=echo a,b"},
			hooks: []string{"member-join,member-failed=echo a,b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VIGIL_JOIN", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := loadAgentConfig(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.join != nil && !reflect.DeepEqual(cfg.Join, tt.join) {
				t.Errorf("join %q, want %q", cfg.Join, tt.join)
			}
			for k, v := range tt.tags {
				if cfg.Tags[k] != v {
					t.Errorf("tag %s = %q, want %q (tags %v)", k, cfg.Tags[k], v, cfg.Tags)
				}
			}
			if tt.hooks != nil && !reflect.DeepEqual(cfg.HookSpecs, tt.hooks) {
				t.Errorf("hook specs %q, want %q", cfg.HookSpecs, tt.hooks)
			}
		})
	}
}
