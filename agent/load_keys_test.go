package agent

import (
	"errors"
	"testing"
)

// TestUnknownKeysWithOddNamesAreNamed: an unknown key is reported as one,
// with its line, whatever its name: with spaces, empty, or with a line
// break (FuzzConfigDecode found the last two reported as "field ... not
// found in type agent.Config", the last without its line).
func TestUnknownKeysWithOddNamesAreNamed(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"name: a\n\"my key\": 1\n", "vigil.yaml:2: my key: unknown key"},
		{"name: a\n\"\": 1\n", `vigil.yaml:2: "": unknown key`},
		{"? !0000\n#000", `vigil.yaml:1: "": unknown key`},
		{"name: a\n\"a\\nb\": 1\n", "vigil.yaml:2: a\nb: unknown key"},
		{"hooks:\n  - name: x\n    shell: 'true'\n    \"time out\": 5s\n", "vigil.yaml:4: hooks[0].time out: unknown key"},
	} {
		c := Default()
		err := c.loadYAML("vigil.yaml", []byte(tc.body))
		var errs ConfigErrors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Error() != tc.want {
			t.Errorf("%q: error %q, want %q", tc.body, err, tc.want)
		}
	}
}
