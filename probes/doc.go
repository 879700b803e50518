// Package probes runs the health checks of the service beside the agent:
// HTTP, TCP, exec, gRPC and TTL checks, with Consul-style thresholds, and
// reports each status change so the agent can gossip it.
//
// The semantics follow Consul checks and Kubernetes probes: an HTTP check
// passes on 2xx, warns on 429 and is critical otherwise; an exec check
// passes on exit 0, warns on exit 1 and is critical otherwise; a TTL check
// is critical when nothing updated it within its TTL. See docs/checks.md.
//
// The package is standalone: of this repository it imports only
// internal/tail (the bounded tail of an exec check's output).
package probes
