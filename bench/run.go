package bench

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// Config sets what a run measures and for how long.
type Config struct {
	Quick bool `json:"quick"`
	// Ns are the cluster sizes of the detection, convergence and footprint
	// comparison (vigil-local against serf-local, plus vigil-fast).
	Ns []int `json:"ns"`
	// Trials is the number of detection trials per setup and N.
	Trials int `json:"trials"`
	// FastTrials is the number of vigil-fast trials per N, except at
	// FastLongN, which gets Trials (it carries the sub-2 s target).
	FastTrials int `json:"fast_trials"`
	// DetectTimeout bounds one trial's wait for every survivor's hook.
	DetectTimeout time.Duration `json:"detect_timeout_ns"`
	// RejoinTimeout bounds the wait for the restarted victim to be alive
	// everywhere; Settle is the pause after it.
	RejoinTimeout time.Duration `json:"rejoin_timeout_ns"`
	Settle        time.Duration `json:"settle_ns"`
	// IdleSettle is the pause between a cluster's convergence and its idle
	// window: long enough for the agents' heaps to reach Go's first
	// collections and the join's work to end, so the window measures the
	// steady state a sidecar's memory limit sees, not the growth after a
	// start (at N = 5 serf agent's RSS 2-17 s after its start was 1.4 MiB
	// lower than 60 s after it). 0, in results recorded before it: 2 s.
	IdleSettle time.Duration `json:"idle_settle_ns,omitempty"`
	// IdleWindow, ChurnWindow and ChurnPeriod set the footprint windows.
	IdleWindow  time.Duration `json:"idle_window_ns"`
	ChurnWindow time.Duration `json:"churn_window_ns"`
	ChurnPeriod time.Duration `json:"churn_period_ns"`
	// FastLongN and FastLongWindow: the quiet window of vigil-fast in which
	// false failures are counted (after its detection trials).
	FastLongN      int           `json:"fast_long_n"`
	FastLongWindow time.Duration `json:"fast_long_window_ns"`
	// HTTPN is the cluster size behind the HTTP load test; HTTPConc its
	// concurrency and HTTPDuration its length per endpoint.
	HTTPN        int           `json:"http_n"`
	HTTPConc     int           `json:"http_concurrency"`
	HTTPDuration time.Duration `json:"http_duration_ns"`
	// ScaleNs are the large cluster sizes, run one setup at a time:
	// convergence, idle footprint, a quiet window of ScaleWindow with
	// false failures counted, then ScaleTrials detection trials.
	ScaleNs     []int         `json:"scale_ns"`
	ScaleWindow time.Duration `json:"scale_window_ns"`
	ScaleTrials int           `json:"scale_trials"`
	// ScaleFast adds vigil-fast to the scale phase.
	ScaleFast bool `json:"scale_fast"`
	// ScaleOnly, when not empty, names the setups the scale phase runs
	// (e.g. vigil-local), of those it would run; for a targeted run.
	ScaleOnly []string `json:"scale_only,omitempty"`
	// Profile is the memberlist profile of the comparison phases' vigil
	// and serf agent clusters: "local" when empty (its rows are
	// vigil-local and serf-local), e.g. "lan" for vigil-lan beside
	// serf-lan.
	Profile string `json:"profile,omitempty"`
	// ScaleAlone: the scale phase runs each setup alone (since f498cf0);
	// a run recorded before it ran vigil's and serf's side by side, and
	// its report says so.
	ScaleAlone bool `json:"scale_alone"`
	// HookSamples is the number of in-process hook-latency samples.
	HookSamples int `json:"hook_samples"`
	// Skip names phases not to run: hook, pair, fast, http, scale (for
	// debugging the harness; a full run skips none).
	Skip []string `json:"skip,omitempty"`
}

func (c Config) skip(phase string) bool { return slices.Contains(c.Skip, phase) }

func (c Config) fastTrials(n int) int {
	if n == c.FastLongN {
		return max(c.Trials, c.FastTrials)
	}
	return c.FastTrials
}

// FullConfig is the default full run (about 95 minutes on 2 cores: the
// fast profile's 10-minute quiet window, and each agent alone for 5
// minutes at N = 100, 150 and 200).
func FullConfig() Config {
	return Config{
		Ns: []int{5, 20, 50}, Trials: 10, FastTrials: 6,
		DetectTimeout: 45 * time.Second, RejoinTimeout: 60 * time.Second, Settle: time.Second,
		IdleSettle: 30 * time.Second, IdleWindow: 30 * time.Second, ChurnWindow: 15 * time.Second, ChurnPeriod: 5 * time.Second,
		FastLongN: 20, FastLongWindow: 10 * time.Minute,
		HTTPN: 50, HTTPConc: 4, HTTPDuration: 5 * time.Second,
		ScaleNs: []int{100, 150, 200}, ScaleWindow: 5 * time.Minute, ScaleTrials: 3, ScaleAlone: true,
		HookSamples: 500,
	}
}

// QuickConfig is a smoke run of every phase (a few minutes).
func QuickConfig() Config {
	return Config{
		Quick: true,
		Ns:    []int{5}, Trials: 3, FastTrials: 3,
		DetectTimeout: 30 * time.Second, RejoinTimeout: 30 * time.Second, Settle: 500 * time.Millisecond,
		IdleSettle: 2 * time.Second, IdleWindow: 5 * time.Second, ChurnWindow: 10 * time.Second, ChurnPeriod: 3 * time.Second,
		FastLongN: 5, FastLongWindow: 10 * time.Second,
		HTTPN: 5, HTTPConc: 4, HTTPDuration: 2 * time.Second,
		ScaleNs: []int{10}, ScaleWindow: 10 * time.Second, ScaleTrials: 1, ScaleAlone: true,
		HookSamples: 100,
	}
}

var (
	vigilLocal = Setup{Vigil, "local"}
	serfLocal  = Setup{Serf, "local"}
	vigilFast  = Setup{Vigil, "fast"}
)

// pairSetups are the comparison phases' two setups: vigil and serf agent
// with Profile.
func (c Config) pairSetups() (vigil, serf Setup) {
	p := c.Profile
	if p == "" {
		p = "local"
	}
	return Setup{Vigil, p}, Setup{Serf, p}
}

// Budget is one phase's planned and actual length.
type Budget struct {
	Phase    string `json:"phase"`
	PlannedS Num    `json:"planned_s"`
	ActualS  Num    `json:"actual_s"`
}

// trialSeconds estimates one detection trial: detection (suspicion floor
// plus a probe round, plus serf agent's 1 s coalescing), restart and
// rejoin, settle.
func (c Config) trialSeconds(s Setup, n int) float64 {
	th := TheoryFor(s.Profile, n)
	t := float64(th.FloorMS)/1000 + 1 + 1.5 + 0.03*float64(n) + c.Settle.Seconds()
	if s.Kind == Serf {
		t += 1.5
	}
	if s.Profile == "local" {
		// The local profile retransmits gossip only 2×log10(N+1) times: a
		// member that misses the restarted victim's alive message catches
		// up at the next push/pull (15 s, longer above 32 members).
		t += 0.12 * float64(n)
	}
	return t
}

// startSeconds estimates a cluster start: launching N processes, and for
// the local profile the push/pull that catches up members that missed
// the join gossip.
func startSeconds(s Setup, n int) float64 {
	if s.Profile == "local" && n >= 20 {
		return 3 + 0.6*float64(n)
	}
	return 3 + 0.1*float64(n)
}

// idleSettle is IdleSettle, or 2 s when it is not set.
func (c Config) idleSettle() time.Duration {
	if c.IdleSettle > 0 {
		return c.IdleSettle
	}
	return 2 * time.Second
}

// Plan returns the phases with their estimated lengths.
func (c Config) Plan() []Budget {
	var out []Budget
	add := func(p string, s float64) {
		out = append(out, Budget{Phase: p, PlannedS: Num(math.Round(s)), ActualS: nan})
	}
	add("hook dispatch latency (in-process)", 2+float64(c.HookSamples)*0.01)
	pv, ps := c.pairSetups()
	for _, n := range c.Ns {
		s := startSeconds(pv, n) + startSeconds(ps, n) + c.idleSettle().Seconds() + c.IdleWindow.Seconds() + c.ChurnWindow.Seconds() + 8
		s += float64(c.Trials) * (c.trialSeconds(pv, n) + c.trialSeconds(ps, n))
		if n == c.HTTPN {
			s += c.HTTPDuration.Seconds() + 2
		}
		add(fmt.Sprintf("N=%d %s vs %s", n, pv.Name(), ps.Name()), s)
		s = startSeconds(vigilFast, n) + c.idleSettle().Seconds() + c.IdleWindow.Seconds() + float64(c.fastTrials(n))*c.trialSeconds(vigilFast, n)
		if n == c.FastLongN {
			s += c.FastLongWindow.Seconds()
		}
		add(fmt.Sprintf("N=%d vigil-fast", n), s)
	}
	add(fmt.Sprintf("HTTP API load, N=%d", c.HTTPN), startSeconds(vigilFast, c.HTTPN)+2*c.HTTPDuration.Seconds()+3)
	for si, n := range c.ScaleNs {
		for _, s := range c.scaleOrder(si) {
			add(fmt.Sprintf("scale N=%d %s", n, s.Name()), startSeconds(s, n)+c.idleSettle().Seconds()+c.IdleWindow.Seconds()+c.ScaleWindow.Seconds()+
				float64(c.ScaleTrials)*c.trialSeconds(s, n))
		}
	}
	return out
}

// scaleSetups are the setups the scale phase runs at each size, one after
// the other (Run alternates their order between sizes).
func (c Config) scaleSetups() []Setup {
	out := []Setup{serfLocal, vigilLocal}
	if c.ScaleFast {
		out = append(out, vigilFast)
	}
	if len(c.ScaleOnly) > 0 {
		out = slices.DeleteFunc(out, func(s Setup) bool { return !slices.Contains(c.ScaleOnly, s.Name()) })
	}
	return out
}

// scaleOrder is the order of the scale phase's setups at its si-th size:
// one setup at a time (at N = 200, serf agent's and vigil's clusters side
// by side overloaded 2 cores, load ~1400, and each other's results), the
// order alternating between sizes.
func (c Config) scaleOrder(si int) []Setup {
	return alternate(c.scaleSetups(), si)
}

// ScaleStability is what the scale phase found for one setup: the false
// failures of its cluster at each size it ran alone, and the largest size
// up to which every one was stable.
type ScaleStability struct {
	Setup string `json:"setup"`
	// Sizes are the sizes the phase tried, ascending; FalseFailures holds
	// each one's count, -1 for a cluster that did not start.
	Sizes         []int `json:"sizes"`
	FalseFailures []int `json:"false_failures"`
	// Largest is the largest size with every size up to it stable (0
	// false failures in the quiet window); 0 when the smallest was not.
	Largest int `json:"largest"`
}

// LargestStable returns, for each setup of the scale phase, the largest
// size at which it was stable alone: 0 false member-failed reports over
// its cluster's life, quiet window included, with every smaller size it
// tried stable too.
func LargestStable(res *Results) []ScaleStability {
	sizes := slices.Clone(res.Config.ScaleNs)
	slices.Sort(sizes)
	var out []ScaleStability
	for _, s := range res.Config.scaleSetups() {
		st := ScaleStability{Setup: s.Name()}
		broken := false
		for _, n := range sizes {
			ff := -1
			for _, row := range res.Stability {
				if row.Setup == s.Name() && row.N == n && strings.HasPrefix(row.Phase, "scale ") {
					ff = row.FalseFailures
				}
			}
			st.Sizes = append(st.Sizes, n)
			st.FalseFailures = append(st.FalseFailures, ff)
			if ff != 0 {
				broken = true
			}
			if !broken {
				st.Largest = n
			}
		}
		out = append(out, st)
	}
	return out
}

// Convergence is one cluster start: the first agent's launch until every
// agent saw N alive.
type Convergence struct {
	Setup    string `json:"setup"`
	N        int    `json:"n"`
	MS       Num    `json:"ms"`
	Respawns int    `json:"respawns"`
	Phase    string `json:"phase"`
}

// Stability is the false-failure count of one cluster over its life.
type Stability struct {
	Setup string `json:"setup"`
	N     int    `json:"n"`
	Phase string `json:"phase"`
	// LifeS is how long the cluster ran (from its start to its stop).
	LifeS Num `json:"life_s"`
	// QuietS is the length of the window in which nothing was done to the
	// cluster on purpose (0 when it had none).
	QuietS Num `json:"quiet_s"`
	// FalseFailures counts member-failed hook runs about agents that had
	// not been killed (nor were leaving) at the time.
	FalseFailures int `json:"false_failures"`
	// FailedOnLeave counts member-failed hook runs about agents that were
	// leaving gracefully (churn).
	FailedOnLeave int      `json:"failed_on_leave"`
	Details       []string `json:"details,omitempty"`
}

// LoadSample is the host's load average at a point of the run.
type LoadSample struct {
	At    string  `json:"at"`
	Phase string  `json:"phase"`
	Load1 float64 `json:"load1"`
	Load5 float64 `json:"load5"`
}

// Results is everything a run measured.
type Results struct {
	Started     string        `json:"started"`
	Finished    string        `json:"finished"`
	Command     string        `json:"command"`
	Machine     Machine       `json:"machine"`
	VigilCommit string        `json:"vigil_commit"`
	SerfVersion string        `json:"serf_version"`
	Config      Config        `json:"config"`
	QuietWaitS  Num           `json:"quiet_wait_s"`
	Quiet       bool          `json:"started_quiet"`
	Load        []LoadSample  `json:"load"`
	Budget      []Budget      `json:"budget"`
	Hook        []HookLatency `json:"hook_latency"`
	Convergence []Convergence `json:"convergence"`
	Detection   []DetectTrial `json:"detection"`
	Footprint   []Footprint   `json:"footprint"`
	HTTP        []LoadResult  `json:"http"`
	Stability   []Stability   `json:"stability"`
	Theory      []Theory      `json:"theory"`
	Micro       []Micro       `json:"micro"`
	Notes       []string      `json:"notes"`
}

// Runner runs the benchmark phases.
type Runner struct {
	Env *Env
	Cfg Config
	Res *Results

	// phase is the name of the phase running (its Budget row's); plan
	// the phases Run runs, next the index of the next one.
	phase string
	plan  []Budget
	next  int
}

func (r *Runner) sampleLoad() {
	if l, err := LoadAvg(); err == nil {
		r.Res.Load = append(r.Res.Load, LoadSample{At: time.Now().UTC().Format(time.RFC3339), Phase: r.phase, Load1: l[0], Load5: l[1]})
	}
}

func (r *Runner) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.Res.Notes = append(r.Res.Notes, s)
	r.Env.logf("  NOTE: %s", s)
}

// start starts a cluster and records its convergence.
func (r *Runner) start(opt ClusterOptions) *Cluster {
	to := 60*time.Second + time.Duration(opt.N)*time.Second
	c, conv, err := r.Env.StartCluster(opt, to)
	if err != nil {
		r.note("%s N=%d did not start: %v", opt.Setup.Name(), opt.N, err)
		return nil
	}
	r.Res.Convergence = append(r.Res.Convergence, Convergence{Setup: opt.Setup.Name(), N: opt.N,
		MS: Num(float64(conv.Microseconds()) / 1000), Respawns: c.Respawns, Phase: r.phase})
	r.Env.logf("    %s N=%d converged in %.2f s", opt.Setup.Name(), opt.N, conv.Seconds())
	return c
}

// stop stops a cluster and records its false failures.
func (r *Runner) stop(c *Cluster, quiet time.Duration) {
	if c == nil {
		return
	}
	life := time.Since(c.Started)
	c.Stop()
	unexplained, onLeave, err := c.FalseFailures()
	st := Stability{Setup: c.Opt.Setup.Name(), N: c.Opt.N, Phase: r.phase, LifeS: Num(life.Seconds()), QuietS: Num(quiet.Seconds()),
		FalseFailures: len(unexplained), FailedOnLeave: onLeave}
	if err != nil {
		st.Details = append(st.Details, err.Error())
	}
	for i, l := range unexplained {
		if i == 20 {
			st.Details = append(st.Details, fmt.Sprintf("... and %d more", len(unexplained)-20))
			break
		}
		st.Details = append(st.Details, fmt.Sprintf("%s reported %s failed at +%.1fs", l.Self, l.Member,
			float64(l.T-c.Started.UnixNano())/1e9))
	}
	r.Res.Stability = append(r.Res.Stability, st)
	if len(unexplained) > 0 {
		r.Env.logf("    %s N=%d: %d FALSE member-failed reports", c.Opt.Setup.Name(), c.Opt.N, len(unexplained))
	}
}

// detect runs one trial and logs it.
func (r *Runner) detect(c *Cluster, trial int) {
	n := len(c.Agents)
	victim := 1 + trial%(n-1)
	d := c.Detect(trial, victim, r.Cfg.DetectTimeout, r.Cfg.RejoinTimeout, r.Cfg.Settle)
	r.Res.Detection = append(r.Res.Detection, d)
	r.Env.logf("    %-11s N=%-3d trial %2d: first %7s ms, last %7s ms (%d/%d), rejoin %6s ms %s",
		d.Setup, d.N, trial, d.FirstMS.Fmt(0), d.LastMS.Fmt(0), d.Reported, d.Expected, d.RejoinMS.Fmt(0), d.Note)
}

// parallel runs fn for each cluster at once.
func parallel[T any](cs []*Cluster, fn func(*Cluster) T) []T {
	out := make([]T, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = fn(c) }()
	}
	wg.Wait()
	return out
}

func (r *Runner) footprint(fs ...Footprint) {
	for _, f := range fs {
		r.Res.Footprint = append(r.Res.Footprint, f)
		r.Env.logf("    %-11s N=%-3d %-5s RSS %s MiB/agent (max %s), CPU %s%% of a core/agent (max %s%%)%s",
			f.Setup, f.N, f.Mode, f.RSSMiB.Fmt(1), f.RSSMaxMiB.Fmt(1), f.CPUPct.Fmt(2), f.CPUMaxPct.Fmt(2),
			map[bool]string{true: fmt.Sprintf(", %d cycles, %d failed-on-leave", f.Cycles, f.FailedOnLeave), false: ""}[f.Mode == "churn"])
	}
}

// Run runs every phase of the plan (Config.Plan) in its order, each
// timed into Results.Budget, and records the theory for the sizes
// measured.
func (r *Runner) Run() {
	r.plan = r.Cfg.Plan()
	r.Res.Budget = r.plan
	r.next = 0

	r.runPhase("hook", r.measureHookDispatch)
	for ni, n := range r.Cfg.Ns {
		r.runPhase("pair", func() { r.comparePair(n, ni) })
		r.runPhase("fast", func() { r.measureFast(n) })
	}
	r.runPhase("http", r.loadHTTPAPI)
	for si, n := range r.Cfg.ScaleNs {
		for _, s := range r.Cfg.scaleOrder(si) {
			r.runPhase("scale", func() { r.measureScaleAlone(s, n) })
		}
	}
	if !r.Cfg.skip("scale") {
		for _, st := range LargestStable(r.Res) {
			r.Env.logf("    %s alone: largest stable N %d (sizes %v, false failures %v; -1: did not start)", st.Setup, st.Largest, st.Sizes, st.FalseFailures)
		}
	}
	r.phase = "end"
	r.sampleLoad()
	r.Res.Theory = theoryOf(r.Res.Detection)
}

// runPhase runs fn as the plan's next phase, timed into its Budget row
// with the load sampled at its start, or skips it when kind (hook, pair,
// fast, http, scale) is in Config.Skip.
func (r *Runner) runPhase(kind string, fn func()) {
	i := r.next
	r.next++
	if r.Cfg.skip(kind) {
		return
	}
	r.phase = r.plan[i].Phase
	r.sampleLoad()
	r.Env.logf("== %s (planned %s s)", r.phase, r.plan[i].PlannedS.Fmt(0))
	t0 := time.Now()
	fn()
	r.Res.Budget[i].ActualS = Num(math.Round(time.Since(t0).Seconds()))
	r.Env.logf("   done in %.0f s", time.Since(t0).Seconds())
}

// measureHookDispatch measures hook dispatch in-process: a built-in hook
// (10 times the samples), a command run directly and one through the
// shell.
func (r *Runner) measureHookDispatch() {
	for _, k := range []string{"builtin", "argv", "shell"} {
		n := r.Cfg.HookSamples
		if k == "builtin" {
			n *= 10
		}
		h := MeasureHookLatency(k, n)
		r.Res.Hook = append(r.Res.Hook, h)
		r.Env.logf("    %s", h)
	}
}

// comparePair is the comparison phase at size n (the ni-th): vigil's and
// serf agent's clusters up side by side, their idle footprint in one
// window, detection trials alternating between them, churn, and at
// Config.HTTPN serf agent's RPC members call as the HTTP API's reference.
func (r *Runner) comparePair(n, ni int) {
	pv, ps := r.Cfg.pairSetups()
	byName := map[string]*Cluster{}
	var cs []*Cluster
	for _, s := range alternate([]Setup{pv, ps}, ni) {
		if c := r.start(ClusterOptions{Setup: s, N: n}); c != nil {
			byName[s.Name()] = c
			cs = append(cs, c)
		}
	}
	defer func() {
		for _, c := range cs {
			r.stop(c, 0)
		}
	}()
	time.Sleep(r.Cfg.idleSettle())
	r.footprint(parallel(cs, func(c *Cluster) Footprint { return c.Idle(r.Cfg.IdleWindow) })...)
	r.sampleLoad()
	for t := range r.Cfg.Trials {
		for _, c := range alternate(cs, t) {
			r.detect(c, t)
		}
	}
	r.sampleLoad()
	r.footprint(parallel(cs, func(c *Cluster) Footprint {
		return c.Churn(r.Cfg.ChurnWindow, r.Cfg.ChurnPeriod, min(r.Cfg.RejoinTimeout, 30*time.Second))
	})...)
	if n == r.Cfg.HTTPN && byName[ps.Name()] != nil {
		// serf's RPC members call, for reference, with the vigil
		// cluster already stopped.
		if v := byName[pv.Name()]; v != nil {
			r.stop(v, 0)
			cs = []*Cluster{byName[ps.Name()]}
		}
		s := byName[ps.Name()]
		lr := LoadSerfRPC("serf RPC members", "127.0.0.1:"+strconv.Itoa(s.Agents[0].APIPort), n, r.Cfg.HTTPConc, r.Cfg.HTTPDuration)
		r.Res.HTTP = append(r.Res.HTTP, lr)
		r.logLoad(lr)
	}
}

// measureFast is vigil-fast's phase at size n: idle footprint, detection
// trials, and at Config.FastLongN the quiet window in which false
// failures are counted.
func (r *Runner) measureFast(n int) {
	c := r.start(ClusterOptions{Setup: vigilFast, N: n})
	if c == nil {
		return
	}
	quiet := time.Duration(0)
	defer func() { r.stop(c, quiet) }()
	time.Sleep(r.Cfg.idleSettle())
	r.footprint(c.Idle(r.Cfg.IdleWindow))
	for t := range r.Cfg.fastTrials(n) {
		r.detect(c, t)
	}
	if n == r.Cfg.FastLongN {
		r.quietWindow(r.Cfg.FastLongWindow)
		quiet = r.Cfg.FastLongWindow
	}
}

// quietWindow lets a cluster run for d with nothing happening, in which
// its false failures are counted.
func (r *Runner) quietWindow(d time.Duration) {
	r.Env.logf("    quiet window %s: counting false failures", d)
	r.sampleLoad()
	time.Sleep(d)
	r.sampleLoad()
}

// loadHTTPAPI loads the HTTP API of one agent of a vigil-fast cluster of
// Config.HTTPN whose agents check a TCP service the harness listens for.
func (r *Runner) loadHTTPAPI() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.note("HTTP load: no service listener: %v", err)
		return
	}
	defer ln.Close()
	clustertest.AcceptAndClose(ln)
	port := ln.Addr().(*net.TCPAddr).Port
	// The fast profile only so the cluster converges in a second (the
	// API's work does not depend on the timing profile).
	c := r.start(ClusterOptions{Setup: vigilFast, N: r.Cfg.HTTPN, ServicePort: port})
	if c == nil {
		return
	}
	defer r.stop(c, 0)
	// Wait for the TCP check to pass everywhere (first check at start).
	time.Sleep(2 * time.Second)
	api := "http://127.0.0.1:" + strconv.Itoa(c.Agents[0].APIPort)
	for _, ep := range []string{"/v1/members", "/v1/health/service/web"} {
		lr := LoadHTTP("vigil GET "+ep, api+ep, r.Cfg.HTTPN, r.Cfg.HTTPConc, r.Cfg.HTTPDuration)
		r.Res.HTTP = append(r.Res.HTTP, lr)
		r.logLoad(lr)
	}
}

// measureScaleAlone is the scale phase of setup s at size n, its cluster
// alone on the machine: idle footprint, the quiet window, then detection
// trials.
func (r *Runner) measureScaleAlone(s Setup, n int) {
	c := r.start(ClusterOptions{Setup: s, N: n})
	if c == nil {
		return
	}
	defer func() { r.stop(c, r.Cfg.ScaleWindow) }()
	time.Sleep(r.Cfg.idleSettle())
	r.footprint(c.Idle(r.Cfg.IdleWindow))
	r.quietWindow(r.Cfg.ScaleWindow)
	for t := range r.Cfg.ScaleTrials {
		r.detect(c, t)
	}
}

// alternate returns xs in order for an even round and reversed for an odd
// one, so that neither side of a comparison always goes first.
func alternate[T any](xs []T, round int) []T {
	out := slices.Clone(xs)
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// theoryOf is memberlist's theory for each profile and size the trials
// measured, in the order they were first measured.
func theoryOf(trials []DetectTrial) []Theory {
	var out []Theory
	seen := map[string]bool{}
	for _, d := range trials {
		_, p, _ := strings.Cut(d.Setup, "-")
		k := fmt.Sprint(p, d.N)
		if !seen[k] {
			seen[k] = true
			out = append(out, TheoryFor(p, d.N))
		}
	}
	return out
}

func (r *Runner) logLoad(l LoadResult) {
	r.Env.logf("    %-34s N=%d c=%d: %s req/s, p50 %s ms, p99 %s ms, %d errors, %d B/response",
		l.Target, l.N, l.Concurrency, l.RPS.Fmt(0), l.P50MS.Fmt(3), l.P99MS.Fmt(3), l.Errors, l.BodyBytes)
}
