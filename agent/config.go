// Package agent holds vigil's configuration and the agent's lifecycle: it
// wires membership, events, hooks and the HTTP API together.
package agent

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	vigilconsul "github.com/vigil-agent/vigil/consul"
	vigildns "github.com/vigil-agent/vigil/dns"
	"github.com/vigil-agent/vigil/events/hook"
	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
	"github.com/vigil-agent/vigil/probes"
)

// Config is the agent's whole configuration. The same keys come from the
// YAML file, from VIGIL_* environment variables and from flags; flags win
// over the environment, the environment over files, files over defaults.
type Config struct {
	// Name is the node's unique name in the cluster. Default: the hostname.
	// Two live agents with one name fight over it; serf keeps one.
	Name string `yaml:"name"`
	// Bind is the gossip address, HOST:PORT, used on both TCP and UDP.
	// Default 0.0.0.0:7946 (serf's port). -dev binds 127.0.0.1:7946.
	Bind string `yaml:"bind"`
	// Advertise is the HOST:PORT peers are told to reach, for NAT or
	// containers. Default: empty, the bind address (with 0.0.0.0, the first
	// private IP memberlist finds).
	Advertise string `yaml:"advertise"`
	// HTTP is the local API's HOST:PORT. Default 127.0.0.1:7947. The API can
	// fire events and make the agent leave, so keep it on loopback.
	HTTP string `yaml:"http"`
	// HTTPToken, when set, must come as "Authorization: Bearer TOKEN" on
	// every API request that changes something (POST, PUT) and on the
	// keyring endpoints; reads stay open. Default: empty, no token, and
	// then http must be a loopback address. At least 16 characters; keep
	// it out of flags (ps shows them): use the file (mode 0600) or
	// VIGIL_HTTP_TOKEN. Hooks get it as VIGIL_HTTP_TOKEN only with
	// hook_http_token. A reload does not change it: it is listed in
	// needs_restart.
	HTTPToken string `yaml:"http_token"`
	// HTTPAllowedHosts are names (or addresses) the API answers as Host,
	// besides localhost, loopback addresses and the address a connection
	// arrived on; a page's Origin may name them too. Default: none. A
	// request with any other Host is a 403: a web page on a name that an
	// attacker resolves to this host (DNS rebinding) can't read the API.
	// Add the name clients use when they reach the API by a DNS name.
	HTTPAllowedHosts []string `yaml:"http_allowed_hosts"`
	// HTTPMaxConnections caps the API's open connections. Default 256.
	// One more is answered 503 and closed, so a flood of connections
	// can't take the file descriptors that gossip, joins and hooks need.
	// Must be larger than HTTPMaxStreams.
	HTTPMaxConnections int `yaml:"http_max_connections"`
	// HTTPMaxStreams caps the open event streams (GET /v1/events/stream,
	// vigil monitor). Default 64. One more is answered 429. Each stream
	// holds a connection, a goroutine and a subscription to the event
	// ring.
	HTTPMaxStreams int `yaml:"http_max_streams"`
	// HTTPTLSCert and HTTPTLSKey are PEM files of the API's certificate
	// and private key: set both to serve HTTPS, neither for plain HTTP
	// (default). TLS keeps the token and the answers from being read or
	// changed on the wire; on loopback it adds little. The files are
	// re-read when they change, so a renewed certificate needs no restart.
	HTTPTLSCert string `yaml:"http_tls_cert"`
	// HTTPTLSKey is the private key of HTTPTLSCert; see there.
	HTTPTLSKey string `yaml:"http_tls_key"`
	// DNS is the HOST:PORT where the agent answers DNS queries for the
	// cluster's services and nodes (docs/dns.md), on UDP and TCP. Default
	// 127.0.0.1:8600, loopback only; "" turns DNS off. The answers are
	// read-only but open to whoever reaches the port: service names,
	// node names and addresses. Off loopback, anyone on the network can
	// list them, and a forged UDP query can reflect an answer (at most
	// 1,232 bytes) at someone else. When left at its default and the port
	// is taken (a Consul agent on the host), the agent logs a warning
	// and runs without DNS; an address set in the configuration must
	// open, or the agent does not start. Needs a restart.
	DNS string `yaml:"dns"`
	// DNSDomain is the zone answered: NAME.service.DOMAIN,
	// NODE.node.DOMAIN. Default "vigil."; every other name is answered
	// REFUSED (the server never recurses). Needs a restart.
	DNSDomain string `yaml:"dns_domain"`
	// DNSTTL is the time to live of every DNS record, in whole seconds.
	// Default 0: resolvers do not cache, and a failed instance is gone
	// from the next answer. Longer spares the agent repeated queries from
	// a caching resolver, at the price of clients using an instance up to
	// that long after it failed. At most 1h. Needs a restart.
	DNSTTL Duration `yaml:"dns_ttl"`
	// DNSMaxConnections caps the DNS server's open TCP connections.
	// Default 64. One more is closed as soon as it is accepted, so a
	// flood of connections costs at most this many descriptors (each idle
	// connection is closed after 8 s). TCP carries only what did not fit
	// a UDP answer, so few clients need it. At least 1. Needs a restart.
	DNSMaxConnections int `yaml:"dns_max_connections"`
	// ConsulHTTP is the HOST:PORT of the Consul-compatible read API
	// (docs/consul.md): Consul's catalog and health endpoints with
	// blocking queries, for consul-template, Prometheus'
	// consul_sd_configs and Consul's clients. Default "": off. Read-only
	// and without a token, like DNS: keep it on loopback
	// (127.0.0.1:8500, Consul's port), or firewall it to your clients.
	// Must open, or the agent does not start. Needs a restart.
	ConsulHTTP string `yaml:"consul_http"`
	// ConsulDatacenter is the datacenter name the Consul API reports (in
	// /v1/agent/self and every entry) and accepts in ?dc=. Default
	// "dc1", Consul's own default, so clients configured with it keep
	// working; another ?dc= is answered 500, as Consul answers a
	// datacenter it has no path to. Needs a restart.
	ConsulDatacenter string `yaml:"consul_datacenter"`
	// ConsulHTTPMaxConnections caps the Consul API's open connections.
	// Default 256. Each blocking query holds one for up to its wait (5
	// minutes unless asked, 10 at most), and consul-template keeps one
	// per service it watches; one more is answered 503 and closed. Needs
	// a restart.
	ConsulHTTPMaxConnections int `yaml:"consul_http_max_connections"`
	// ClusterName is sent in front of every gossip packet and stream, and
	// gossip without the same name is dropped (memberlist's label): two
	// clusters on one network stay apart even when an address of one is
	// given to the other, or an agent of one starts on a port an agent of
	// the other just left (whose old cluster keeps probing it for a
	// while). Default "": no name, which only agents without a name talk
	// to, as serf agent does. 1 to 64 letters, digits, '.', '_' or '-'.
	// It is not a secret and does not authenticate anyone: use encrypt
	// for that. Every agent of a cluster needs the same name, so changing
	// it means restarting all of them at once (a rolling change splits
	// the cluster in two until the last agent restarts). Needs a restart.
	ClusterName string `yaml:"cluster_name"`
	// GossipCompression compresses every gossip packet and push/pull
	// (memberlist's LZW), as serf agent and Consul do. Default false:
	// compression trades CPU on both ends for bytes, and a join costs
	// CPU in proportion to the cluster's size, since each push/pull
	// carries every member. 100 agents started at once on 2 cores used
	// 15.2 s of CPU in their first 20 s with it and 10.9 s without; 200
	// agents with it still saturated the 2 cores 30 s later (5 runs of
	// 5, 3 of them from test builds with fewer or sparser join rounds),
	// without it they had calmed down 17-21 s after the start (3 of 3;
	// docs/benchmarks.md, Scale alone).
	// Turn it on where gossip crosses a slow or metered link. Members
	// with and without it talk to each other, so it can change one agent
	// at a time. Needs a restart.
	GossipCompression bool `yaml:"gossip_compression"`
	// Encrypt is the gossip encryption key: base64 of 16, 24 or 32 bytes
	// (AES-128/192/256; vigil keygen makes a 32-byte one). Default: empty,
	// gossip in plain text, which anyone on the network can read, forge
	// and join. Every member needs the same key. With data_dir, the
	// keyring is kept in data_dir/keyring and, once there, wins over this
	// setting, so keys rotated with vigil keys survive restarts.
	Encrypt string `yaml:"encrypt"`
	// Join lists HOST:PORT addresses joined at start. The agent retries in
	// the background with backoff (1 s doubling to 30 s) until one answers,
	// serving HTTP meanwhile. Flags and env add to the file's list.
	Join []string `yaml:"join"`
	// JoinInterval is how often, once joined, the agent resolves the join
	// addresses again and joins every one that is not a live member's.
	// Default 30s; 0 joins only at start, as serf agent and Consul do.
	// It merges clusters that formed apart: agents started at the same
	// moment behind one DNS name that each found only themselves. Shorter
	// merges them sooner, at a DNS lookup per join address per interval
	// (and a join attempt per address of a member that is gone). At least
	// 1s.
	JoinInterval Duration `yaml:"join_interval"`
	// JoinSyncRounds limits the join anti-entropy: after a join, a rejoin
	// (-join, vigil join, the peers of data_dir) or a refuted "dead"
	// message, the agent pushes and pulls the whole member state with two
	// random live members, about 1 s later and then backing off by 1.5×
	// up to 8 s, until its view has not changed for two rounds, for at
	// most this many rounds. Default 8 (at most 16 state syncs over about
	// 37 s; 2 rounds, about 2.5 s, when the first join brought
	// everything); 0 turns it off, as in serf agent. A join that gossip
	// missed then costs about a second instead of a push/pull interval
	// (60 s on lan at 50 members). Each sync is one TCP exchange of the
	// whole member list with one member; at most 30.
	JoinSyncRounds int `yaml:"join_sync_rounds"`
	// ConfirmFailures makes the agent check a member that serf declared
	// failed before reporting it: a memberlist ping from this agent and,
	// at the same time, a ping by up to 3 other live members (a serf
	// query). If anyone reaches it, the failure is reported as a refuted
	// event instead (no member-failed hook, no failover) and the member
	// is asked to re-announce itself. Default true: it removes the false
	// failures that a healed cut or a lost refutation leaves, and delays
	// each real member-failed by ConfirmTimeout. false reports serf's
	// verdict at once, as serf agent does.
	ConfirmFailures bool `yaml:"confirm_failures"`
	// ConfirmTimeout bounds the confirmation: how long the agent waits for
	// anyone to reach the failed member, which is what every real failure
	// costs. Default 0: the profile's probe timeout (lan 500ms, local
	// 200ms, fast 150ms, wan 3s, or probe_timeout), one ping. Longer pings
	// the member again until it has passed, so a member stalled for less
	// (a GC pause, SIGSTOP) answers once it runs, and lets slower helpers
	// refute, at that much more latency (fast with 1s: 0 false failures in
	// 10 pauses of 2 s, docs/reliability.md). At most 10s.
	ConfirmTimeout Duration `yaml:"confirm_timeout"`
	// Tags are gossiped with this member (serf tags; 512 bytes encoded at
	// most). Flags and env override the file per key.
	Tags map[string]string `yaml:"tags"`
	// Profile is the memberlist timing profile: lan (default), wan, local or
	// fast (vigil's own: sub-2 s detection on a quiet network).
	// Faster profiles detect failures sooner and suspect slow hosts sooner.
	Profile string `yaml:"profile"`
	// DataDir keeps serf's snapshot so a restarted agent rejoins without
	// -join. Default: empty, nothing persisted.
	DataDir string `yaml:"data_dir"`
	// LogLevel is trace, debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is json or console. Default: console when stderr is a
	// terminal, json otherwise.
	LogFormat string `yaml:"log_format"`
	// HookHTTPToken gives hooks the API token as VIGIL_HTTP_TOKEN, so a
	// hook can call vigil commands that change something. Default false:
	// a hook's environment is readable by everything it starts.
	HookHTTPToken bool `yaml:"hook_http_token"`
	// HookTimeout applies to hooks without their own timeout. Default 60s.
	// At the timeout a hook's process group gets SIGTERM, then SIGKILL 5 s
	// later.
	HookTimeout Duration `yaml:"hook_timeout"`
	// HookMaxConcurrent bounds the hook processes running at once on this
	// agent, over all hooks. Default 2 × the CPUs (GOMAXPROCS), at least
	// 4: 4 on a 2-core host. A run over it waits in its hook's queue for
	// a slot (never dropped unless the queue is full or the agent stops,
	// and then recorded). 0: no limit. Higher lets more hooks run side by
	// side; lower keeps a storm of failures (one hook process per failed
	// member on every agent) from taking the host. Claimed failover runs
	// (run_on: one) never wait for a slot. Needs a restart.
	HookMaxConcurrent int `yaml:"hook_max_concurrent"`
	// HookCoalesce bounds one hook's member-failed runs to one per
	// window, leading-edge: the first failure after a quiet window runs
	// at once; those arriving within the window after its run started
	// run together, every member on stdin, when the window has passed.
	// Default 500ms; 0 runs one process per event, at once. A lone
	// failure costs no latency; a failure right after another waits up
	// to the window; 30 members failing together cost two processes
	// instead of 30. run_on: one hooks are never coalesced. Needs a
	// restart.
	HookCoalesce Duration `yaml:"hook_coalesce"`
	// UserEventRate is how many user events of one name a second, on
	// average, run hooks on this agent and may be fired through its API
	// (POST /v1/event, vigil event): a token bucket per name. Default 10;
	// 0 turns the limit off. An event received over it runs no hook (it
	// is counted, logged and recorded as dropped, and still listed in
	// /v1/events); one fired over it is refused with a 429. Higher lets a
	// legitimate burst of one name through, and lets a flood run hooks
	// that much more often. vigil's own failover messages are never
	// limited.
	UserEventRate float64 `yaml:"user_event_rate"`
	// UserEventBurst is how many user events of one name may come at once
	// before UserEventRate applies. Default 50; at least 1 while the rate
	// is on. Larger lets a deploy script fire a batch without pauses, and
	// lets a flood run that many hooks before the limit bites.
	UserEventBurst int `yaml:"user_event_burst"`
	// Hooks are the event hooks of the config file.
	Hooks []HookConfig `yaml:"hooks"`
	// Service is the service beside this agent, whose health the agent
	// probes and gossips. Default: none (the agent only gossips liveness).
	Service *ServiceConfig `yaml:"service"`
	// Checks probe the service; its health is the worst of their statuses.
	// See docs/checks.md for every field.
	Checks []probes.Definition `yaml:"checks"`
	// Failover sets the guards shared by every failover hook.
	Failover FailoverConfig `yaml:"failover"`
	// CheckInterval is the interval of the checks made by -check-http and
	// -check-tcp (checks of the file set their own). Default 10s.
	CheckInterval Duration `yaml:"check_interval"`

	// Timing overrides, applied over the profile's values; zero (unset)
	// keeps the profile's. All members should agree on them, as on the
	// profile. See docs/configuration.md#timing-overrides.

	// ProbeInterval is how often this member probes another one. Default:
	// the profile's (lan 1s). Shorter detects failures sooner, at more
	// probe traffic; at least 100ms.
	ProbeInterval Duration `yaml:"probe_interval"`
	// ProbeTimeout is how long a probe waits for an ack before asking
	// other members to probe indirectly. Default: the profile's (lan
	// 500ms). Must be shorter than the probe interval; too short a timeout
	// on a slow network makes healthy members suspect.
	ProbeTimeout Duration `yaml:"probe_timeout"`
	// SuspicionMult scales how long a suspect member has to refute before
	// it is declared failed. Default: the profile's (lan 4). Lower declares
	// failures sooner and makes false positives likelier.
	SuspicionMult int `yaml:"suspicion_mult"`
	// GossipInterval is how often gossip is sent. Default: the profile's
	// (lan 200ms). Shorter spreads news sooner, at more packets; at least
	// 10ms.
	GossipInterval Duration `yaml:"gossip_interval"`
	// GossipNodes is how many random members each gossip round reaches.
	// Default: the profile's (lan 3). More spreads news sooner, at more
	// packets.
	GossipNodes int `yaml:"gossip_nodes"`
	// RetransmitMult scales how many times each message is gossiped again
	// (RetransmitMult × log10(N+1)). Default: the profile's (lan 4). More
	// makes delivery likelier on a lossy network, at more packets.
	RetransmitMult int `yaml:"retransmit_mult"`
	// ReconnectInterval is how often serf tries to reconnect to a failed
	// member. Default 30s. Shorter heals a partition sooner, at more
	// connection attempts to members that are really gone.
	ReconnectInterval Duration `yaml:"reconnect_interval"`
	// ReconnectTimeout is how long a failed member is kept, and retried,
	// before it is reaped from the member list (member-reap). Default 24h.
	// Shorter forgets dead members sooner; a member that comes back after
	// it joins again as new.
	ReconnectTimeout Duration `yaml:"reconnect_timeout"`

	// Drain is how long, on SIGTERM or SIGINT (and on vigil leave), the
	// instance stays in maintenance, so peers stop picking it, before the
	// agent leaves the cluster. Default 0: leave at once. Needs a service.
	// It adds to the shutdown time: keep it within the stop timeout of
	// systemd or Kubernetes, minus about 20 s for the leave and the hooks.
	Drain Duration `yaml:"drain"`

	// HookSpecs are serf-style -hook specs ([filter,...=]script), run by
	// /bin/sh -c with serf's stdin format. Flag and env only.
	HookSpecs []string `yaml:"-"`
	// Dev runs a single-node development agent: 127.0.0.1, the local
	// profile, debug logs and a built-in hook logging every event.
	Dev bool `yaml:"-"`

	// boot is this start's value of the boot tag (see events.BootTag).
	boot string

	// flagChecks are the indexes in Checks of checks made by -check-http
	// and -check-tcp; they take CheckInterval.
	flagChecks []int

	// runtime is the layer of tags set while the agent runs (vigil tags
	// set and unset) over Tags; kept in data_dir/tags.json.
	runtime runtimeTags

	// lines maps a key path (hooks[0].timeout) to its line in the file
	// that last set it, for error messages.
	lines map[string]keyPos
}

// HookConfig is one entry of the config file's hooks list.
type HookConfig struct {
	// Name identifies the hook in logs and /v1/hooks; default hook-N.
	Name string `yaml:"name"`
	// On lists the event filters (member-failed, user:deploy, *); empty
	// means every event.
	On []string `yaml:"on"`
	// Command is an argv list run without a shell.
	Command []string `yaml:"command"`
	// Shell is a script run by /bin/sh -c. Set Command or Shell, not both.
	Shell string `yaml:"shell"`
	// Timeout bounds one run; default the agent's hook_timeout.
	Timeout Duration `yaml:"timeout"`
	// Stdin is json (default: one JSON document) or serf (serf's lines).
	Stdin string `yaml:"stdin"`
	// Match selects events by the tags of the member they concern
	// ({service: db, role: primary}). Default: every member.
	Match map[string]string `yaml:"match"`
	// RunOn is all (default, serf's behaviour: every agent runs it), one
	// (one survivor, chosen alike by every agent) or self (only the agent
	// the event is about).
	RunOn string `yaml:"run_on"`
	// Eligible lists the tags an agent needs to be chosen for run_on: one.
	// Default: every agent.
	Eligible map[string]string `yaml:"eligible"`
	// Quorum is majority (default for run_on: one: run only while this
	// agent sees a strict majority of the cluster alive) or none (default
	// otherwise). A two-agent cluster never has a majority after a failure:
	// give it a third, witness agent or set none.
	Quorum string `yaml:"quorum"`
	// Settle is how long to wait for views to converge before a failover
	// runner is chosen. Default 0 (2s for run_on: one). Longer settles
	// ride out short blips and let the brake see a whole burst, at the
	// price of a slower failover.
	Settle Duration `yaml:"settle"`
	// Retries is how many times a run that exits non-zero is run again
	// (backoff 1s, 2s, 4s...). Default 0.
	Retries int `yaml:"retries"`
	// MaxRunsPer limits runs, as RUNS/DURATION (3/10m): past it the hook is
	// held, and the hold is logged and shown in /v1/hooks. Default: no
	// limit. Give one to every hook that restarts a service.
	MaxRunsPer string `yaml:"max_runs_per"`
}

// FailoverConfig is the failover: section: the guards against flapping
// and mass failure shared by every failover hook.
type FailoverConfig struct {
	// FlapLimit is how many failed→alive flaps within FlapWindow a member
	// may make before it is damped (its failovers held, a damped event
	// fired). Default 3.
	FlapLimit int `yaml:"flap_limit"`
	// FlapWindow is the flap counting window, and how long a damped member
	// must stay stable before its failovers run again. Default 10m.
	FlapWindow Duration `yaml:"flap_window"`
	// BrakeFraction: when more than this fraction of the cluster fails
	// within BrakeWindow, failover hooks are held (a brake event fires)
	// until `vigil failover release`. Default 0.5. 1 turns the brake off.
	BrakeFraction float64 `yaml:"brake_fraction"`
	// BrakeWindow is the brake's counting window. Default 30s.
	BrakeWindow Duration `yaml:"brake_window"`
	// Lease is how long a run_on: one runner's claim lasts without a
	// renewal. Default 10s. The runner renews it every third of that; a
	// runner that cannot (cut off, paused) kills its hook before the lease
	// ends, and only then may another member take over. Longer: a
	// takeover after a crash or a cut waits longer. Shorter: more claim
	// queries while a hook runs, and a runner on a loaded host loses its
	// lease (and its run) sooner.
	Lease Duration `yaml:"lease"`
	// Lock decides who runs a run_on: one task: the gossip claim by
	// default, or etcd (failover_lock.go, LockConfig).
	Lock LockConfig `yaml:"lock"`
}

// ServiceConfig describes the service the agent sits beside.
type ServiceConfig struct {
	// Name is the service's name, as in /v1/health/service/NAME.
	Name string `yaml:"name"`
	// Port is the port the service answers on (not the gossip port).
	Port int `yaml:"port"`
	// Address is where the service answers, if not this member's gossip
	// address. Default: empty, the gossip address.
	Address string `yaml:"address"`
	// Tags are the service's own tags (version: "1.4"), gossiped with it
	// and returned by /v1/health and /v1/pick. They count toward serf's
	// 512-byte tag limit.
	Tags map[string]string `yaml:"tags"`
}

// Duration is a time.Duration written as a Go duration string ("60s").
type Duration time.Duration

// Defaults of Config.
const (
	DefaultBind    = "0.0.0.0:7946"
	DefaultHTTP    = "127.0.0.1:7947"
	DefaultProfile = string(membership.ProfileLAN)
	DevBind        = "127.0.0.1:7946"
)

// DefaultJoinInterval is join_interval's default, and MinJoinInterval its
// smallest value but 0.
const (
	DefaultJoinInterval = 30 * time.Second
	MinJoinInterval     = time.Second
)

// MaxJoinSyncRounds is join_sync_rounds' largest value.
const MaxJoinSyncRounds = 30

// MaxConfirmTimeout is confirm_timeout's largest value.
const MaxConfirmTimeout = 10 * time.Second

// MaxHookCoalesce is hook_coalesce's largest value: a member-failed
// hook run that follows another starts up to that much later.
const MaxHookCoalesce = 10 * time.Second

// Default returns the configuration before any file, env or flag.
func Default() Config {
	name, _ := os.Hostname()
	return Config{
		boot:          strconv.FormatInt(time.Now().UnixNano(), 36),
		Name:          name,
		Bind:          DefaultBind,
		HTTP:          DefaultHTTP,
		Profile:       DefaultProfile,
		LogLevel:      "info",
		HookTimeout:   Duration(hook.DefaultHookTimeout),
		JoinInterval:  Duration(DefaultJoinInterval),
		Tags:          map[string]string{},
		CheckInterval: Duration(10 * time.Second),

		JoinSyncRounds:  membership.DefaultJoinSyncRounds,
		ConfirmFailures: true,

		HookMaxConcurrent: hook.DefaultMaxConcurrent(),
		HookCoalesce:      Duration(hook.DefaultCoalesceWindow),

		DNS:               vigildns.DefaultAddr,
		DNSDomain:         vigildns.DefaultDomain,
		DNSMaxConnections: vigildns.DefaultMaxConnections,

		ConsulDatacenter:         vigilconsul.DefaultDatacenter,
		ConsulHTTPMaxConnections: vigilhttp.DefaultMaxConnections,

		HTTPMaxConnections: vigilhttp.DefaultMaxConnections,
		HTTPMaxStreams:     vigilhttp.DefaultMaxStreams,

		UserEventRate:  hook.DefaultUserEventRate,
		UserEventBurst: hook.DefaultUserEventBurst,
	}
}

// ApplyDev sets the -dev defaults; later files, env and flags still win.
func (c *Config) ApplyDev() {
	c.Dev = true
	c.Bind = DevBind
	c.HTTP = DefaultHTTP
	c.Profile = string(membership.ProfileLocal)
	c.LogLevel = "debug"
}

// splitHostPort parses HOST:PORT with a numeric port.
func splitHostPort(v string) (string, int, error) {
	host, p, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want HOST:PORT", v)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", v, p)
	}
	return host, port, nil
}
