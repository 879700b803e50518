package probes

import (
	"fmt"
	"time"
)

// UpdateTTL sets a TTL check's status, as the service reports it through
// PUT /v1/checks/{id}/pass|warn|fail, and restarts its TTL timer. The note
// (up to 4 KiB kept) becomes the check's output. Thresholds do not apply:
// the status takes effect at once. Errors wrap ErrUnknownCheck when no
// check has the id, ErrNotTTL when the check is probed, and ErrStopped
// after Stop. Updates before Start are applied; the timer starts with
// Start.
func (m *Manager) UpdateTTL(id string, status Status, note string) error {
	c, ok := m.byID[id]
	if !ok {
		return fmt.Errorf("check %s: %w", id, ErrUnknownCheck)
	}
	if c.kind != KindTTL {
		return fmt.Errorf("check %s: %w", id, ErrNotTTL)
	}
	if !status.Valid() {
		return fmt.Errorf("check %s: status %q: want passing, warning or critical", id, status)
	}
	if len(note) > MaxOutput {
		note = string(validUTF8End([]byte(note[:MaxOutput])))
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if c.stopped {
		return fmt.Errorf("check %s: %w", id, ErrStopped)
	}
	c.updated = time.Now()
	if c.timer != nil {
		c.timer.Reset(time.Duration(c.def.TTL))
	}
	m.apply(c, result{status, note}, true)
	return nil
}

// startTTL starts a TTL check's timer: the first update is due one TTL
// after Start.
func (m *Manager) startTTL(c *check) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if c.stopped {
		return
	}
	c.updated = time.Now()
	c.timer = time.AfterFunc(time.Duration(c.def.TTL), func() { m.expire(c) })
}

// expire turns a TTL check critical when no update came within its TTL.
// It runs on the timer's goroutine.
func (m *Manager) expire(c *check) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	ttl := time.Duration(c.def.TTL)
	// An update that raced with the timer has re-armed it: not expired.
	if c.stopped || time.Since(c.updated) < ttl {
		return
	}
	m.apply(c, result{Critical, fmt.Sprintf("TTL expired (no update in %s)", c.def.TTL)}, true)
}
