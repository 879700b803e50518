package agent

import (
	"errors"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
)

// classifiedError keeps an error's message and adds a sentinel that the
// HTTP API maps to a status.
type classifiedError struct {
	err  error
	kind error
}

func (e *classifiedError) Error() string   { return e.err.Error() }
func (e *classifiedError) Unwrap() []error { return []error{e.err, e.kind} }

// ForceLeave implements the HTTP API's Agent: it forces a failed member
// out of the cluster (see membership.Cluster.ForceLeave).
func (a *Agent) ForceLeave(name string, prune bool) error {
	c := a.cluster.Load()
	if c == nil {
		return errors.New("gossip is not running")
	}
	err := c.ForceLeave(name, prune)
	switch {
	case errors.Is(err, membership.ErrUnknownMember):
		return &classifiedError{err: err, kind: vigilhttp.ErrUnknownMember}
	case errors.Is(err, membership.ErrNotFailed):
		return &classifiedError{err: err, kind: vigilhttp.ErrMemberNotFailed}
	}
	return err
}
