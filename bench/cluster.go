package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// Kind is an agent implementation under test.
type Kind string

// The agents compared.
const (
	Vigil Kind = "vigil"
	Serf  Kind = "serf"
)

// Setup is one agent implementation with one memberlist timing profile.
type Setup struct {
	Kind    Kind   `json:"agent"`
	Profile string `json:"profile"`
}

// Name returns "vigil-local", "serf-local", "vigil-fast".
func (s Setup) Name() string { return string(s.Kind) + "-" + s.Profile }

// Env holds what every cluster needs: the binaries, a scratch directory
// and the list of running processes (for cleanup). Agents run on free
// loopback ports that internal/clustertest picks, as the end-to-end tests'
// agents do.
type Env struct {
	VigilBin string
	SerfBin  string
	// Dir is a scratch directory; each cluster gets a folder in it.
	Dir string
	// Logf prints progress.
	Logf func(format string, args ...any)

	mu       sync.Mutex
	live     map[*Agent]bool
	clusters int
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// KillAll SIGKILLs every agent the harness started and still runs, by PID.
func (e *Env) KillAll() {
	e.mu.Lock()
	agents := make([]*Agent, 0, len(e.live))
	for a := range e.live {
		agents = append(agents, a)
	}
	e.mu.Unlock()
	for _, a := range agents {
		a.signal(syscall.SIGKILL)
	}
	for _, a := range agents {
		a.waitExit(5 * time.Second)
	}
}

// ClusterOptions describe a cluster to start.
type ClusterOptions struct {
	Setup Setup
	N     int
	// ServicePort, when set (vigil only), gives every agent
	// -service web:PORT -check-tcp 127.0.0.1:PORT.
	ServicePort int
	// Alone starts every agent without a join (no -join, no -retry-join),
	// each a cluster of one, for a join by API afterwards (JoinCLI).
	Alone bool
	// NoWait returns the cluster as soon as every agent is launched (with
	// Alone, once every API answers), without waiting for convergence:
	// the caller waits (join.go's waitAllAlive, which names the last
	// agent).
	NoWait bool
	// LogLevel is every agent's -log-level; "" is warn.
	LogLevel string
}

// Cluster is N agents of one setup on loopback, all with a member-failed
// hook that appends "UNIXNANO SELF MEMBER" to one file.
type Cluster struct {
	env     *Env
	Opt     ClusterOptions
	Name    string
	dir     string
	HookLog string
	hook    string
	Agents  []*Agent
	client  *http.Client
	Started time.Time

	mu sync.Mutex
	// windows are the (member, from, to) spans in which a member-failed
	// report is expected (a killed agent) or known (a leaving agent).
	windows []window
	// Respawns counts agents that exited on their own and were restarted.
	Respawns int
}

type window struct {
	member   string
	from, to int64
	leave    bool
}

// Agent is one agent process of a cluster.
type Agent struct {
	c          *Cluster
	Index      int
	Name       string
	GossipPort int
	APIPort    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	rpc  *serfRPC
}

// hookScript is the member-failed handler of both agents. It takes the
// time first, then writes one line per member on stdin (serf's format:
// NAME<TAB>ADDR<TAB>ROLE<TAB>TAGS; vigil's -hook specs use the same).
const hookScript = `#!/bin/sh
t=$(date +%%s%%N)
while IFS= read -r line || [ -n "$line" ]; do
  printf '%%s %%s %%s\n' "$t" "$SERF_SELF_NAME" "${line%%%%	*}" >> '%s'
done
`

// vigilConfig turns off vigil's failover guards for the benchmark. By
// default every member-failed hook is guarded: a member that fails and
// comes back more than 3 times in 10 minutes is damped, and when more than
// half the cluster fails within 30 s the brake holds every such hook until
// an operator releases it. The benchmark kills and restarts agents every
// few seconds, far past both limits, which would measure the guards
// instead of detection. serf agent has no such guards.
const vigilConfig = `failover:
  flap_limit: 1000000
  brake_fraction: 1
`

// StartCluster starts a cluster and waits until every agent sees N alive
// members. It returns the cluster and the join convergence time: from the
// first agent's launch until the last agent saw N alive. The seed (agent
// 0) is launched first; the others are launched, all at once, when its
// API answers, each joining through it. With opt.Alone nothing joins:
// it returns when every agent's API answers, with a convergence time of 0;
// with opt.NoWait it returns once every agent is launched, with 0.
func (e *Env) StartCluster(opt ClusterOptions, timeout time.Duration) (*Cluster, time.Duration, error) {
	if opt.Setup.Kind == Serf && opt.ServicePort != 0 {
		return nil, 0, errors.New("serf agents have no service option")
	}
	ports, err := clustertest.PickFreePorts(2 * opt.N)
	if err != nil {
		return nil, 0, err
	}
	e.mu.Lock()
	e.clusters++
	name := fmt.Sprintf("%s-n%d-%d", opt.Setup.Name(), opt.N, e.clusters)
	e.mu.Unlock()
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	c := &Cluster{
		env:     e,
		Opt:     opt,
		Name:    name,
		dir:     dir,
		HookLog: filepath.Join(dir, "member-failed.log"),
		hook:    filepath.Join(dir, "on-failed.sh"),
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second, DisableCompression: true,
		}},
	}
	if err := os.WriteFile(c.hook, fmt.Appendf(nil, hookScript, c.HookLog), 0o755); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(c.HookLog, nil, 0o644); err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(c.runDir(), 0o700); err != nil {
		return nil, 0, err
	}
	if err := clustertest.WriteConfigFile(filepath.Join(dir, "vigil.yaml"), vigilConfig); err != nil {
		return nil, 0, err
	}
	for i := range opt.N {
		c.Agents = append(c.Agents, &Agent{
			c: c, Index: i, Name: fmt.Sprintf("%s-%02d", opt.Setup.Kind, i),
			GossipPort: ports[2*i], APIPort: ports[2*i+1],
		})
	}
	e.logf("  start %s (seed gossip 127.0.0.1:%d)", name, c.Agents[0].GossipPort)
	c.Started = time.Now()
	if err := c.Agents[0].start(); err != nil {
		c.Stop()
		return nil, 0, err
	}
	if err := c.Agents[0].waitReady(15 * time.Second); err != nil {
		c.Stop()
		return nil, 0, err
	}
	for _, a := range c.Agents[1:] {
		if err := a.start(); err != nil {
			c.Stop()
			return nil, 0, err
		}
	}
	if opt.Alone {
		// Each agent a cluster of one: ready when its API answers.
		for _, a := range c.Agents {
			if err := a.waitReady(timeout); err != nil {
				c.Stop()
				return nil, 0, err
			}
		}
		return c, 0, nil
	}
	if opt.NoWait {
		return c, 0, nil
	}
	conv, err := c.WaitConverged(c.Started, timeout)
	if err != nil {
		c.Stop()
		return nil, 0, err
	}
	return c, conv, nil
}

// args returns the agent's command line. Agents other than the seed join
// through the seed (through agent 1 for the seed itself).
func (a *Agent) args() []string {
	c := a.c
	join := c.Agents[0]
	if a.Index == 0 {
		join = nil
		if a.pidStarted() {
			join = c.Agents[1]
		}
	}
	gossip := "127.0.0.1:" + strconv.Itoa(a.GossipPort)
	api := "127.0.0.1:" + strconv.Itoa(a.APIPort)
	level := c.Opt.LogLevel
	if level == "" {
		level = "warn"
	}
	switch c.Opt.Setup.Kind {
	case Vigil:
		args := []string{"agent", "-config", filepath.Join(c.dir, "vigil.yaml"), "-name", a.Name, "-bind", gossip, "-http", api,
			"-profile", c.Opt.Setup.Profile, "-log-level", level, "-log-format", "json",
			"-hook", "member-failed=" + c.hook,
			// DNS off: all agents share one host, where only the first
			// could take the default 127.0.0.1:8600 and the other N-1
			// would log that they could not; serf agent has no DNS server.
			"-dns", ""}
		if join != nil && !c.Opt.Alone {
			args = append(args, "-join", "127.0.0.1:"+strconv.Itoa(join.GossipPort))
		}
		if p := c.Opt.ServicePort; p != 0 {
			args = append(args, "-service", "web:"+strconv.Itoa(p), "-check-tcp", "127.0.0.1:"+strconv.Itoa(p))
		}
		return args
	default:
		args := []string{"agent", "-node", a.Name, "-bind", gossip, "-rpc-addr", api,
			"-profile", c.Opt.Setup.Profile, "-log-level", level,
			"-event-handler", "member-failed=" + c.hook}
		if join != nil && !c.Opt.Alone {
			args = append(args, "-retry-join", "127.0.0.1:"+strconv.Itoa(join.GossipPort), "-retry-interval", "1s")
		}
		return args
	}
}

// runDir is the cluster's runtime directory (VIGIL_RUNTIME_DIR of its
// vigil agents).
func (c *Cluster) runDir() string { return filepath.Join(c.dir, "run") }

// pidStarted reports whether the agent was started before (a restart).
func (a *Agent) pidStarted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd != nil
}

// start launches the agent's process. Its output goes to NAME.log in the
// cluster's folder; it is in its own process group (a Ctrl-C at the
// terminal reaches only the harness) and gets SIGKILL if the harness dies
// (clustertest.StartProcess).
func (a *Agent) start() error {
	c := a.c
	bin := c.env.VigilBin
	if c.Opt.Setup.Kind == Serf {
		bin = c.env.SerfBin
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, a.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, a.args()...)
	cmd.Dir = c.dir
	cmd.Env = clustertest.AgentEnv("VIGIL_", "SERF_")
	if c.Opt.Setup.Kind == Vigil {
		// Each cluster's own runtime directory, where an agent without
		// http_token writes the token the vigil commands (and joinAPI)
		// read; never a stale file of an earlier agent on the same port.
		cmd.Env = append(cmd.Env, "VIGIL_RUNTIME_DIR="+c.runDir())
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := clustertest.StartProcess(cmd); err != nil {
		return fmt.Errorf("start %s: %w", a.Name, err)
	}
	done := make(chan struct{})
	a.mu.Lock()
	a.cmd, a.pid, a.done = cmd, cmd.Process.Pid, done
	if a.rpc != nil {
		a.rpc.close()
		a.rpc = nil
	}
	a.mu.Unlock()
	c.env.mu.Lock()
	if c.env.live == nil {
		c.env.live = map[*Agent]bool{}
	}
	c.env.live[a] = true
	c.env.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
		c.env.mu.Lock()
		a.mu.Lock()
		if a.cmd == cmd {
			delete(c.env.live, a)
		}
		a.mu.Unlock()
		c.env.mu.Unlock()
	}()
	return nil
}

// PID returns the agent's current process id.
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pid
}

// running reports whether the agent's process runs.
func (a *Agent) running() bool { return !a.waitExit(0) }

func (a *Agent) signal(sig syscall.Signal) {
	if !a.running() {
		return
	}
	_ = syscall.Kill(a.PID(), sig)
}

// waitExit waits up to d for the process to exit; it reports whether it
// did (or never started).
func (a *Agent) waitExit(d time.Duration) bool {
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// waitReady waits until the agent's API answers.
func (a *Agent) waitReady(d time.Duration) error {
	var last error
	_, err := clustertest.Poll(d, 50*time.Millisecond, func() (bool, error) {
		if _, last = a.aliveCount(); last == nil {
			return true, nil
		}
		if !a.running() {
			return false, fmt.Errorf("%s exited at start; see %s", a.Name, filepath.Join(a.c.dir, a.Name+".log"))
		}
		return false, nil
	})
	if errors.Is(err, clustertest.ErrTimeout) {
		return fmt.Errorf("%s not ready after %s: %v", a.Name, d, last)
	}
	return err
}

// aliveCount returns how many members the agent sees alive.
func (a *Agent) aliveCount() (int, error) {
	api := "127.0.0.1:" + strconv.Itoa(a.APIPort)
	if a.c.Opt.Setup.Kind == Vigil {
		resp, err := a.c.client.Get("http://" + api + "/v1/members?status=alive")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %s", api, resp.Status)
		}
		var ms []struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
			return 0, err
		}
		return len(ms), nil
	}
	a.mu.Lock()
	rpc := a.rpc
	a.mu.Unlock()
	if rpc == nil {
		var err error
		if rpc, err = dialSerf(api, 2*time.Second); err != nil {
			return 0, err
		}
		a.mu.Lock()
		a.rpc = rpc
		a.mu.Unlock()
	}
	ms, err := rpc.members(true)
	if err != nil {
		rpc.close()
		a.mu.Lock()
		if a.rpc == rpc {
			a.rpc = nil
		}
		a.mu.Unlock()
		return 0, err
	}
	return len(ms), nil
}

// WaitConverged polls every agent until each has seen all N members alive
// once; it returns the time from t0 until the last one did. An agent
// whose process exited on its own is restarted (counted in Respawns).
func (c *Cluster) WaitConverged(t0 time.Time, timeout time.Duration) (time.Duration, error) {
	d, _, err := c.waitAllAlive(t0, timeout, true)
	return d, err
}

// pollWorkers is how many agents waitAllAlive asks at once. One at a
// time, a sweep of 100 agents on a loaded 2-core machine took about a
// second, and an agent that converged early in the sweep's wait was seen
// up to a sweep late; at N = 200, with agents that did not answer within
// their 2 s, a sweep took minutes. Both kinds of agent are polled alike.
const pollWorkers = 16

// waitAllAlive polls every agent every 100 ms, pollWorkers at a time,
// until each has seen all N members alive once; it returns the time from
// t0 until the last one did (the time its answer came back) and that
// agent's name. An agent whose process exited is restarted with respawn
// (counted in Respawns) and an error without.
func (c *Cluster) waitAllAlive(t0 time.Time, timeout time.Duration, respawn bool) (time.Duration, string, error) {
	n := len(c.Agents)
	pending := map[int]bool{}
	for i := range c.Agents {
		pending[i] = true
	}
	var mu sync.Mutex // guards pending, last and lastName during a sweep
	var last time.Time
	var lastName string
	_, err := clustertest.Poll(timeout, 100*time.Millisecond, func() (bool, error) {
		var ask []int
		for i := range pending {
			a := c.Agents[i]
			if !a.running() {
				if !respawn {
					return false, fmt.Errorf("%s exited; see %s", a.Name, filepath.Join(c.dir, a.Name+".log"))
				}
				c.mu.Lock()
				c.Respawns++
				c.mu.Unlock()
				c.env.logf("    %s exited on its own; restarting it", a.Name)
				if err := a.start(); err != nil {
					return false, err
				}
				continue
			}
			ask = append(ask, i)
		}
		sem := make(chan struct{}, pollWorkers)
		var wg sync.WaitGroup
		for _, i := range ask {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				k, err := c.Agents[i].aliveCount()
				if err != nil || k != n {
					return
				}
				now := time.Now()
				mu.Lock()
				delete(pending, i)
				if now.After(last) {
					last, lastName = now, c.Agents[i].Name
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return len(pending) == 0, nil
	})
	if errors.Is(err, clustertest.ErrTimeout) {
		var names []string
		for i := range pending {
			k, err := c.Agents[i].aliveCount()
			names = append(names, fmt.Sprintf("%s(%d,%v)", c.Agents[i].Name, k, err))
		}
		sort.Strings(names)
		return 0, "", fmt.Errorf("%s: not converged after %s: %s", c.Name, timeout, strings.Join(names, " "))
	}
	if err != nil {
		return 0, "", err
	}
	return last.Sub(t0), lastName, nil
}

// Stop kills every agent (SIGKILL) and waits for them.
func (c *Cluster) Stop() {
	for _, a := range c.Agents {
		a.signal(syscall.SIGKILL)
	}
	for _, a := range c.Agents {
		a.waitExit(5 * time.Second)
		a.mu.Lock()
		if a.rpc != nil {
			a.rpc.close()
			a.rpc = nil
		}
		a.mu.Unlock()
	}
	c.client.CloseIdleConnections()
}

// expect records that member-failed reports about member within [from, to]
// are accounted for (a killed agent, or one that leaves: leave=true).
func (c *Cluster) expect(member string, from, to time.Time, leave bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.windows = append(c.windows, window{member: member, from: from.UnixNano(), to: to.UnixNano(), leave: leave})
}

// HookLine is one line of a cluster's member-failed log.
type HookLine struct {
	T      int64  // when the hook started, Unix ns
	Self   string // the agent that ran it
	Member string // the member it reported failed
}

// ReadHookLog parses a member-failed log.
func ReadHookLog(path string) ([]HookLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []HookLine
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		t, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, HookLine{T: t, Self: f[1], Member: f[2]})
	}
	return out, nil
}

// FalseFailures returns the member-failed reports that no kill explains,
// and how many reports concerned agents that were leaving gracefully.
func (c *Cluster) FalseFailures() (unexplained []HookLine, onLeave int, err error) {
	lines, err := ReadHookLog(c.HookLog)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, l := range lines {
		for _, w := range c.windows {
			if l.Member == w.member && l.T >= w.from && l.T <= w.to {
				if w.leave {
					onLeave++
				}
				continue next
			}
		}
		unexplained = append(unexplained, l)
	}
	return unexplained, onLeave, nil
}
