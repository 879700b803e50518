package agent

import (
	"strings"
	"testing"
)

// TestValidateGossipInput: names, tags and user event names break the
// limits peers enforce on gossip (membership.CheckName, CheckTags,
// CheckEventName) are refused at start, naming the key and its line.
func TestValidateGossipInput(t *testing.T) {
	long := strings.Repeat("n", 129)
	tests := []struct {
		name string
		body string
		want string // "" when valid
	}{
		{"plain", "name: db-2\ntags: {role: replica}\n", ""},
		{"name at the limit", "name: " + strings.Repeat("n", 128) + "\n", ""},
		{"name too long", "name: " + long + "\n", "vigil.yaml:1: name: member name is 129 bytes long, over the limit of 128"},
		{"newline in name", "name: \"db\\n2\"\n", "vigil.yaml:1: name: member name has the unprintable character U+000A at byte 2"},
		{"ESC in name", "name: \"db\\e[31m\"\n", "name: member name has the unprintable character U+001B"},
		{"C1 in name", "name: \"db\\x9b\"\n", "U+009B"},
		{"tab in tag value", "name: a\ntags:\n  role: \"a\\tb\"\n", `vigil.yaml:2: tags: value of tag "role" has the unprintable character U+0009`},
		{"tag key too long", "name: a\ntags:\n  " + strings.Repeat("k", 65) + ": v\n", "tags: tag key \"kkkk"},
		{"tag value too long", "name: a\ntags:\n  role: " + strings.Repeat("v", 257) + "\n", `tags: value of tag "role" is 257 bytes long, over the limit of 256`},
		{"service tag key with prefix too long", "name: a\nservice:\n  name: db\n  port: 5432\n  tags:\n    " + strings.Repeat("k", 61) + ": v\n",
			`service.tags: tag key "svc:kkk`},
		{"service tag value with ESC", "name: a\nservice:\n  name: db\n  port: 5432\n  tags: {version: \"1\\e\"}\n", `service.tags: value of tag "svc:version"`},
		{"service address too long", "name: a\nservice:\n  name: db\n  port: 5432\n  address: " + strings.Repeat("a", 257) + "\n", "service.address: value of tag \"service_addr\" is 257 bytes"},
		{"user filter with ESC", "name: a\nhooks:\n  - on: [\"user:dep\\eloy\"]\n    shell: 'true'\n", `hooks[0].on: event filter "user:dep\x1bloy": user event name has the unprintable character U+001B`},
		{"user filter too long", "name: a\nhooks:\n  - on: [user:" + long + "]\n    shell: 'true'\n",
			`hooks[0].on: event filter "user:` + strings.Repeat("n", 59) + `"... (134 bytes): user event name is 129 bytes long, over the limit of 128`},
		{"user filter fine", "name: a\nhooks:\n  - on: [user:deploy, member-failed]\n    shell: 'true'\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
}

// TestValidateGossipInputHookSpec: a -hook spec's user filter is checked
// too.
func TestValidateGossipInputHookSpec(t *testing.T) {
	cfg := Default()
	cfg.Name = "a"
	cfg.HookSpecs = []string{"user:ok=/bin/true", "user:b\x07d,member-join=/bin/true"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `hook: event filter "user:b\ad": user event name has the unprintable character U+0007`) {
		t.Fatalf("Validate() = %v", err)
	}
}
