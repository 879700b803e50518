package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// serfEventBuffer is the capacity of the channel serf sends events on. The
// channel is drained at once by a goroutine that only converts and hands
// events on, so serf never waits on it for long.
const serfEventBuffer = 1024

// Config describes the local member and how it gossips.
type Config struct {
	// NodeName is the member's unique name in the cluster.
	NodeName string
	// BindAddr and BindPort are where gossip listens, on TCP and UDP.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what peers are told to reach;
	// empty and zero mean the bind address (or, with 0.0.0.0, the first
	// private address memberlist finds).
	AdvertiseAddr string
	AdvertisePort int
	// Tags are gossiped with the member; serf limits them to 512 bytes
	// encoded.
	Tags map[string]string
	// Profile is the memberlist timing profile.
	Profile Profile
	// Timing overrides some of the profile's timings; zero fields keep the
	// profile's values.
	Timing Timing
	// SnapshotPath, when set, is serf's snapshot file: the member view and
	// Lamport clocks survive a restart and the agent rejoins from it, after
	// a crash and after a graceful leave alike (serf's RejoinAfterLeave).
	SnapshotPath string
	// PeersPath, when set, is vigil's own list of the other members (see
	// peers.go): rewritten within a second of every member change, and
	// tried at start, with backoff, until one of them answers.
	PeersPath string
	// Keyring, when set, encrypts gossip: the primary key encrypts, every
	// key decrypts. Members without a key in common cannot talk. Nil means
	// plain-text gossip.
	Keyring *memberlist.Keyring
	// KeyringFile, when set with Keyring, is where serf saves the keyring
	// after every change made through the key endpoints, so a restarted
	// agent keeps the rotated keys.
	KeyringFile string
	// ClusterName, when set, is sent in front of every gossip packet and
	// stream (memberlist's label), and gossip without the same name is
	// dropped: two clusters on one network stay apart even when an
	// address of one is given to the other, or a port of one is reused by
	// the other. Empty means no name, which only agents without a name
	// talk to. At most ClusterNameMaxLen bytes (ValidateClusterName).
	ClusterName string
	// Compression compresses gossip (memberlist's LZW, on every packet
	// and push/pull), as serf agent and Consul do: fewer bytes for more
	// CPU on both ends. Members with and without it talk to each other.
	// Off, the default of vigil agents (agent.Config.GossipCompression
	// says why).
	Compression bool
	// Logger receives serf's and memberlist's logs.
	Logger zerolog.Logger
	// QueryHandlers answer vigil's own serf queries by name (such as the
	// failover claim protocol's): each is called on its own goroutine with
	// the query's payload, and its answer, if not nil, is the response.
	QueryHandlers map[string]func(payload []byte) []byte
	// JoinSyncRounds limits the rounds of extra full state syncs after a
	// join, a rejoin or a refuted "dead" message (joinsync.go): each round
	// pushes and pulls the whole state with two random live members, the
	// first about a second after the join and then backing off, until the
	// view has not changed for two rounds. 0 turns them off (serf's
	// behaviour: a missed join waits for the next periodic push/pull). The
	// agent's default is DefaultJoinSyncRounds.
	JoinSyncRounds int
	// Transport, when set, carries gossip instead of the UDP/TCP transport
	// memberlist would bind on BindAddr:BindPort; the caller binds it, and
	// BindAddr and BindPort should name its address. Tests use it to inject
	// packet loss (see FaultyTransport).
	Transport memberlist.Transport

	// acceptInvalid turns the gossip input check off, for tests that
	// start a member with an invalid name or tags, or one that stores
	// them as an agent without the check would.
	acceptInvalid bool
	// ConfirmFailures holds each member-failed event until this agent has
	// checked the member itself and through confirmHelpers others
	// (confirm.go): a member that answers is reported as events.Refuted,
	// not failed, and asked to re-announce itself. It delays every real
	// failure by up to ConfirmTimeout.
	ConfirmFailures bool
	// ConfirmTimeout bounds the confirmation of one failure; 0 means the
	// profile's probe timeout (after timing overrides).
	ConfirmTimeout time.Duration

	// pushPullInterval, when set, replaces the profile's push/pull
	// interval: tests make it long so that only the join anti-entropy can
	// explain a convergence.
	pushPullInterval time.Duration
	// confirmStarting, when set, is called as a confirmation starts, with
	// the member's name: tests heal a cut at the moment between serf's
	// verdict and the check.
	confirmStarting func(member string)
	// noRestartReannounce, when set, turns off a restart's
	// re-announcements (joinSyncRestarted): tests compare with and without.
	noRestartReannounce bool
	// noRejoinCheck, when set, turns off the rejoin check this member
	// sends (rejoincheck.go); it still answers others'.
	noRejoinCheck bool
}

// Cluster is the local member of a serf cluster.
type Cluster struct {
	serf    *serf.Serf
	eventCh chan serf.Event
	handler func(events.Event)
	logger  zerolog.Logger
	profile Profile
	keyring *memberlist.Keyring // nil without encryption
	// clusterName is Config.ClusterName, for join errors.
	clusterName string
	timing      Timing // the timings in effect
	leaves      leaveTracker

	// refusals logs the members and user events refused for an invalid
	// name or tags (validate.go); acceptInvalid turns the check off.
	refusals      *refusals
	acceptInvalid bool

	// remembered are the members the peers file named at start.
	remembered []string
	peersPath  string        // "" without a data dir
	peersDirty chan struct{} // a member changed: rewrite the peers file
	// peersOnDisk is set once a peers file with at least one peer was
	// written; until then member changes are written without delay.
	peersOnDisk atomic.Bool
	peersDone   chan struct{} // closed when the peers writer has stopped

	// tagsMu serialises the calls that re-advertise the local member
	// (SetTags and reannounce): serf's SetTags writes the tags that
	// memberlist's UpdateNode reads, unsynchronised.
	tagsMu sync.Mutex
	// refuted is signalled by memberlist's logger at each refutation;
	// reannounceLoop answers it (reannounce.go).
	refuted        chan struct{}
	reannounced    atomic.Uint64 // re-announcements sent, for tests
	reannounceDone chan struct{}
	// refutations counts this member's refutations (suspect and dead).
	refutations *atomic.Uint64
	// joinSyncRounds, joinSyncTrigger and joinSyncDone run the join
	// anti-entropy (joinsync.go); joinSyncs counts its state syncs.
	joinSyncRounds  int
	joinSyncTrigger chan string
	joinSyncDone    chan struct{}
	joinSyncs       atomic.Uint64
	// viewDiffs counts the join push/pulls whose peer missed a member
	// this one sees alive (syncMerge); started is set once serf is.
	viewDiffs atomic.Uint64
	started   atomic.Bool
	// joining is set while Join's serf join runs; knownBefore is set when
	// a peer's state handed over meanwhile already listed this member's
	// name: it is a restart under the same name (joinsync.go).
	joining, knownBefore atomic.Bool
	// joinSyncBusy is set while rounds of syncs run; noRestartReannounce
	// is Config's.
	joinSyncBusy        atomic.Bool
	noRestartReannounce bool
	// rejoinChecks counts the rejoin checks sent, rejoinFollowUps those
	// of them that followed a repair, rejoinRepairs the members joined
	// again after answering one, rejoinAnswers this member's answers to
	// others' (rejoincheck.go). noRejoinCheck is Config's.
	rejoinChecks, rejoinFollowUps, rejoinRepairs, rejoinAnswers atomic.Uint64
	noRejoinCheck                                               bool
	// storm counts member changes, to damp vigil's own gossip in a storm
	// (storm.go).
	storm stormGauge
	// queries are the handlers of vigil's own serf queries.
	queries map[string]func([]byte) []byte
	// epoch is the value of the epoch tag (events.EpochTag): one more at
	// every announcement of this member (a tag change or a re-announcement
	// after a refutation), so a member that was declared failed comes back
	// with a new epoch and its next failure gets a new failover key.
	epoch atomic.Uint64
	// lastTags are the members' tags at their last event, so an update
	// that changed only the epoch is not reported (translate's goroutine).
	lastTags map[string]map[string]string

	// confirmOn, confirmTimeout and confirmStarting are the failure
	// confirmation's settings; confirm its state (confirm.go).
	confirmOn       bool
	confirmTimeout  time.Duration
	confirmStarting func(string)
	confirm         confirmState

	// queue holds serf's events (and the confirmations' results) between
	// drain's receiving goroutine and its translating one; wake tells the
	// latter there is something.
	queueMu sync.Mutex
	queue   []serf.Event
	wake    chan struct{}

	stop    chan struct{}
	drained chan struct{}
	once    sync.Once
}

// Start creates the local member, starts gossip, and hands every event to
// handler. handler is called from one goroutine, in serf's order, and must
// not block: it should only queue.
func Start(cfg Config, handler func(events.Event)) (*Cluster, error) {
	if !cfg.acceptInvalid {
		if err := checkMember(cfg.NodeName, cfg.Tags); err != nil {
			return nil, fmt.Errorf("start gossip: %w", err)
		}
	}
	if err := ValidateClusterName(cfg.ClusterName); err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	ml, err := MemberlistConfig(cfg.Profile)
	if err != nil {
		return nil, err
	}
	refusals := newRefusals(cfg.Logger.With().Str("component", "membership").Logger())
	ml.Name = cfg.NodeName
	ml.BindAddr = cfg.BindAddr
	ml.BindPort = cfg.BindPort
	ml.AdvertiseAddr = cfg.AdvertiseAddr
	ml.AdvertisePort = cfg.AdvertisePort
	refuted := make(chan struct{}, 1)
	refutations := new(atomic.Uint64)
	joinSyncTrigger := make(chan string, 1)
	mlLog := &logWriter{logger: cfg.Logger.With().Str("component", "memberlist").Logger(), onRefute: func(dead bool) {
		refutations.Add(1)
		select {
		case refuted <- struct{}{}:
		default: // a round is already due
		}
		if dead && cfg.JoinSyncRounds > 0 {
			// Peers had this member failed or left: it is rejoining them.
			select {
			case joinSyncTrigger <- "refuted a dead message":
			default:
			}
		}
	}}
	if !cfg.acceptInvalid {
		mlLog.refusals = refusals
	}
	ml.Logger = log.New(mlLog, "", 0)
	ml.Keyring = cfg.Keyring
	ml.Label = cfg.ClusterName
	ml.EnableCompression = cfg.Compression
	ml.Transport = cfg.Transport
	cfg.Timing.applyMemberlist(ml)
	if cfg.pushPullInterval > 0 {
		ml.PushPullInterval = cfg.pushPullInterval
	}

	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeName
	sc.Tags = cfg.Tags
	sc.MemberlistConfig = ml
	sc.Logger = newStdLogger(cfg.Logger, "serf")
	sc.LogOutput = nil
	sc.SnapshotPath = cfg.SnapshotPath
	// With a snapshot, a restart rejoins the members it knew even after a
	// graceful leave: without RejoinAfterLeave serf forgets them on leave,
	// and an agent restarted by systemd or Kubernetes (which stop it with
	// SIGTERM, a graceful leave) would need -join again.
	sc.RejoinAfterLeave = cfg.SnapshotPath != ""
	cfg.Timing.applySerf(sc)
	if cfg.Keyring != nil {
		sc.KeyringFile = cfg.KeyringFile
	}
	// Events reach hooks as they happen: vigil does not coalesce member
	// events (serf agent waits 1-3 s to batch them).
	sc.CoalescePeriod = 0
	sc.QuiescentPeriod = 0
	merge := &syncMerge{}
	if !cfg.acceptInvalid {
		// Every member announcement passes the gate before memberlist
		// stores it (validate.go).
		merge.gate = &mergeGate{local: cfg.NodeName, refusals: refusals}
	}
	sc.Merge = merge
	c := &Cluster{
		eventCh:     make(chan serf.Event, serfEventBuffer),
		handler:     handler,
		logger:      cfg.Logger,
		profile:     cfg.Profile,
		keyring:     cfg.Keyring,
		clusterName: cfg.ClusterName,
		timing:      timingOf(ml, sc),
		stop:        make(chan struct{}),
		drained:     make(chan struct{}),

		refusals:      refusals,
		acceptInvalid: cfg.acceptInvalid,

		refuted:        refuted,
		queries:        cfg.QueryHandlers,
		reannounceDone: make(chan struct{}),
		refutations:    refutations,

		joinSyncRounds:  cfg.JoinSyncRounds,
		joinSyncTrigger: joinSyncTrigger,
		joinSyncDone:    make(chan struct{}),

		confirmOn:           cfg.ConfirmFailures,
		confirmTimeout:      confirmTimeoutFor(cfg.ConfirmTimeout, ml.ProbeTimeout),
		confirmStarting:     cfg.confirmStarting,
		noRestartReannounce: cfg.noRestartReannounce,
		noRejoinCheck:       cfg.noRejoinCheck,
		wake:                make(chan struct{}, 1),

		peersPath:  cfg.PeersPath,
		peersDirty: make(chan struct{}, 1),
		peersDone:  make(chan struct{}),
	}
	merge.c = c
	var remembered []Peer
	if cfg.PeersPath != "" {
		// Read before serf starts: the writer replaces the file soon after.
		if remembered, err = ReadPeers(cfg.PeersPath); err != nil {
			c.logger.Warn().Err(err).Msg("ignoring the remembered peers")
			remembered = nil
		}
	}
	for _, p := range remembered {
		if p.Name != cfg.NodeName {
			c.remembered = append(c.remembered, p.Name)
		}
	}
	sc.EventCh = c.eventCh
	go c.drain()
	s, err := serf.Create(sc)
	if err != nil {
		close(c.stop)
		<-c.drained
		return nil, fmt.Errorf("start gossip on %s: %w", net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
	}
	c.serf = s
	c.started.Store(true)
	go c.reannounceLoop()
	go c.joinSyncLoop()
	if cfg.Timing != (Timing{}) {
		t := c.timing
		c.logger.Info().Str("profile", string(cfg.Profile)).Dur("probe_interval", t.ProbeInterval).
			Dur("probe_timeout", t.ProbeTimeout).Int("suspicion_mult", t.SuspicionMult).
			Dur("gossip_interval", t.GossipInterval).Int("gossip_nodes", t.GossipNodes).
			Int("retransmit_mult", t.RetransmitMult).Dur("reconnect_interval", t.ReconnectInterval).
			Dur("reconnect_timeout", t.ReconnectTimeout).Msg("gossip timings")
	}
	if c.peersPath != "" {
		go c.writePeersLoop()
		go c.rejoin(remembered)
	} else {
		close(c.peersDone)
	}
	return c, nil
}

// drain moves serf's events into an unbounded queue the moment they
// arrive, and a second goroutine hands them to the handler. serf sends on
// its event channel while holding its member lock, so the goroutine that
// receives must never wait on anything, serf's own lock least of all; the
// handler may then take its time (and call Members) without stalling
// gossip. The failure confirmation (confirm.go) queues its results here
// too, so that one goroutine reports every event.
func (c *Cluster) drain() {
	defer close(c.drained)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c.queueMu.Lock()
			batch := c.queue
			c.queue = nil
			c.queueMu.Unlock()
			for _, e := range batch {
				c.translate(e)
			}
			if len(batch) > 0 {
				continue
			}
			select {
			case <-c.wake:
			case <-c.stop:
				return
			}
		}
	}()
	defer func() { <-done }()
	for {
		select {
		case e := <-c.eventCh:
			c.enqueue(e)
		case <-c.stop:
			return
		}
	}
}

// enqueue adds e to the queue of events to translate. It never blocks.
func (c *Cluster) enqueue(e serf.Event) {
	c.queueMu.Lock()
	c.queue = append(c.queue, e)
	c.queueMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// translate turns one serf event into vigil events: one event per member of
// a member event, one for a user event. Queries are not answered.
func (c *Cluster) translate(e serf.Event) {
	switch ev := e.(type) {
	case serf.MemberEvent:
		c.peersChanged()
		for _, m := range ev.Members {
			if !c.valid(m) {
				continue
			}
			switch ev.Type {
			case serf.EventMemberFailed:
				c.storm.noteFailed(time.Now())
			case serf.EventMemberJoin:
				c.storm.noteJoined(m.Name, time.Now())
			}
			if ev.Type == serf.EventMemberUpdate && c.onlyEpochChanged(m) {
				continue
			}
			typ, keep := c.leaves.rewrite(events.Type(ev.Type.String()), m.Name, time.Now())
			if !keep {
				c.logger.Debug().Str("member", m.Name).Msg("dropping serf's second leave event for an announced leave")
				continue
			}
			member := toMember(m)
			if typ == events.MemberLeave {
				member.Status = events.StatusLeft
			}
			c.deliverMember(events.Event{Type: typ, Members: []events.Member{member}})
		}
	case confirmResult:
		c.finishConfirm(ev)
	case confirmRecheck:
		c.recheck(ev.name)
	case *serf.Query:
		c.handleQuery(ev)
	case serf.UserEvent:
		if !c.acceptInvalid {
			if err := CheckEventName(ev.Name); err != nil {
				c.refusals.report(false, ev.Name, "", err.Error())
				return
			}
		}
		c.handler(events.Event{Type: events.User, User: &events.UserEvent{
			Name: ev.Name, Payload: string(ev.Payload), LTime: uint64(ev.LTime),
		}})
	default:
		c.logger.Debug().Str("event", e.String()).Msg("ignoring serf event")
	}
}

// onlyEpochChanged notes m's tags and reports whether they differ from
// the last seen only in the epoch tag: a re-announcement, not news.
func (c *Cluster) onlyEpochChanged(m serf.Member) bool {
	if c.lastTags == nil {
		c.lastTags = map[string]map[string]string{}
	}
	prev, seen := c.lastTags[m.Name]
	c.lastTags[m.Name] = m.Tags
	if !seen {
		return false
	}
	for k, v := range m.Tags {
		if k != events.EpochTag && prev[k] != v {
			return false
		}
	}
	for k := range prev {
		if _, ok := m.Tags[k]; !ok && k != events.EpochTag {
			return false
		}
	}
	return true
}

// valid reports whether m's name and tags pass the gossip input check
// (validate.go), and logs a member that does not. The gate keeps such
// members out of memberlist; this keeps any that another path let in out
// of events and the API.
func (c *Cluster) valid(m serf.Member) bool {
	if c.acceptInvalid {
		return true
	}
	if err := checkMember(m.Name, m.Tags); err != nil {
		addr := ""
		if m.Addr != nil {
			addr = net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
		}
		c.refusals.report(true, m.Name, addr, err.Error())
		return false
	}
	return true
}

func toMember(m serf.Member) events.Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	addr := ""
	if m.Addr != nil {
		addr = m.Addr.String()
	}
	return events.Member{Name: m.Name, Addr: addr, Port: m.Port, Status: events.MemberStatus(m.Status.String()), Tags: tags}
}

// Members returns every member serf knows, sorted by name.
func (c *Cluster) Members() []events.Member {
	ms := c.serf.Members()
	out := make([]events.Member, 0, len(ms))
	for _, m := range ms {
		if !c.valid(m) {
			continue
		}
		member := toMember(m)
		if m.Status == serf.StatusFailed && c.leaves.leftAfterAnnounce(m.Name) {
			member.Status = events.StatusLeft
		}
		out = append(out, member)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remembered returns the members the peers file in the data dir named
// when this agent started (the members of its previous run), whether or
// not it has seen them since.
func (c *Cluster) Remembered() []string { return c.remembered }

// LocalMember returns the local member.
func (c *Cluster) LocalMember() events.Member {
	return toMember(c.serf.LocalMember())
}

// Profile returns the timing profile in use.
func (c *Cluster) Profile() Profile { return c.profile }

// Join contacts the given addresses and returns how many it joined. Old
// user events are not replayed to the joining member. A join that reached
// anyone starts the join anti-entropy (joinsync.go), as a rejoin when the
// members joined already listed this member's name (a restart).
func (c *Cluster) Join(addrs []string) (int, error) {
	c.knownBefore.Store(false)
	c.joining.Store(true)
	n, err := c.serf.Join(addrs, true)
	c.joining.Store(false)
	if n > 0 {
		if c.knownBefore.Load() {
			c.startJoinSync(joinSyncRestarted)
		} else {
			c.startJoinSync(joinSyncJoined)
		}
	}
	if err != nil {
		jerr := newJoinError(addrs, err)
		if hint := encryptionHint(err.Error()); hint != "" {
			return n, fmt.Errorf("%w (%s)", jerr, hint)
		}
		if peerClosed(err) {
			// A peer with another cluster name closes the stream
			// without a word.
			return n, fmt.Errorf("%w (the peer closed the connection: %s)", jerr, clusterNameHint(c.clusterName))
		}
		return n, jerr
	}
	return n, nil
}

// peerClosed reports whether a join failed because the peer closed the
// connection: an EOF, or a reset when the peer closed it before reading
// what this agent had sent (the kernel then resets it; which of the two
// a join sees depends on timing).
func peerClosed(err error) bool {
	s := err.Error()
	return strings.Contains(s, "EOF") || strings.Contains(s, "connection reset by peer")
}

// Join retry backoff bounds.
const (
	joinBackoffMin = 1 * time.Second
	joinBackoffMax = 30 * time.Second
)

// JoinRetry tries Join in the background, backing off from 1 s to 30 s
// between attempts, until one attempt reaches a member or ctx ends. Then,
// with recheck > 0, it keeps the addresses joined (joinkeeper.go): every
// recheck it resolves them again and joins those that are not members.
func (c *Cluster) JoinRetry(ctx context.Context, addrs []string, recheck time.Duration) {
	if len(addrs) == 0 {
		return
	}
	go func() {
		backoff := joinBackoffMin
		for attempt := 1; ; attempt++ {
			n, err := c.Join(addrs)
			if err == nil || n > 0 {
				c.logger.Info().Strs("addrs", addrs).Int("joined", n).Int("attempt", attempt).Msg("joined cluster")
				break
			}
			c.logger.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", backoff).Msg("join failed, retrying")
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, joinBackoffMax)
		}
		if recheck > 0 {
			c.keepJoined(ctx, addrs, recheck)
		}
	}()
}

// UserEvent fires a custom event across the cluster.
func (c *Cluster) UserEvent(name string, payload []byte) error {
	if err := CheckEventName(name); err != nil {
		return fmt.Errorf("user event %s: %w", QuoteShort(name), err)
	}
	if err := c.serf.UserEvent(name, payload, false); err != nil {
		return fmt.Errorf("user event %q: %w", name, err)
	}
	return nil
}

// SetTags replaces the local member's tags and gossips them.
func (c *Cluster) SetTags(tags map[string]string) error {
	if err := CheckTags(tags); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	c.tagsMu.Lock()
	defer c.tagsMu.Unlock()
	if err := c.serf.SetTags(c.withEpoch(tags)); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	return nil
}

// withEpoch returns a copy of tags with the next epoch. Called with
// tagsMu held.
func (c *Cluster) withEpoch(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[events.EpochTag] = strconv.FormatUint(c.epoch.Add(1), 10)
	return out
}

// leaveJoinWait bounds how long Leave waits for a join in flight.
const leaveJoinWait = 5 * time.Second

// waitJoinEnd waits, up to leaveJoinWait or ctx's end, for a join in
// flight to end. The join's push/pull adds this member to the peer's view
// before this member has taken the peer's: a leave in between finds no
// member to tell (serf broadcasts its leave intent only when it lists
// another member alive), and the peer, which then hears only memberlist's
// leave, lists this member failed. TestLeftInstanceHealth met it when its
// agent was stopped the moment its peer listed it (1 in about 20 runs).
func (c *Cluster) waitJoinEnd(ctx context.Context) {
	deadline := time.Now().Add(leaveJoinWait)
	for c.joining.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// ErrShutdown is returned by Leave after the cluster was shut down.
var ErrShutdown = errors.New("gossip is shut down")

// Leave leaves the cluster gracefully (peers see member-leave) and shuts
// gossip down: it announces the leave to every member, waits for their
// acks, then runs serf's leave. It returns when the leave has propagated or
// ctx ends.
func (c *Cluster) Leave(ctx context.Context) error {
	if c.peersPath != "" {
		// Whatever the writer has not written yet: a restart rejoins them.
		c.savePeers()
	}
	c.waitJoinEnd(ctx)
	acked, asked := c.announceLeave(ctx)
	if acked < asked {
		c.logger.Warn().Int("acked", acked).Int("asked", asked).Msg("not every member acknowledged the leave announcement; they may see this member fail")
	}
	done := make(chan error, 1)
	go func() { done <- c.serf.Leave() }()
	var err error
	select {
	case err = <-done:
		if err != nil {
			err = fmt.Errorf("leave: %w", err)
		}
	case <-ctx.Done():
		err = fmt.Errorf("leave: %w", ctx.Err())
	}
	if serr := c.Shutdown(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// sleepUntil waits until at, or until gossip stops: it reports whether at
// came first.
func (c *Cluster) sleepUntil(at time.Time) bool {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-c.stop:
		return false
	case <-t.C:
		return true
	}
}

// Shutdown stops gossip at once, without telling peers (they will see the
// member fail).
func (c *Cluster) Shutdown() error {
	var err error
	c.once.Do(func() {
		err = c.serf.Shutdown()
		close(c.stop)
		<-c.drained
		<-c.peersDone
		<-c.reannounceDone
		<-c.joinSyncDone
	})
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
