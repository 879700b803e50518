package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsPromoteScriptRefusesOldFences runs the plain-file promote script
// of docs/failover.md with a series of fences: it acts for a fence above
// every one that acted before and refuses the others, which is what makes
// a second, older runner harmless.
func TestDocsPromoteScriptRefusesOldFences(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) is not installed")
	}
	b, err := os.ReadFile("../docs/failover.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, after, ok := strings.Cut(doc, "### A promote script that uses the fence")
	if !ok {
		t.Fatal("docs/failover.md has no promote script section")
	}
	_, after, ok = strings.Cut(after, "```sh\n")
	script, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("no ```sh block in the promote script section")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "promoted")
	script = strings.ReplaceAll(script, "/var/lib/db/failover-fence", filepath.Join(dir, "fence"))
	script = strings.ReplaceAll(script, "/usr/local/bin/promote-this-replica", `echo "$VIGIL_FENCE" >> `+out)
	path := filepath.Join(dir, "promote.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		fence string
		acts  bool
	}{{"1765000000000", true}, {"1764999999999", false}, {"1765000000000", false}, {"1765000000500", true}} {
		before, _ := os.ReadFile(out)
		cmd := exec.Command("/bin/sh", path)
		cmd.Env = append(os.Environ(), "VIGIL_FENCE="+step.fence)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fence %s: %v: %s", step.fence, err, o)
		}
		after, _ := os.ReadFile(out)
		if acted := len(after) > len(before); acted != step.acts {
			t.Errorf("fence %s: acted %v, want %v (promoted so far: %q)", step.fence, acted, step.acts, after)
		}
	}
}
