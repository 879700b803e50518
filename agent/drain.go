package agent

import (
	"time"
)

// drainReason is the maintenance reason shown in /v1/self while the agent
// drains before a graceful leave.
const drainReason = "draining before shutdown"

// validateDrain checks drain: not negative, and only with a service, since
// without one there is nothing for peers to stop picking.
func (c *Config) validateDrain() ConfigErrors {
	switch {
	case c.Drain < 0:
		return ConfigErrors{{Where: c.where("drain"), Key: "drain", Msg: c.Drain.String() + ": must not be negative"}}
	case c.Drain > 0 && c.Service == nil:
		return ConfigErrors{{Where: c.where("drain"), Key: "drain",
			Msg: "drain needs a service: set service (name, port) or -service NAME:PORT, or leave drain out"}}
	}
	return nil
}

// drainBeforeLeave runs before a graceful leave: it puts the service in
// maintenance, so that peers stop picking this instance while it still
// serves, and waits cfg.Drain. It returns at once without a service, with
// drain 0, or when the instance already is in maintenance (drained by hand:
// peers stopped picking it long ago). The HTTP API and the checks keep
// running meanwhile; a second SIGTERM still exits at once.
func (a *Agent) drainBeforeLeave() {
	// A reload may change the service and drain: read them under its lock.
	a.health.mu.Lock()
	d, hasService, already := time.Duration(a.cfg.Drain), a.cfg.Service != nil, a.health.maintenance
	a.health.mu.Unlock()
	if !hasService || d <= 0 {
		return
	}
	if already {
		a.log.Info().Msg("already in maintenance: leaving without a drain")
		return
	}
	if err := a.SetMaintenance(true, drainReason); err != nil {
		a.log.Warn().Err(err).Msg("could not drain before leaving")
		return
	}
	a.log.Info().Dur("drain", d).Msg("draining: in maintenance before leaving the cluster")
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}
