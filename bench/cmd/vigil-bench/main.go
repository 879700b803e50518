// Command vigil-bench measures vigil against serf's own agent on loopback:
// failure detection to hook, join convergence, footprint idle and under
// churn, hook dispatch latency, the local HTTP API, and stability at
// scale. scripts/bench builds both agents and runs it; see
// docs/benchmarks.md for what each number means.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/bench"
)

// options are vigil-bench's flags.
type options struct {
	quick, joinChurn, joinKeep                                bool
	vigilBin, serfBin, outDir, doc, micro, goBench, scratch   string
	command, goVersion, ns, skip, report, pprofDir, pprofProf string
	joinOnly, joinStyle, joinLog                              string
	waitQuiet, fastWin, maxTime, pprofWin, joinWait           time.Duration
	trials, pprofN, joinRuns                                  int
	// Targeted runs of the comparison and scale phases.
	pairProf, scaleNs, scaleOnly string
	scaleWin                     time.Duration
	idleSettle, idleWin          time.Duration
	scaleTrials                  int
}

// parseFlags reads the command line into options.
func parseFlags() *options {
	o := &options{}
	flag.BoolVar(&o.quick, "quick", false, "short smoke run of every phase")
	flag.StringVar(&o.vigilBin, "vigil", "", "vigil binary (required)")
	flag.StringVar(&o.serfBin, "serf", "", "serf binary (required)")
	flag.StringVar(&o.outDir, "out", "", "directory for CSV, JSON and PNG output (required)")
	flag.StringVar(&o.doc, "doc", "", "Markdown report to write (optional)")
	flag.StringVar(&o.micro, "micro", "", "file with `go test -bench` output to include (optional)")
	flag.StringVar(&o.goBench, "go-bench", "", "run the microbenchmarks first with this -benchtime (e.g. 1s), from the current directory (the repository root), and include them")
	flag.StringVar(&o.scratch, "scratch", "", "scratch directory for agent logs (default: a new temp dir, removed at the end)")
	flag.DurationVar(&o.waitQuiet, "wait-quiet", 0, "before starting, wait up to this long (polling every 30 s) for the 1-minute load to drop below 1.0")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report")
	flag.StringVar(&o.goVersion, "go-version", runtime.Version(), "Go version to report")
	flag.IntVar(&o.trials, "trials", 0, "override detection trials per setup and N")
	flag.StringVar(&o.ns, "ns", "", "override the cluster sizes of the comparison and fast phases, comma-separated (e.g. 20); for targeted runs")
	flag.DurationVar(&o.fastWin, "fast-window", 0, "override the quiet window of vigil-fast in which false failures are counted (full run: 10m)")
	flag.StringVar(&o.skip, "skip", "", "comma-separated phases to skip (hook, pair, fast, http, scale); for debugging the harness")
	flag.DurationVar(&o.maxTime, "max-time", 0, "hard limit on the run; everything is killed past it (default 2h, 10m with -quick)")
	flag.StringVar(&o.report, "report", "", "only rewrite the CSV files, plots and -doc from this results.json (no measurement)")
	flag.StringVar(&o.pprofDir, "pprof", "", "instead of the benchmark: profile one in-process vigil agent in an idle cluster and write cpu/heap/allocs profiles to this directory")
	flag.IntVar(&o.pprofN, "pprof-n", 20, "cluster size for -pprof")
	flag.DurationVar(&o.pprofWin, "pprof-window", time.Minute, "CPU profile window for -pprof")
	flag.StringVar(&o.pprofProf, "pprof-profile", "local", "memberlist profile for -pprof")
	flag.StringVar(&o.joinOnly, "join-only", "", "instead of the benchmark: only join convergence, one graceful rejoin and a churn of 3 graceful rejoins 5 s apart, for these comma-separated setups (e.g. vigil-lan,vigil-local,serf-local), at the sizes of -ns (default 50), one cluster at a time; writes join.json to -out")
	flag.IntVar(&o.joinRuns, "join-runs", 3, "runs per setup and size for -join-only")
	flag.DurationVar(&o.joinWait, "join-timeout", 60*time.Second, "how long -join-only waits for a convergence or a rejoin")
	flag.StringVar(&o.joinStyle, "join-style", "start", "join styles for -join-only, comma-separated: start (the seed first, then N-1 agents at once with -join / serf -retry-join) and cli (N agents alone, then N-1 told at once to join the seed through their API, as `vigil join` and `serf join` do)")
	flag.StringVar(&o.joinLog, "join-log-level", "warn", "with -join-only, the agents' -log-level (debug shows each join and round of anti-entropy in the logs -scratch keeps)")
	flag.BoolVar(&o.joinKeep, "join-keep", false, "with -join-only and -scratch, keep the agent logs of every run (default: only of runs past 5 s)")
	flag.BoolVar(&o.joinChurn, "join-churn", true, "with -join-only, run the churn of 3 graceful rejoins 5 s apart after each rejoin (false: skip it, shorter runs)")
	flag.StringVar(&o.pairProf, "profile", "", "memberlist profile of the comparison phases' vigil and serf agent clusters (default local; e.g. lan)")
	flag.StringVar(&o.scaleNs, "scale-ns", "", "override the scale phase's sizes, comma-separated (full run: 100,150,200)")
	flag.DurationVar(&o.scaleWin, "scale-window", 0, "override the scale phase's quiet window (full run: 5m)")
	flag.DurationVar(&o.idleSettle, "idle-settle", 0, "override the pause between a cluster's convergence and its idle footprint window (full run: 30s)")
	flag.DurationVar(&o.idleWin, "idle-window", 0, "override the idle footprint window (full run: 30s)")
	flag.IntVar(&o.scaleTrials, "scale-trials", -1, "override the scale phase's detection trials per setup and size (full run: 3)")
	flag.StringVar(&o.scaleOnly, "scale-setups", "", "run only these of the scale phase's setups, comma-separated (e.g. vigil-local)")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	switch {
	case o.report != "":
		rewrite(o.report, o.outDir, o.doc, o.micro)
		return
	case o.pprofDir != "":
		profileVigil(o)
		return
	case o.joinOnly != "":
		os.Exit(runJoinOnly(o))
	}
	if o.vigilBin == "" || o.serfBin == "" || o.outDir == "" {
		fmt.Fprintln(os.Stderr, "usage: vigil-bench -vigil BIN -serf BIN -out DIR [-doc FILE] [-micro FILE] [-quick]")
		os.Exit(2)
	}
	cfg, err := o.config()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		os.Exit(2)
	}
	limit := o.hardLimit()
	dir, tempDir := o.scratch, false
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-bench-")
		if err != nil {
			fatal(err)
		}
		dir, tempDir = d, true
		defer os.RemoveAll(d)
	}
	env := &bench.Env{VigilBin: abs(o.vigilBin), SerfBin: abs(o.serfBin), Dir: dir, Logf: logf}
	killAgentsOnExit(env, limit, dir, tempDir)

	res := &bench.Results{
		Started:     time.Now().UTC().Format(time.RFC3339),
		Command:     o.command,
		Machine:     bench.DescribeMachine(o.goVersion),
		Config:      cfg,
		VigilCommit: strings.TrimSpace(os.Getenv("VIGIL_BENCH_COMMIT")),
		SerfVersion: "v0.11.0",
	}
	res.Quiet, res.QuietWaitS = waitForQuiet(o.waitQuiet, logf)
	micro := o.micro
	if o.goBench != "" {
		micro = runGoBench(o.goBench, o.outDir, res)
	}
	total := logBudget(cfg.Plan(), limit)

	r := &bench.Runner{Env: env, Cfg: cfg, Res: res}
	t0 := time.Now()
	r.Run()
	env.KillAll()
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	logf("measurements done in %.1f min (planned %.1f)", time.Since(t0).Minutes(), total/60)

	if micro != "" {
		if b, err := os.ReadFile(micro); err == nil {
			res.Micro = bench.ParseMicro(string(b))
		} else {
			res.Notes = append(res.Notes, "microbenchmarks: "+err.Error())
		}
	}
	writeResults(res, o.outDir, o.doc)
}

// config is the run's configuration: the full run's or -quick's, with
// the flags of a targeted run applied.
func (o *options) config() (bench.Config, error) {
	cfg := bench.FullConfig()
	if o.quick {
		cfg = bench.QuickConfig()
	}
	if o.trials > 0 {
		cfg.Trials, cfg.FastTrials = o.trials, o.trials
	}
	if o.ns != "" {
		ns, err := parseSizes("-ns", o.ns, 2)
		if err != nil {
			return cfg, err
		}
		cfg.Ns = ns
		if !slices.Contains(cfg.Ns, cfg.FastLongN) {
			cfg.FastLongN = cfg.Ns[len(cfg.Ns)-1]
		}
	}
	if o.fastWin > 0 {
		cfg.FastLongWindow = o.fastWin
	}
	if o.skip != "" {
		cfg.Skip = strings.Split(o.skip, ",")
	}
	if o.pairProf != "" {
		cfg.Profile = o.pairProf
	}
	if o.scaleNs != "" {
		ns, err := parseSizes("-scale-ns", o.scaleNs, 2)
		if err != nil {
			return cfg, err
		}
		cfg.ScaleNs = ns
	}
	if o.scaleWin > 0 {
		cfg.ScaleWindow = o.scaleWin
	}
	if o.idleSettle > 0 {
		cfg.IdleSettle = o.idleSettle
	}
	if o.idleWin > 0 {
		cfg.IdleWindow = o.idleWin
	}
	if o.scaleTrials >= 0 {
		cfg.ScaleTrials = o.scaleTrials
	}
	if o.scaleOnly != "" {
		cfg.ScaleOnly = strings.Split(o.scaleOnly, ",")
	}
	return cfg, nil
}

// hardLimit is -max-time, or 2 h (the full run's plan is about 95
// minutes), 10 minutes with -quick.
func (o *options) hardLimit() time.Duration {
	switch {
	case o.maxTime != 0:
		return o.maxTime
	case o.quick:
		return 10 * time.Minute
	}
	return 2 * time.Hour
}

// parseSizes parses a flag's comma-separated cluster sizes, each at least
// least.
func parseSizes(flagName, value string, least int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(value, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("%s %q: want cluster sizes of at least %d", flagName, value, least)
		}
		out = append(out, n)
	}
	return out, nil
}

// logf prints a progress line with the time of day.
func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// killAgentsOnExit makes sure no agent outlives the harness: a signal or
// the hard limit kills every agent it started (by PID), removes a
// temporary scratch directory and exits 1. (Each agent also has SIGKILL
// as its parent-death signal.)
func killAgentsOnExit(env *bench.Env, limit time.Duration, dir string, tempDir bool) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			logf("got %s: killing every agent", s)
		case <-time.After(limit):
			logf("hard limit %s reached: killing every agent", limit)
		}
		env.KillAll()
		if tempDir {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}()
}

// runGoBench runs the microbenchmarks with this -benchtime into
// outDir/micro.txt and returns its path; a failure is a note of the run.
func runGoBench(benchtime, outDir string, res *bench.Results) string {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fatal(err)
	}
	p := filepath.Join(outDir, "micro.txt")
	logf("== microbenchmarks: go test -bench, -benchtime %s (output in %s)", benchtime, p)
	t0 := time.Now()
	if err := bench.RunMicro(benchtime, p, 5*time.Minute); err != nil {
		res.Notes = append(res.Notes, "microbenchmarks: "+err.Error())
		logf("   microbenchmarks failed: %v", err)
	}
	logf("   done in %.0f s", time.Since(t0).Seconds())
	return p
}

// logBudget prints the plan's phases with their estimated lengths and
// returns the total in seconds.
func logBudget(plan []bench.Budget, limit time.Duration) float64 {
	total := 0.0
	logf("budget (estimated):")
	for _, p := range plan {
		logf("  %6.0f s  %s", float64(p.PlannedS), p.Phase)
		total += float64(p.PlannedS)
	}
	logf("  %6.0f s  total (%.1f min), hard limit %s", total, total/60, limit)
	return total
}

// writeResults writes results.json, the CSV files, the plots and the
// report.
func writeResults(res *bench.Results, outDir, doc string) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(outDir, "results.json"), append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	files, err := bench.WriteOutputs(res, outDir, doc)
	if err != nil {
		fatal(err)
	}
	logf("wrote %s", filepath.Join(outDir, "results.json"))
	for _, f := range files {
		logf("wrote %s", f)
	}
}

// profileVigil is -pprof: one in-process vigil agent profiled in an idle
// cluster.
func profileVigil(o *options) {
	if o.vigilBin == "" {
		fatal(fmt.Errorf("-pprof needs -vigil"))
	}
	dir, err := os.MkdirTemp("", "vigil-pprof-")
	if err != nil {
		fatal(err)
	}
	env := &bench.Env{VigilBin: abs(o.vigilBin), Dir: dir, Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }}
	err = env.ProfileVigil(o.pprofN, o.pprofProf, o.pprofWin, o.pprofDir)
	env.KillAll()
	os.RemoveAll(dir)
	if err != nil {
		fatal(err)
	}
	fmt.Println("profiles in", o.pprofDir)
}

// rewrite regenerates the outputs from a results.json.
func rewrite(path, outDir, doc, micro string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(b, &res); err != nil {
		fatal(err)
	}
	if outDir == "" {
		outDir = filepath.Dir(path)
	}
	if micro != "" {
		if mb, err := os.ReadFile(micro); err == nil {
			res.Micro = bench.ParseMicro(string(mb))
		}
	}
	files, err := bench.WriteOutputs(&res, outDir, doc)
	if err != nil {
		fatal(err)
	}
	for _, f := range files {
		fmt.Println("wrote", f)
	}
}

// waitForQuiet polls the 1-minute load every 30 s until it is below 1.0 or
// max has passed; it reports whether it got quiet and how long it waited.
func waitForQuiet(max time.Duration, logf func(string, ...any)) (bool, bench.Num) {
	t0 := time.Now()
	for {
		l, err := bench.LoadAvg()
		if err != nil {
			return false, 0
		}
		if l[0] < 1.0 {
			logf("load %.2f %.2f %.2f: quiet enough", l[0], l[1], l[2])
			return true, bench.Num(time.Since(t0).Seconds())
		}
		if time.Since(t0)+30*time.Second > max {
			if max > 0 {
				logf("load %.2f %.2f %.2f: still busy after %s; running anyway (numbers taken under load)", l[0], l[1], l[2], time.Since(t0).Round(time.Second))
			} else {
				logf("load %.2f %.2f %.2f (not waiting for a quiet machine)", l[0], l[1], l[2])
			}
			return false, bench.Num(time.Since(t0).Seconds())
		}
		logf("load %.2f %.2f %.2f: waiting for < 1.0 (up to %s more)", l[0], l[1], l[2], (max - time.Since(t0)).Round(time.Second))
		time.Sleep(30 * time.Second)
	}
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "vigil-bench:", err)
	os.Exit(1)
}

// runJoinOnly runs the join-only measurement (-join-only) and returns the
// exit status.
func runJoinOnly(o *options) int {
	if o.outDir == "" {
		fmt.Fprintln(os.Stderr, "vigil-bench: -join-only needs -out")
		return 2
	}
	sizes, list, joinStyles, err := o.joinPlan()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		return 2
	}
	// Without -scratch a temp dir, removed at the end; with it, the logs
	// of every run that missed bench.JoinTarget stay there.
	dir := o.scratch
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vigil-bench-join-"); err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	env := &bench.Env{Dir: dir, Logf: logf}
	if o.vigilBin != "" {
		env.VigilBin = abs(o.vigilBin)
	}
	if o.serfBin != "" {
		env.SerfBin = abs(o.serfBin)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("got %s: killing every agent", s)
		env.KillAll()
		if o.scratch == "" {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}()
	var all []bench.JoinRun
	for _, n := range sizes {
		for _, st := range joinStyles {
			for _, s := range list {
				all = append(all, env.MeasureJoin(s, bench.JoinOptions{Style: st, N: n, Runs: o.joinRuns, Timeout: o.joinWait, Churn: o.joinChurn, Keep: o.joinKeep && o.scratch != "", LogLevel: o.joinLog})...)
			}
		}
	}
	env.KillAll()
	printJoinRuns(all)
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fatal(err)
	}
	b, _ := json.MarshalIndent(all, "", "  ")
	if err := os.WriteFile(filepath.Join(o.outDir, "join.json"), append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	return 0
}

// joinPlan is what -join-only measures: the sizes of -ns (50 by default),
// the setups of -join-only, each with its binary given, and the join
// styles of -join-style.
func (o *options) joinPlan() (sizes []int, setups []bench.Setup, styles []bench.JoinStyle, err error) {
	sizes = []int{50}
	if o.ns != "" {
		if sizes, err = parseSizes("-ns", o.ns, 3); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, name := range strings.Split(o.joinOnly, ",") {
		s, err := bench.ParseSetup(name)
		if err != nil {
			return nil, nil, nil, err
		}
		if (s.Kind == bench.Vigil && o.vigilBin == "") || (s.Kind == bench.Serf && o.serfBin == "") {
			return nil, nil, nil, fmt.Errorf("%s needs -%s", s.Name(), s.Kind)
		}
		setups = append(setups, s)
	}
	if styles, err = bench.ParseJoinStyles(o.joinStyle); err != nil {
		return nil, nil, nil, fmt.Errorf("-join-style: %w", err)
	}
	return sizes, setups, styles, nil
}

// printJoinRuns prints every join run, then the summary per setup, style
// and size.
func printJoinRuns(all []bench.JoinRun) {
	fmt.Println("| Setup | Join | N | Run | Converged (s) | Last | Rejoin (s) | Last | Churn (s) | Note |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Printf("| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", r.Setup, r.Style, r.N, r.Run, (r.ConvergedMS / 1000).Fmt(2), r.Last,
			(r.RejoinMS / 1000).Fmt(2), r.RejoinLast, (r.ChurnMS / 1000).Fmt(2), strings.TrimSpace(r.Note+" "+r.RejoinNote+" "+r.ChurnNote))
	}
	fmt.Println()
	fmt.Print(bench.JoinTable(bench.SummarizeJoin(all, bench.JoinTarget), bench.JoinTarget))
}
