package probes

import "time"

// The kinds of check, as Definition.Kind returns them.
const (
	// KindHTTP is an HTTP check (Definition.HTTP).
	KindHTTP = "http"
	// KindTCP is a TCP connect check (Definition.TCP).
	KindTCP = "tcp"
	// KindExec is a program run without a shell (Definition.Exec).
	KindExec = "exec"
	// KindGRPC is a grpc.health.v1 check (Definition.GRPC).
	KindGRPC = "grpc"
	// KindTTL is a check updated from outside (Definition.TTL).
	KindTTL = "ttl"
)

// Defaults and limits of a Definition.
const (
	// DefaultInterval is the time between runs, Kubernetes' periodSeconds.
	DefaultInterval = 10 * time.Second
	// MinInterval is the shortest interval (and TTL) accepted, Consul's floor.
	MinInterval = time.Second
	// DefaultNetworkTimeout bounds an HTTP, TCP or gRPC run, as in Consul.
	DefaultNetworkTimeout = 10 * time.Second
	// DefaultExecTimeout bounds an exec run, as Consul's script checks.
	DefaultExecTimeout = 30 * time.Second
	// DefaultMethod is the HTTP method of an HTTP check.
	DefaultMethod = "GET"
	// MaxOutput is how much output a check keeps: the first bytes of an HTTP
	// body, the last bytes of an exec check's output. Consul's 4 KiB.
	MaxOutput = 4096
)

// Definition is one health check, as written in the agent's YAML config.
// Exactly one of HTTP, TCP, Exec, GRPC and TTL is set; it is the check's
// kind. Zero values take the defaults of WithDefaults.
type Definition struct {
	// ID names the check in logs, the HTTP API (/v1/checks/{id}) and
	// changes. Required; letters, digits, '_', '.' and '-' only, so it is
	// safe in a URL path and a log line.
	ID string `yaml:"id"`

	// Notes is a free-form description shown in the check's state.
	// Default empty. It is never gossiped, so its length costs nothing on
	// the wire.
	Notes string `yaml:"notes"`

	// HTTP is the URL of an HTTP check (http or https scheme). 2xx is
	// passing, 429 warning, anything else or no answer critical. Redirects
	// are followed (up to 10, as Go's client does), which also means a
	// redirect to a login page passes: point the check at a health path.
	HTTP string `yaml:"http"`
	// Method is the HTTP method. Default GET. HEAD is cheaper but some
	// servers answer it differently from GET; POST needs a Body for most.
	Method string `yaml:"method"`
	// Header adds request headers (a "Host" entry sets the Host). Default
	// none; the check sends User-Agent "vigil-health-check" and Accept
	// "text/plain, text/*, */*" unless overridden here.
	Header map[string][]string `yaml:"header"`
	// Body is the request body. Default empty. Sent on every run, so keep
	// it small.
	Body string `yaml:"body"`
	// TLSSkipVerify skips the check of the server's certificate on https
	// URLs. Default false. Setting it lets self-signed local services pass,
	// at the cost of not noticing an expired or wrong certificate.
	TLSSkipVerify bool `yaml:"tls_skip_verify"`

	// TCP is the host:port of a TCP check: passing when a connection opens
	// within the timeout, critical otherwise. Cheap, but says only that
	// something listens, not that it works.
	TCP string `yaml:"tcp"`

	// Exec is the argv of an exec check, run without a shell (write
	// ["/bin/sh", "-c", "..."] for one). Exit 0 is passing, 1 warning,
	// anything else critical; the output is the last 4 KiB of stdout and
	// stderr. The check runs in its own process group, which is killed at
	// the timeout and when the check has exited. The most flexible kind and
	// the most expensive: a process per run. Config file and flags only: no
	// HTTP endpoint can define one.
	Exec []string `yaml:"exec"`

	// GRPC is the host:port of a gRPC health check (grpc.health.v1, no
	// TLS): SERVING is passing, anything else (NOT_SERVING, UNKNOWN, an
	// error, a timeout) critical.
	GRPC string `yaml:"grpc"`
	// GRPCService is the service name sent in the health request. Default
	// empty, which asks about the server as a whole; naming a service
	// checks just that one.
	GRPCService string `yaml:"grpc_service"`

	// TTL makes a TTL check: nothing is probed, the service (or an
	// operator) reports its status through the agent's HTTP API
	// (PUT /v1/checks/{id}/pass|warn|fail) and the check turns critical
	// when no report came within TTL. At least 1s. Each report restarts the
	// timer; thresholds do not apply. A short TTL catches a hung service
	// sooner but costs more reports.
	TTL Duration `yaml:"ttl"`

	// Interval is the time between the starts of two runs. Default 10s
	// (Kubernetes' periodSeconds); at least 1s. Shorter notices failures
	// sooner and loads the service more. Not used by TTL checks.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one run; a run that has not answered by then is
	// critical. Default 10s for HTTP, TCP and gRPC checks and 30s for exec
	// checks, as in Consul (Kubernetes defaults to 1s). Shorter notices a
	// hung service sooner; too short fails a merely slow one. It may exceed
	// Interval: runs never overlap, the next waits for the last. Not used
	// by TTL checks.
	Timeout Duration `yaml:"timeout"`

	// SuccessBeforePassing is how many passing or warning results in a row
	// it takes for that status to apply. Default 0: the first one applies.
	// Higher values keep a flapping service out of rotation longer.
	SuccessBeforePassing int `yaml:"success_before_passing"`
	// FailuresBeforeWarning is how many critical results in a row turn
	// the check warning (until FailuresBeforeCritical is reached). Default
	// 0, meaning the same as FailuresBeforeCritical (no warning step).
	// Gives an early signal before the check is taken critical.
	FailuresBeforeWarning int `yaml:"failures_before_warning"`
	// FailuresBeforeCritical is how many critical results in a row it takes
	// for the check to turn critical. Default 0: the first failure applies.
	// Higher values ride out a blip but detect an outage later (roughly
	// Interval times this).
	FailuresBeforeCritical int `yaml:"failures_before_critical"`

	// InitialStatus is the status before the first result. Default
	// critical, so a service is not announced healthy before it has been
	// probed; passing announces it at once, at the risk of announcing a
	// broken one for up to an interval.
	InitialStatus Status `yaml:"initial_status"`
}

// Kind returns the check's kind: "http", "tcp", "exec", "grpc" or "ttl";
// "" when none or more than one is set.
func (d *Definition) Kind() string {
	kinds := d.kinds()
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// kinds lists the kinds that are set.
func (d *Definition) kinds() []string {
	var k []string
	if d.HTTP != "" {
		k = append(k, KindHTTP)
	}
	if d.TCP != "" {
		k = append(k, KindTCP)
	}
	if len(d.Exec) > 0 {
		k = append(k, KindExec)
	}
	if d.GRPC != "" {
		k = append(k, KindGRPC)
	}
	if d.TTL != 0 {
		k = append(k, KindTTL)
	}
	return k
}

// WithDefaults returns a copy of d with the defaults filled in: method GET
// for HTTP checks, interval 10s and timeout 10s (30s for exec) for probed
// checks, initial status critical. TTL checks get no interval or timeout.
// Applying it twice changes nothing.
func (d Definition) WithDefaults() Definition {
	kind := d.Kind()
	if kind == KindHTTP && d.Method == "" {
		d.Method = DefaultMethod
	}
	if kind != KindTTL && kind != "" {
		if d.Interval == 0 {
			d.Interval = Duration(DefaultInterval)
		}
		if d.Timeout == 0 {
			d.Timeout = Duration(DefaultNetworkTimeout)
			if kind == KindExec {
				d.Timeout = Duration(DefaultExecTimeout)
			}
		}
	}
	if d.InitialStatus == "" {
		d.InitialStatus = Critical
	}
	return d
}
