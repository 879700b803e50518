package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/events/journal"
	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
	"github.com/vigil-agent/vigil/probes"
)

// Shutdown bounds.
const (
	// LeaveTimeout bounds the graceful leave: serf broadcasts the leave and
	// waits for it to spread (about 6 s at most with serf's defaults).
	LeaveTimeout = 15 * time.Second
	// hookDrainTimeout is how long queued and running hooks may finish at
	// shutdown before they are killed.
	hookDrainTimeout = 5 * time.Second
)

// Agent is one running vigil agent.
type Agent struct {
	cfg     Config
	log     zerolog.Logger
	version string

	ring    *events.Ring
	runner  *hook.Runner
	coord   *failover.Coordinator // failover coordination, used by runner
	metrics *vigilhttp.Metrics
	probes  *probes.Manager // nil without a service
	health  healthState
	cluster atomic.Pointer[membership.Cluster]
	http    *vigilhttp.Server
	ln      net.Listener
	lock    *os.File
	journal *journal.Journal // nil without a data dir
	pending []journal.Entry  // runs the last stop left unfinished

	publishMu sync.Mutex // orders ring ids and hook queues alike

	dns    served // the DNS server, while dns is on
	consul served // the Consul API, while consul_http is on

	fired *hook.NameLimiter // user events fired through the API, per name

	// token is the API token in force: http_token, or one the agent made
	// (tokenGenerated; httptoken.go), or "" (-dev without http_token).
	token          string
	tokenGenerated bool

	reloadMu sync.Mutex // one reload at a time
	reloader Reloader

	leaveOnce sync.Once
	leaveReq  chan struct{}
}

// New checks the configuration and prepares an agent; Run starts it.
func New(cfg Config, logger zerolog.Logger, version string) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hooks, err := cfg.buildHooks()
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: logger, version: version, ring: events.NewRingFrom(0, uint64(time.Now().UnixMicro())), leaveReq: make(chan struct{}),
		fired: hook.NewNameLimiter(cfg.userEventLimit())}
	if cfg.Dev {
		hooks = append(hooks, devHook(logger))
	}
	var past []events.Run
	var grants *failover.Grants
	if cfg.DataDir != "" {
		if a.lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		if a.journal, a.pending, past, err = journal.Open(journal.Path(cfg.DataDir)); err != nil {
			a.lock.Close()
			return nil, err
		}
		a.journal.OnError(func(err error) {
			logger.Error().Err(err).Msg("hook journal: runs may be resumed twice or not at all after a crash")
		})
		if grants, err = failover.OpenGrants(filepath.Join(cfg.DataDir, failover.GrantsFile)); err != nil {
			a.lock.Close()
			return nil, err
		}
	}
	if err := a.prepareToken(); err != nil {
		if a.lock != nil {
			a.lock.Close()
		}
		return nil, err
	}
	if a.metrics, err = a.newMetrics(); err != nil {
		return nil, err
	}
	var lock failover.Lock // nil: the gossip claim
	if etcd, err := cfg.failoverLock(logger); err != nil {
		return nil, err
	} else if etcd != nil {
		lock = etcd
	}
	a.coord = failover.NewCoordinator(failover.CoordinatorConfig{
		View: clusterView{a}, Guards: cfg.failoverConfig(), Lock: lock, Grants: grants, KillGrace: hook.DefaultKillGrace, Logger: logger,
	})
	a.runner, err = hook.NewRunner(hook.RunnerConfig{
		Self:           a.selfMember,
		HTTPAddr:       cfg.HTTP,
		DefaultTimeout: time.Duration(cfg.HookTimeout),
		Env:            hookEnv(&cfg, a.token),
		Logger:         logger,
		Redact:         a.token,
		OnRun:          a.metrics.ObserveHookRun,
		Coordinate:     a.coord.Attach,
		Journal:        a.journal,
		PastRuns:       past,

		UserEventLimit:     cfg.userEventLimit(),
		OnUserEventLimited: a.userEventLimited,

		MaxConcurrent:  cfg.HookMaxConcurrent,
		CoalesceWindow: time.Duration(cfg.HookCoalesce),
	}, hooks)
	if err != nil {
		return nil, err
	}
	a.metrics.InitHooks(hookNames(a.runner.Hooks()))
	if cfg.Service != nil {
		a.probes, err = probes.NewManager(cfg.checkDefinitions(), a.onCheckChange, logger)
		if err != nil {
			return nil, err
		}
		a.probes.RedactOutput(a.redactToken)
		if a.health.maintenance, a.health.reason, err = loadMaintenance(cfg.DataDir); err != nil {
			return nil, err
		}
		a.health.gossiped = a.localHealth()
	}
	if a.cfg.runtime, err = loadRuntimeTags(cfg.DataDir); err != nil {
		return nil, err
	}
	return a, nil
}

// devHook is -dev's built-in hook: it logs every event.
func devHook(logger zerolog.Logger) hook.Hook {
	return hook.Hook{
		Name:    "dev-log",
		Filters: events.Filters{{Any: true}},
		Builtin: func(_ context.Context, ev *events.Event) (string, error) {
			e := logger.Info().Uint64("event_id", ev.ID).Str("event", string(ev.Type))
			if m, ok := ev.Subject(); ok {
				e = e.Str("member", m.Name).Str("addr", m.Addr).Str("status", string(m.Status))
			}
			if ev.User != nil {
				e = e.Str("user_event", ev.User.Name).Str("payload", ev.User.Payload)
			}
			e.Msg("event")
			return "", nil
		},
	}
}

// Run starts the agent and blocks until ctx ends or a leave is requested
// over HTTP; then it leaves the cluster gracefully and stops. The HTTP
// listener is opened first, so a port in use fails before gossip starts.
func (a *Agent) Run(ctx context.Context) error {
	if a.lock != nil {
		defer a.lock.Close()
		defer a.journal.Close()
	}
	ln, err := a.listenHTTP()
	if err != nil {
		return err
	}
	a.ln = ln
	// A port of 0 picks a free one: hooks and /v1/self get the real one.
	a.runner.SetHTTPAddr(a.apiAddr(ln))
	removeToken, err := a.publishToken(ln)
	if err != nil {
		ln.Close()
		return err
	}
	defer removeToken()

	dnsLn, err := a.listenDNS()
	if err != nil {
		ln.Close()
		return err
	}
	consulLn, err := a.listenConsul()
	if err != nil {
		ln.Close()
		if dnsLn != nil {
			dnsLn.pc.Close()
			dnsLn.ln.Close()
		}
		return err
	}

	cluster, err := a.startGossip()
	if err != nil {
		ln.Close()
		if dnsLn != nil {
			dnsLn.pc.Close()
			dnsLn.ln.Close()
		}
		if consulLn != nil {
			consulLn.Close()
		}
		return err
	}
	if dnsLn != nil {
		a.serveDNS(dnsLn)
	}
	if consulLn != nil {
		a.serveConsul(consulLn)
	}
	a.log.Info().Str("bind", a.cfg.Bind).Str("http", ln.Addr().String()).Str("dns", a.DNSAddr()).Str("profile", a.cfg.Profile).
		Int("hooks", len(a.runner.Hooks())).Str("api_auth", a.apiAuth()).Msg("agent started")

	if a.probes != nil {
		a.probes.Start()
	}
	runCtx, stopJoin := context.WithCancel(context.Background())
	defer stopJoin()
	cluster.JoinRetry(runCtx, a.cfg.Join, time.Duration(a.cfg.JoinInterval))
	go a.resumeJournal(runCtx, a.pending)

	a.http = vigilhttp.New(a, a.log, a.httpOptions()...)
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.http.Serve(ln) }()

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info().Msg("signal received, leaving the cluster")
	case <-a.leaveReq:
		a.log.Info().Msg("leave requested over HTTP, leaving the cluster")
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	stopJoin()
	if runErr == nil {
		// A signal or vigil leave: with drain set, peers stop picking the
		// service before the agent leaves (drain.go).
		a.drainBeforeLeave()
	}
	a.stop()
	return runErr
}

// startGossip creates the serf member and publishes its events.
func (a *Agent) startGossip() (*membership.Cluster, error) {
	host, port, _ := splitHostPort(a.cfg.Bind)
	mc := membership.Config{
		NodeName:    a.cfg.Name,
		ClusterName: a.cfg.ClusterName,
		Compression: a.cfg.GossipCompression,
		BindAddr:    host,
		BindPort:    port,
		Tags:        a.cfg.gossipTags(a.health.gossiped, 0),
		Profile:     membership.Profile(a.cfg.Profile),
		Timing:      a.cfg.timingOverrides(),
		Logger:      a.log,

		JoinSyncRounds:  a.cfg.JoinSyncRounds,
		ConfirmFailures: a.cfg.ConfirmFailures,
		ConfirmTimeout:  time.Duration(a.cfg.ConfirmTimeout),

		QueryHandlers: map[string]func([]byte) []byte{claimQuery: a.coord.HandleClaim},
	}
	if a.cfg.Advertise != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitHostPort(a.cfg.Advertise)
	}
	if a.cfg.DataDir != "" {
		mc.SnapshotPath = filepath.Join(a.cfg.DataDir, "serf.snapshot")
		mc.PeersPath = filepath.Join(a.cfg.DataDir, "peers.json")
	}
	var err error
	if mc.Keyring, mc.KeyringFile, err = a.gossipKeyring(); err != nil {
		return nil, err
	}
	cluster, err := membership.Start(mc, a.publish)
	if err != nil {
		return nil, err
	}
	a.cluster.Store(cluster)
	return cluster, nil
}

// publish takes one event from the gossip layer or the checks: it is
// stamped into the ring and queued for hooks, atomically, so hooks get
// events in id order. It never blocks on a hook.
func (a *Agent) publish(ev events.Event) {
	a.publishMu.Lock()
	ev = a.ring.Publish(ev)
	a.metrics.CountEvent(ev.Type)
	e := a.log.Debug().Uint64("event_id", ev.ID).Str("event", string(ev.Type))
	if m, ok := ev.Subject(); ok {
		e = e.Str("member", m.Name).Str("status", string(m.Status))
	}
	e.Msg("event received")
	a.runner.Dispatch(ev)
	a.publishMu.Unlock()
	if he := a.healthEvent(&ev); he != nil {
		a.publish(*he)
	}
}

// stop leaves the cluster, lets hooks finish briefly, and stops HTTP.
func (a *Agent) stop() {
	if pm := a.probeManager(); pm != nil {
		pm.Stop()
	}
	a.drainFailovers()
	if c := a.cluster.Load(); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), LeaveTimeout)
		if err := c.Leave(ctx); err != nil {
			a.log.Warn().Err(err).Msg("graceful leave did not complete")
		} else {
			a.log.Info().Msg("left the cluster")
		}
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), hookDrainTimeout)
	a.runner.Close(ctx)
	a.coord.Close()
	cancel()
	a.stopDNS()
	a.stopConsul()
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := a.http.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.log.Warn().Err(err).Msg("http shutdown")
		}
		cancel()
	}
}

func (a *Agent) selfMember() events.Member {
	if c := a.cluster.Load(); c != nil {
		return c.LocalMember()
	}
	host, port, _ := splitHostPort(a.cfg.Bind)
	return events.Member{Name: a.cfg.Name, Addr: host, Port: uint16(port), Status: events.StatusAlive, Tags: a.cfg.Tags}
}

// Members implements the HTTP API's Agent.
func (a *Agent) Members() []events.Member {
	if c := a.cluster.Load(); c != nil {
		return c.Members()
	}
	return []events.Member{}
}

// Self implements the HTTP API's Agent.
func (a *Agent) Self() vigilhttp.Self {
	addr := a.cfg.HTTP
	if a.ln != nil {
		addr = a.ln.Addr().String()
	}
	self := vigilhttp.Self{Member: a.selfMember(), Profile: a.cfg.Profile, Version: a.version, HTTPAddr: addr}
	a.health.mu.Lock()
	if a.cfg.Service != nil {
		self.Service, self.Health, self.MaintenanceReason = a.cfg.Service.Name, a.health.gossiped, a.health.reason
	}
	a.health.mu.Unlock()
	return self
}

// Join implements the HTTP API's Agent.
func (a *Agent) Join(addrs []string) (int, error) {
	c := a.cluster.Load()
	if c == nil {
		return 0, errors.New("gossip is not running")
	}
	return c.Join(addrs)
}

// Leave implements the HTTP API's Agent: it asks Run to leave and exit.
func (a *Agent) Leave() error {
	a.leaveOnce.Do(func() { close(a.leaveReq) })
	return nil
}

// UserEvent implements the HTTP API's Agent: it fires a user event unless
// its name is over the rate limit (user_event_rate), which is an error
// wrapping vigilhttp.ErrRateLimited.
func (a *Agent) UserEvent(name string, payload []byte) error {
	if err := a.allowFire(name); err != nil {
		return err
	}
	return a.fireUserEvent(name, payload)
}

// Events implements the HTTP API's Agent.
func (a *Agent) Events() *events.Ring { return a.ring }

// HookRuns implements the HTTP API's Agent.
func (a *Agent) HookRuns() []events.Run { return a.runner.Runs() }

// HTTPAddr returns the address the HTTP API listens on, once Run started.
func (a *Agent) HTTPAddr() string {
	if a.ln == nil {
		return a.cfg.HTTP
	}
	return a.ln.Addr().String()
}

var _ vigilhttp.Agent = (*Agent)(nil)
