package probes

// thresholds turns a check's results into its status the way Consul's
// StatusHandler does. A passing or warning result counts as a success: it
// zeroes the failure count and applies once successes reach
// successBeforePassing. A critical result zeroes the success count; it
// applies once failures reach failuresBeforeCritical, else the check turns
// warning once failures reach failuresBeforeWarning (0 meaning the same as
// failuresBeforeCritical), else the status stays as it was.
//
// It is pure (no clock, no locks): the caller serialises observe calls.
type thresholds struct {
	successBeforePassing   int
	failuresBeforeWarning  int
	failuresBeforeCritical int

	status    Status
	successes int
	failures  int
}

// newThresholds starts from the definition's initial status (defaults
// applied).
func newThresholds(d Definition) *thresholds {
	t := &thresholds{
		successBeforePassing:   d.SuccessBeforePassing,
		failuresBeforeWarning:  d.FailuresBeforeWarning,
		failuresBeforeCritical: d.FailuresBeforeCritical,
		status:                 d.InitialStatus,
	}
	if t.failuresBeforeWarning == 0 {
		t.failuresBeforeWarning = t.failuresBeforeCritical
	}
	if !t.status.Valid() {
		t.status = Critical
	}
	return t
}

// observe records one result and returns the check's status after it and
// whether that status differs from the one before.
func (t *thresholds) observe(result Status) (Status, bool) {
	next := t.status
	if result == Passing || result == Warning {
		t.successes++
		t.failures = 0
		if t.successes >= t.successBeforePassing {
			next = result
		}
	} else {
		t.successes = 0
		t.failures++
		switch {
		case t.failures >= t.failuresBeforeCritical:
			next = Critical
		case t.failures >= t.failuresBeforeWarning:
			next = Warning
		}
	}
	changed := next != t.status
	t.status = next
	return next, changed
}

// set applies a status directly, as a TTL update does: the counters move
// as for observe but no threshold holds the status back.
func (t *thresholds) set(result Status) (Status, bool) {
	if result == Passing || result == Warning {
		t.successes++
		t.failures = 0
	} else {
		t.successes = 0
		t.failures++
	}
	changed := result != t.status
	t.status = result
	return result, changed
}
