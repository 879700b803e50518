package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// JoinStyle is how the agents of a join-only run join the seed.
type JoinStyle string

// The join styles.
const (
	// JoinStart: the seed starts first; when its API answers, the other
	// N−1 start at once, each told the seed on its command line (vigil
	// -join, serf -retry-join -retry-interval 1s). Timed from the seed's
	// launch.
	JoinStart JoinStyle = "start"
	// JoinCLI: all N start alone (no join); when every API answers, the
	// other N−1 are told at once to join the seed through their API, as
	// `vigil join SEED` (POST /v1/join, with the token the agent keeps
	// in its runtime directory) and `serf join -rpc-addr API SEED` (the
	// RPC's join) do it. Timed from the join requests.
	JoinCLI JoinStyle = "cli"
)

// ParseJoinStyles parses a comma-separated list of join styles ("start",
// "cli"); an empty list is JoinStart alone.
func ParseJoinStyles(s string) ([]JoinStyle, error) {
	if strings.TrimSpace(s) == "" {
		return []JoinStyle{JoinStart}, nil
	}
	var out []JoinStyle
	for f := range strings.SplitSeq(s, ",") {
		st := JoinStyle(strings.TrimSpace(f))
		if st != JoinStart && st != JoinCLI {
			return nil, fmt.Errorf("join style %q: want start or cli", f)
		}
		if slices.Contains(out, st) {
			return nil, fmt.Errorf("join style %q given twice", st)
		}
		out = append(out, st)
	}
	return out, nil
}

// JoinRun is one run of the join-only measurement (vigil-bench
// -join-only): a cluster joined in one JoinStyle, then one agent's
// graceful leave and restart under its name, and optionally a churn of
// JoinChurn such restarts.
type JoinRun struct {
	Setup string    `json:"setup"`
	Style JoinStyle `json:"style"`
	N     int       `json:"n"`
	Run   int       `json:"run"`
	// ConvergedMS is the first agent's launch (JoinStart) or the join
	// requests (JoinCLI) → every agent sees N alive; not a number when
	// the cluster did not converge within the timeout (Note names the
	// agents short of N).
	ConvergedMS Num    `json:"converged_ms"`
	Note        string `json:"note,omitempty"`
	// Last is the agent that saw all N alive last.
	Last string `json:"last,omitempty"`
	// RejoinMS is the restarted agent's launch → every agent sees N alive
	// again, after the agent left gracefully (SIGINT) and was started
	// again under its name (and, in JoinCLI, told to join the seed once
	// its API answered); not a number when that did not happen within
	// the timeout (RejoinNote says who lagged).
	RejoinMS   Num    `json:"rejoin_ms"`
	RejoinNote string `json:"rejoin_note,omitempty"`
	// RejoinLast is the agent that saw the restarted one alive last.
	RejoinLast string `json:"rejoin_last,omitempty"`
	// ChurnMS is the last of JoinChurn agents' launch → every agent sees
	// N alive again, after JoinChurn agents left gracefully and started
	// again one after the other, JoinChurnPeriod apart (the churn
	// benchmark's pattern); not a number when that did not happen within
	// the timeout (ChurnNote says who lagged) or when the churn was not
	// run.
	ChurnMS   Num    `json:"churn_ms"`
	ChurnNote string `json:"churn_note,omitempty"`
}

// JoinTarget is issue 13's bound on a join convergence and a rejoin: a
// run's agent logs are kept when it missed it (or always, with
// JoinOptions.Keep), and JoinSummary counts the runs within it.
const JoinTarget = 5 * time.Second

// within reports whether ms was measured and is at most d.
func within(ms Num, d time.Duration) bool {
	return ms.OK() && float64(ms) <= float64(d.Milliseconds())
}

// JoinSummary is the runs of one setup, style and size.
type JoinSummary struct {
	Setup string
	Style JoinStyle
	N     int
	Runs  int
	// Converged and Rejoined count the runs whose convergence and rejoin
	// took at most the summary's limit.
	Converged, Rejoined int
	// ConvergedS and RejoinS are each run's figures in seconds, in run
	// order (NaN: not within the run's timeout).
	ConvergedS, RejoinS []Num
}

// SummarizeJoin groups runs by setup, style and size, in the order each
// group first appears, and counts the runs within limit.
func SummarizeJoin(runs []JoinRun, limit time.Duration) []JoinSummary {
	var out []JoinSummary
	idx := map[string]int{}
	for _, r := range runs {
		key := fmt.Sprintf("%s/%s/%d", r.Setup, r.Style, r.N)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, JoinSummary{Setup: r.Setup, Style: r.Style, N: r.N})
		}
		s := &out[i]
		s.Runs++
		s.ConvergedS = append(s.ConvergedS, r.ConvergedMS/1000)
		s.RejoinS = append(s.RejoinS, r.RejoinMS/1000)
		if within(r.ConvergedMS, limit) {
			s.Converged++
		}
		if within(r.RejoinMS, limit) {
			s.Rejoined++
		}
	}
	return out
}

// JoinTable renders summaries as a Markdown table: per setup, style and
// size the runs within limit and each run's figures (– where a run did
// not converge or rejoin within its timeout).
func JoinTable(sums []JoinSummary, limit time.Duration) string {
	var b strings.Builder
	lim := strconv.FormatFloat(limit.Seconds(), 'f', -1, 64)
	fmt.Fprintf(&b, "| Setup | Join | N | Runs | Converged within %s s | Rejoined within %s s | Converged (s), each run | Rejoin (s), each run |\n", lim, lim)
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %s |\n", s.Setup, s.Style, s.N, s.Runs, s.Converged, s.Rejoined,
			joinFigures(s.ConvergedS), joinFigures(s.RejoinS))
	}
	return b.String()
}

func joinFigures(xs []Num) string {
	f := make([]string, len(xs))
	for i, x := range xs {
		f[i] = x.Fmt(2)
	}
	return strings.Join(f, " ")
}

// The churn after the rejoin: JoinChurn agents, JoinChurnPeriod apart.
const (
	JoinChurn       = 3
	JoinChurnPeriod = 5 * time.Second
)

// restart stops a gracefully (SIGINT; SIGKILL after 20 s) and starts it
// again under its name; it returns the launch time. In JoinCLI it then
// waits for the agent's API and tells it to join the seed.
func (a *Agent) restart(style JoinStyle, timeout time.Duration) (time.Time, error) {
	a.signal(syscall.SIGINT)
	if !a.waitExit(20 * time.Second) {
		a.signal(syscall.SIGKILL)
		a.waitExit(5 * time.Second)
	}
	t0 := time.Now()
	if err := a.start(); err != nil {
		return t0, err
	}
	if style != JoinCLI {
		return t0, nil
	}
	if err := a.waitReady(timeout); err != nil {
		return t0, err
	}
	return t0, a.joinAPI(a.c.seedAddr(), timeout)
}

// seedAddr is the seed's gossip address.
func (c *Cluster) seedAddr() string { return "127.0.0.1:" + strconv.Itoa(c.Agents[0].GossipPort) }

// joinAPI tells the agent to join addr through its API, as `vigil join
// -http-addr API ADDR` and `serf join -rpc-addr API ADDR` do, and waits for
// the answer (at most timeout).
func (a *Agent) joinAPI(addr string, timeout time.Duration) error {
	api := "127.0.0.1:" + strconv.Itoa(a.APIPort)
	if a.c.Opt.Setup.Kind == Serf {
		rpc, err := dialSerf(api, timeout)
		if err != nil {
			return fmt.Errorf("%s: serf join: %w", a.Name, err)
		}
		defer rpc.close()
		var resp struct{ Num int32 }
		if err := rpc.call("join", struct {
			Existing []string
			Replay   bool
		}{Existing: []string{addr}}, &resp); err != nil {
			return fmt.Errorf("%s: serf join: %w", a.Name, err)
		}
		if resp.Num < 1 {
			return fmt.Errorf("%s: serf join %s: joined %d", a.Name, addr, resp.Num)
		}
		return nil
	}
	body, _ := json.Marshal(map[string][]string{"addrs": {addr}})
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/v1/join", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// The token an agent without http_token keeps for the vigil commands
	// (agent.RuntimeTokenPath in the cluster's VIGIL_RUNTIME_DIR).
	if b, err := os.ReadFile(filepath.Join(a.c.runDir(), "http-token-"+strconv.Itoa(a.APIPort))); err == nil {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("%s: vigil join: %w", a.Name, err)
	}
	defer resp.Body.Close()
	var out struct {
		Joined int    `json:"joined"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: vigil join: %s %s", a.Name, resp.Status, out.Error)
	}
	if out.Joined < 1 {
		return fmt.Errorf("%s: vigil join %s: joined %d", a.Name, addr, out.Joined)
	}
	return nil
}

// joinAll tells every agent but the seed, at once, to join the seed
// through its API; it returns when the requests were sent (the time the
// convergence is measured from) and waits for their answers on done.
func (c *Cluster) joinAll(timeout time.Duration) (time.Time, <-chan error) {
	done := make(chan error, 1)
	errs := make(chan error, len(c.Agents))
	t0 := time.Now()
	for _, a := range c.Agents[1:] {
		go func() { errs <- a.joinAPI(c.seedAddr(), timeout) }()
	}
	go func() {
		var all []error
		for range c.Agents[1:] {
			if err := <-errs; err != nil {
				all = append(all, err)
			}
		}
		done <- errors.Join(all...)
	}()
	return t0, done
}

// ParseSetup parses a setup name such as "vigil-lan" or "serf-local".
func ParseSetup(s string) (Setup, error) {
	kind, profile, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok || (Kind(kind) != Vigil && Kind(kind) != Serf) || profile == "" {
		return Setup{}, fmt.Errorf("setup %q: want vigil-PROFILE or serf-PROFILE", s)
	}
	return Setup{Kind: Kind(kind), Profile: profile}, nil
}

// JoinOptions are the knobs of MeasureJoin.
type JoinOptions struct {
	Style JoinStyle
	N     int
	Runs  int
	// Timeout bounds each convergence, rejoin and churn.
	Timeout time.Duration
	// Churn runs the churn after the rejoin.
	Churn bool
	// Keep leaves each run's agent logs in the scratch directory.
	Keep bool
	// LogLevel is the agents' -log-level ("" is warn; debug to see each
	// join and round of anti-entropy).
	LogLevel string
}

// MeasureJoin starts a cluster of setup with o.N agents o.Runs times, one
// cluster at a time, joined in o.Style, and measures its join
// convergence, one rejoin after a graceful leave and (o.Churn) a churn,
// each bounded by o.Timeout.
func (e *Env) MeasureJoin(setup Setup, o JoinOptions) []JoinRun {
	var out []JoinRun
	n := o.N
	for run := 1; run <= o.Runs; run++ {
		jr := JoinRun{Setup: setup.Name(), Style: o.Style, N: n, Run: run, ConvergedMS: nan, RejoinMS: nan, ChurnMS: nan}
		tag := fmt.Sprintf("%s %s N=%d run %d", setup.Name(), o.Style, n, run)
		c, conv, err := e.StartCluster(ClusterOptions{Setup: setup, N: n, Alone: o.Style == JoinCLI, NoWait: true, LogLevel: o.LogLevel}, o.Timeout)
		if err == nil {
			t0, joined := c.Started, (<-chan error)(nil)
			if o.Style == JoinCLI {
				t0, joined = c.joinAll(o.Timeout)
			}
			conv, jr.Last, err = c.waitAllAlive(t0, o.Timeout, false)
			if joined != nil {
				if jerr := <-joined; jerr != nil {
					e.logf("    %s: join requests: %v", tag, jerr)
					jr.Note = jerr.Error()
				}
			}
			if err != nil {
				c.Stop()
			}
		}
		if err != nil {
			jr.Note = strings.TrimSpace(jr.Note + " " + err.Error())
			e.logf("    %s: %v", tag, err)
			out = append(out, jr)
			continue
		}
		jr.ConvergedMS = Num(float64(conv.Microseconds()) / 1000)
		e.logf("    %s: converged in %.2f s (last: %s)", tag, conv.Seconds(), jr.Last)
		// A settled cluster first: the rejoin is measured alone.
		time.Sleep(2 * time.Second)
		v := c.Agents[n/2]
		if t0, err := v.restart(o.Style, o.Timeout); err != nil {
			jr.RejoinNote = err.Error()
			e.logf("    %s: rejoin: %v", tag, err)
		} else if d, last, err := c.waitAllAlive(t0, o.Timeout, false); err != nil {
			jr.RejoinNote = err.Error()
			e.logf("    %s: rejoin: %v", tag, err)
		} else {
			jr.RejoinMS, jr.RejoinLast = Num(float64(d.Microseconds())/1000), last
			e.logf("    %s: %s rejoined (alive in every view) in %.2f s (last: %s)", tag, v.Name, d.Seconds(), last)
		}
		if o.Churn {
			e.churn(c, &jr, o.Timeout)
		}
		c.Stop()
		if !o.Keep && within(jr.ConvergedMS, JoinTarget) && within(jr.RejoinMS, JoinTarget) {
			_ = os.RemoveAll(c.dir)
		}
		out = append(out, jr)
	}
	return out
}

// churn restarts JoinChurn agents after the rejoin's, JoinChurnPeriod
// apart, and records when every agent sees N alive again.
func (e *Env) churn(c *Cluster, jr *JoinRun, timeout time.Duration) {
	n := len(c.Agents)
	if n < JoinChurn+3 {
		return
	}
	start := time.Now()
	var last time.Time
	for k := range JoinChurn {
		time.Sleep(time.Until(start.Add(time.Duration(k) * JoinChurnPeriod)))
		v := c.Agents[1+(n/2+1+k)%(n-1)]
		t0, err := v.restart(jr.Style, timeout)
		if err != nil {
			jr.ChurnNote = err.Error()
			return
		}
		last = t0
	}
	d, err := c.WaitConverged(last, timeout)
	if err != nil {
		jr.ChurnNote = err.Error()
		e.logf("    %s N=%d run %d: churn: %v", jr.Setup, n, jr.Run, err)
		return
	}
	jr.ChurnMS = Num(float64(d.Microseconds()) / 1000)
	e.logf("    %s N=%d run %d: %d agents restarted %s apart, all alive everywhere %.2f s after the last launch", jr.Setup, n, jr.Run, JoinChurn, JoinChurnPeriod, d.Seconds())
}
