package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/membership"
)

// TestMaintenanceSurvivesRestart: maintenance mode, with its reason,
// stays on across a restart of the agent with its data_dir, and stays off
// once turned off; the state file is the data_dir's, mode 0600.
func TestMaintenanceSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	run := func() (*Agent, func()) {
		cfg := Default()
		cfg.Name = "web-1"
		cfg.Bind = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.Profile = string(membership.ProfileFast)
		cfg.Service = &ServiceConfig{Name: "web", Port: 8080}
		cfg.DataDir = dataDir
		r := runAgent(t, cfg, zerolog.Nop())
		return r.Agent, r.Stop
	}
	state := func(a *Agent) (events.HealthStatus, string) {
		a.health.mu.Lock()
		defer a.health.mu.Unlock()
		return a.localHealth(), a.health.reason
	}

	a, stop := run()
	if err := a.SetMaintenance(true, "kernel upgrade"); err != nil {
		t.Fatal(err)
	}
	stop()
	if st, err := os.Stat(filepath.Join(dataDir, maintenanceFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", st, err)
	}

	a, stop = run()
	if h, reason := state(a); h != events.HealthMaintenance || reason != "kernel upgrade" {
		t.Errorf("after a restart: health %q, reason %q; want maintenance, kernel upgrade", h, reason)
	}
	if err := a.SetMaintenance(false, ""); err != nil {
		t.Fatal(err)
	}
	stop()

	a, _ = run()
	if h, _ := state(a); h == events.HealthMaintenance {
		t.Errorf("maintenance came back after it was turned off and the agent restarted")
	}
}
