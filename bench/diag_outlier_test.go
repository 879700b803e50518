package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestDiagOutlier (temporary) compares, per survivor, when serf's member
// list shows the victim failed and when the hook started.
func TestDiagOutlier(t *testing.T) {
	vb := os.Getenv("DIAG_VIGIL")
	if vb == "" {
		t.Skip("DIAG_VIGIL not set")
	}
	trials, _ := strconv.Atoi(os.Getenv("DIAG_TRIALS"))
	env := &Env{VigilBin: vb, Dir: t.TempDir(), Logf: t.Logf}
	defer env.KillAll()
	c, _, err := env.StartCluster(ClusterOptions{Setup: Setup{Vigil, "local"}, N: 5}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for tr := range trials {
		v := c.Agents[1+tr%4]
		t0 := time.Now()
		_ = syscall.Kill(v.PID(), syscall.SIGKILL)
		v.waitExit(5 * time.Second)
		seenFailed := map[string]time.Duration{}
		hook := map[string]time.Duration{}
		for time.Since(t0) < 30*time.Second && (len(hook) < 4 || len(seenFailed) < 4) {
			for _, a := range c.Agents {
				if a == v {
					continue
				}
				if _, ok := seenFailed[a.Name]; ok {
					continue
				}
				resp, err := c.client.Get("http://127.0.0.1:" + strconv.Itoa(a.APIPort) + "/v1/members?status=failed")
				if err != nil {
					continue
				}
				var ms []struct{ Name string }
				_ = json.NewDecoder(resp.Body).Decode(&ms)
				resp.Body.Close()
				for _, m := range ms {
					if m.Name == v.Name {
						seenFailed[a.Name] = time.Since(t0)
					}
				}
			}
			lines, _ := ReadHookLog(c.HookLog)
			for _, l := range lines {
				if l.Member == v.Name && l.T >= t0.UnixNano() {
					if _, ok := hook[l.Self]; !ok {
						hook[l.Self] = time.Duration(l.T - t0.UnixNano())
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		line := fmt.Sprintf("trial %d victim %s:", tr, v.Name)
		late := false
		for _, a := range c.Agents {
			if a == v {
				continue
			}
			f, h := seenFailed[a.Name], hook[a.Name]
			line += fmt.Sprintf(" %s failed@%.2fs hook@%.2fs;", a.Name, f.Seconds(), h.Seconds())
			if h > 10*time.Second || f > 10*time.Second || h == 0 {
				late = true
			}
		}
		if late {
			line += " <== LATE"
		}
		t.Log(line)
		_ = v.start()
		if _, err := c.WaitConverged(time.Now(), time.Minute); err != nil {
			t.Log(err)
		}
		time.Sleep(time.Second)
	}
}
