package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/membership"
)

// TestLeftInstanceHealth: an instance whose agent stopped gracefully is
// listed with health "left", not "critical" (it was stopped, not broken),
// and is never passing; one whose agent failed stays "critical".
func TestLeftInstanceHealth(t *testing.T) {
	start := func(name, join string) (*Agent, func()) {
		cfg := Default()
		cfg.Name = name
		cfg.Bind = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.Profile = string(membership.ProfileFast)
		cfg.Service = &ServiceConfig{Name: "web", Port: 8080}
		if join != "" {
			cfg.Join = []string{join}
		}
		r := runAgent(t, cfg, zerolog.Nop())
		return r.Agent, r.Stop
	}
	a, _ := start("web-1", "")
	_, stopB := start("web-2", a.cfg.Bind)
	health := func(node string) (events.HealthStatus, events.MemberStatus) {
		for _, in := range a.Instances("web") {
			if in.Node == node {
				return in.Health, in.Status
			}
		}
		return "", ""
	}
	seen := func(want func(events.HealthStatus, events.MemberStatus) bool) func() error {
		return func() error {
			if h, s := health("web-2"); !want(h, s) {
				return fmt.Errorf("web-2 has health %q, status %q", h, s)
			}
			return nil
		}
	}
	clustertest.Eventually(t, 30*time.Second, "web-2 passing", seen(func(h events.HealthStatus, _ events.MemberStatus) bool { return h == events.HealthPassing }))
	stopB() // as SIGTERM: a graceful leave
	clustertest.Eventually(t, 30*time.Second, "web-2 to have left", seen(func(_ events.HealthStatus, s events.MemberStatus) bool { return s == events.StatusLeft }))
	if h, s := health("web-2"); h != events.HealthLeft {
		t.Errorf("a gracefully stopped instance: health %q (status %s), want left", h, s)
	}
}
