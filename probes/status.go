package probes

// Status is the health of one check, or the worst of several.
type Status string

// The statuses, from best to worst.
const (
	// Passing means the check succeeded.
	Passing Status = "passing"
	// Warning means the check works but reports trouble (HTTP 429, exit 1).
	Warning Status = "warning"
	// Critical means the check failed, timed out or expired.
	Critical Status = "critical"
)

// rank orders statuses; anything unknown ranks as critical, the safe side.
func (s Status) rank() int {
	switch s {
	case Passing:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// Valid reports whether s is passing, warning or critical.
func (s Status) Valid() bool {
	return s == Passing || s == Warning || s == Critical
}

// Worse reports whether s is worse than o: critical > warning > passing.
// A status that is not valid counts as critical.
func (s Status) Worse(o Status) bool { return s.rank() > o.rank() }

// Worst returns the worst of the statuses, passing when there are none.
func Worst(list ...Status) Status {
	worst := Passing
	for _, s := range list {
		if s.Worse(worst) {
			worst = s
		}
	}
	if !worst.Valid() {
		return Critical
	}
	return worst
}
