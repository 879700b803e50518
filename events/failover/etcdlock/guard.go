package etcdlock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events/hook"
)

// GuardKind is the kind of completion the hook guard records for an etcd
// claim (hook.GuardEntry).
const GuardKind = "etcd"

// guardSpec is what the hook guard process needs to record a completion:
// the connection (the password included: it reaches the guard on a pipe,
// never in its environment or arguments) and the claim.
type guardSpec struct {
	Endpoints        []string `json:"endpoints"`
	TLS              bool     `json:"tls,omitempty"`
	TLSFiles         TLSFiles `json:"tls_files,omitempty"`
	Username         string   `json:"username,omitempty"`
	Password         string   `json:"password,omitempty"`
	Holder           string   `json:"holder"`
	Key              string   `json:"key"`
	Fence            uint64   `json:"fence"`
	RequestTimeoutMS int64    `json:"request_timeout_ms"`
}

// GuardCompletion implements failover.GuardCompleter: the hook guard
// records the completion of this claim itself when the hook exits 0, so
// that a run completed while its agent was stopped is recorded before the
// lease expires and is not run again by another agent.
func (l *lease) GuardCompletion() (string, []byte) {
	c := l.e.cfg
	spec, _ := json.Marshal(guardSpec{Endpoints: c.Endpoints, TLS: c.TLS != nil, TLSFiles: c.TLSFiles, Username: c.Username, Password: c.Password,
		Holder: c.Holder, Key: l.key, Fence: l.fence, RequestTimeoutMS: c.RequestTimeout.Milliseconds()})
	return GuardKind, spec
}

// CompleteFromGuard is the hook.Completer of GuardKind: it records, from
// the guard process, that the run of spec's claim completed (outcome ok),
// exactly as the agent's own completion does (a stale fence is refused).
func CompleteFromGuard(ctx context.Context, spec []byte) error {
	var s guardSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return fmt.Errorf("etcd completion spec: %w", err)
	}
	cfg := Config{Endpoints: s.Endpoints, Username: s.Username, Password: s.Password, Holder: s.Holder,
		RequestTimeout: time.Duration(s.RequestTimeoutMS) * time.Millisecond, Logger: zerolog.Nop()}
	if s.TLS {
		tc, err := LoadTLS(s.TLSFiles.CA, s.TLSFiles.Cert, s.TLSFiles.Key)
		if err != nil {
			return err
		}
		cfg.TLS = tc
	}
	e, err := New(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	return e.recordDone(ctx, s.Key, s.Fence, "ok")
}

var _ hook.Completer = CompleteFromGuard
