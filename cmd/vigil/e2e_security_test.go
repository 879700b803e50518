package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/membership"
)

// fp is a key's fingerprint, as vigil keys list shows it.
func fp(t *testing.T, key string) string {
	t.Helper()
	b, err := membership.DecodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return membership.KeyID(b)
}

// keysList runs `vigil keys list -format json` against an agent: the
// keys' fingerprints, never the keys.
func keysList(t *testing.T, a *clustertest.Agent) (keys, primary map[string]int) {
	t.Helper()
	out, err := runClient(t, "keys", "list", "-format", "json", "-http-addr", a.HTTPAddr())
	if err != nil {
		t.Fatalf("keys list on %s: %v", a.Name, err)
	}
	var resp struct {
		Keys        map[string]int `json:"keys"`
		PrimaryKeys map[string]int `json:"primary_keys"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if strings.Contains(out, "=") {
		t.Errorf("keys list shows a base64 key:\n%s", out)
	}
	return resp.Keys, resp.PrimaryKeys
}

// sawUserEvent reports whether the agent's event ring holds a user event.
func sawUserEvent(a *clustertest.Agent, name string) bool {
	var evs []struct {
		Type string `json:"event"`
		User *struct {
			Name string `json:"name"`
		} `json:"user_event"`
	}
	if a.Get("/v1/events", &evs) != nil {
		return false
	}
	for _, ev := range evs {
		if ev.Type == "user" && ev.User != nil && ev.User.Name == name {
			return true
		}
	}
	return false
}

// TestEncryptedClusterKeyRotation: three agents with one key form a
// cluster; an agent with another key can't join it, and the refusal is
// logged with the reason; the key is rotated (install, use, remove) while
// the cluster keeps working; a restarted agent keeps the rotated keyring
// from its data_dir even though its encrypt setting is the old key.
func TestEncryptedClusterKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	k1, _ := membership.GenerateKey()
	wrong, _ := membership.GenerateKey()
	k3, _ := membership.GenerateKey()
	dirs := map[string]string{}
	start := func(name, key string, extra ...string) *clustertest.Agent {
		if dirs[name] == "" {
			dirs[name] = t.TempDir()
		}
		return startAgent(t, name, append([]string{"-encrypt", key, "-data-dir", dirs[name]}, extra...)...)
	}
	a := start("a", k1)
	b := start("b", k1, "-join", a.GossipAddr())
	c := start("c", k1, "-join", a.GossipAddr())
	three := map[string]string{"a": "alive", "b": "alive", "c": "alive"}
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b, c}, three)

	// An agent with a different key is refused.
	x := startAgent(t, "x", "-encrypt", wrong)
	_, err := runClient(t, "join", "-http-addr", x.HTTPAddr(), a.GossipAddr())
	wantExitErr(t, err, "no installed keys could decrypt")
	wantExitErr(t, err, "gossip encryption mismatch")
	clustertest.WaitFor(t, 10*time.Second, "a to log why it refused x", func() bool {
		for _, line := range strings.Split(a.Log(), "\n") {
			if strings.Contains(line, `"level":"error"`) && strings.Contains(line, "could decrypt") &&
				strings.Contains(line, `"hint":"gossip encryption mismatch`) {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // give a wrongly admitted x time to show up
	for _, s := range []*clustertest.Agent{a, b, c} {
		if got := statuses(s); !reflect.DeepEqual(got, three) {
			t.Errorf("%s sees %v after x tried to join, want %v", s.Name, got, three)
		}
	}
	x.Kill()

	// Rotate, through different agents: every step reaches all three.
	for _, step := range []struct {
		via  *clustertest.Agent
		args []string
		want string
	}{
		{a, []string{"install", k3}, "Installed the key on 3/3 members"},
		{b, []string{"use", k3}, "Now using the key on 3/3 members"},
		{c, []string{"remove", k1}, "Removed the key on 3/3 members"},
	} {
		if step.args[0] == "use" {
			keys, primary := keysList(t, a)
			if !reflect.DeepEqual(keys, map[string]int{fp(t, k1): 3, fp(t, k3): 3}) || !reflect.DeepEqual(primary, map[string]int{fp(t, k1): 3}) {
				t.Errorf("after install: keys %v, primary %v", keys, primary)
			}
		}
		args := append([]string{"keys", step.args[0], "-http-addr", step.via.HTTPAddr()}, step.args[1:]...)
		out, err := runClient(t, args...)
		if err != nil || !strings.Contains(out, step.want) {
			t.Fatalf("vigil %s: %q, %v", strings.Join(args, " "), out, err)
		}
	}
	keys, primary := keysList(t, b)
	if !reflect.DeepEqual(keys, map[string]int{fp(t, k3): 3}) || !reflect.DeepEqual(primary, map[string]int{fp(t, k3): 3}) {
		t.Errorf("after rotation: keys %v, primary %v; want only the new key, primary on all 3", keys, primary)
	}
	// Removing the primary key is refused before it reaches the cluster.
	_, err = runClient(t, "keys", "remove", "-http-addr", a.HTTPAddr(), k3)
	wantExitErr(t, err, "primary key")
	for name, dir := range dirs {
		if name == "x" {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, "keyring"))
		var ring []string
		if err := json.Unmarshal(b, &ring); err != nil || !reflect.DeepEqual(ring, []string{k3}) {
			t.Errorf("%s's keyring file holds %s, want only the new key", name, b)
		}
	}

	// The cluster kept working: a user event reaches everyone, and all
	// members stay alive.
	if _, err := runClient(t, "event", "-http-addr", b.HTTPAddr(), "rotated"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*clustertest.Agent{a, b, c} {
		clustertest.WaitFor(t, 10*time.Second, s.Name+" to get the user event", func() bool { return sawUserEvent(s, "rotated") })
	}
	clustertest.AllSee(t, 5*time.Second, []*clustertest.Agent{a, b, c}, three)

	// A restart keeps the rotated keyring: c still says -encrypt k1, which
	// no member accepts any more, yet it rejoins with the key in data_dir.
	if err := c.Stop(); err != nil {
		t.Fatalf("c stopped with %v", err)
	}
	c2 := start("c", k1, "-join", a.GossipAddr())
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b, c2}, three)
	if !strings.Contains(c2.Log(), "the encrypt key is NOT in it and is ignored") {
		t.Error("the restarted agent does not say that its keyring wins over encrypt")
	}
	if keys, _ := keysList(t, c2); !reflect.DeepEqual(keys, map[string]int{fp(t, k3): 3}) {
		t.Errorf("after c's restart: keys %v", keys)
	}
}
