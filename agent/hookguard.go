package agent

import (
	"github.com/vigil-agent/vigil/events/failover/etcdlock"
	"github.com/vigil-agent/vigil/events/hook"
)

// Every binary that runs an agent is also the hook guard of its failover
// runs (events/hook/guard.go): re-executed as the guard, it runs it here,
// before anything else, and exits.
func init() {
	hook.GuardEntry(map[string]hook.Completer{etcdlock.GuardKind: etcdlock.CompleteFromGuard})
}
