package agent

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

// userEventLimit is the configured user event rate limit (user_event_rate,
// user_event_burst).
func (c *Config) userEventLimit() hook.RateLimit {
	return hook.RateLimit{Rate: c.UserEventRate, Burst: c.UserEventBurst}
}

// validateUserEvents checks user_event_rate and user_event_burst.
func (c *Config) validateUserEvents() ConfigErrors {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch r := c.UserEventRate; {
	case math.IsNaN(r) || math.IsInf(r, 0):
		add("user_event_rate", "%v: want a number of events per second (0 turns the limit off)", r)
	case r < 0:
		add("user_event_rate", "%v: must not be negative (0 turns the limit off)", r)
	case c.UserEventBurst < 0:
		add("user_event_burst", "%d: must not be negative", c.UserEventBurst)
	case r > 0 && c.UserEventBurst == 0:
		add("user_event_burst", "0 with user_event_rate %v: must be at least 1, or the limit would refuse every event (set user_event_rate: 0 to turn the limit off)", r)
	}
	return errs
}

// floatOption is an Option that sets a float64 field.
func floatOption(flag, key, usage, def string, field func(*Config) *float64) *Option {
	return &Option{Flag: flag, Key: key, Usage: usage, Default: def,
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			*field(c) = f
			return nil
		}}
}

// fireUserEvent sends a user event to the cluster, without the rate
// limit: vigil's own messages (failover announcements, the brake's
// release) use it.
func (a *Agent) fireUserEvent(name string, payload []byte) error {
	c := a.cluster.Load()
	if c == nil {
		return errors.New("gossip is not running")
	}
	return c.UserEvent(name, payload)
}

// userEventLimited counts and logs a received user event the runner's
// rate limit kept from the hooks (the runner logs and records them).
func (a *Agent) userEventLimited(*events.Event) {
	a.metrics.CountUserEventLimited(vigilhttp.LimitedReceived)
}

// allowFire applies the rate limit to a user event fired through the API;
// its error wraps vigilhttp.ErrRateLimited and *hook.RateLimitedError.
func (a *Agent) allowFire(name string) error {
	if a.fired.Allow(name, time.Now()) {
		return nil
	}
	a.metrics.CountUserEventLimited(vigilhttp.LimitedFired)
	err := &hook.RateLimitedError{Name: name, Limit: a.fired.Limit()}
	a.log.Debug().Str("user_event", name).Str("limit", err.Limit.String()).Msg("user event refused: over the rate limit")
	return fmt.Errorf("%w: %w", vigilhttp.ErrRateLimited, err)
}

// reloadUserEventLimit applies a reloaded user_event_rate and
// user_event_burst to received and fired events alike; every name starts
// again with a full bucket.
func (a *Agent) reloadUserEventLimit(next *Config) {
	if next.userEventLimit() == a.cfg.userEventLimit() {
		return
	}
	a.cfg.UserEventRate, a.cfg.UserEventBurst = next.UserEventRate, next.UserEventBurst
	a.runner.SetUserEventLimit(next.userEventLimit())
	a.fired.SetLimit(next.userEventLimit())
	a.log.Info().Str("limit", next.userEventLimit().String()).Msg("user event rate limit changed")
}
