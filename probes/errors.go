package probes

import "errors"

// Errors of Manager.UpdateTTL, wrapped with the check's id; test them with
// errors.Is.
var (
	// ErrUnknownCheck means no check has the id. The HTTP API answers 404.
	ErrUnknownCheck = errors.New("unknown check")
	// ErrNotTTL means the check is probed, not a TTL check, so its status
	// cannot be set from outside. The HTTP API answers 400.
	ErrNotTTL = errors.New("not a ttl check")
	// ErrStopped means the manager was stopped; no more updates are taken.
	ErrStopped = errors.New("checks stopped")
)
