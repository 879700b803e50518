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

func main() {
	var (
		quick     = flag.Bool("quick", false, "short smoke run of every phase")
		vigilBin  = flag.String("vigil", "", "vigil binary (required)")
		serfBin   = flag.String("serf", "", "serf binary (required)")
		outDir    = flag.String("out", "", "directory for CSV, JSON and PNG output (required)")
		doc       = flag.String("doc", "", "Markdown report to write (optional)")
		micro     = flag.String("micro", "", "file with `go test -bench` output to include (optional)")
		goBench   = flag.String("go-bench", "", "run the microbenchmarks first with this -benchtime (e.g. 1s), from the current directory (the repository root), and include them")
		scratch   = flag.String("scratch", "", "scratch directory for agent logs (default: a new temp dir, removed at the end)")
		waitQuiet = flag.Duration("wait-quiet", 0, "before starting, wait up to this long (polling every 30 s) for the 1-minute load to drop below 1.0")
		command   = flag.String("command", "", "the command line to show in the report")
		goVersion = flag.String("go-version", runtime.Version(), "Go version to report")
		trials    = flag.Int("trials", 0, "override detection trials per setup and N")
		ns        = flag.String("ns", "", "override the cluster sizes of the comparison and fast phases, comma-separated (e.g. 20); for targeted runs")
		fastWin   = flag.Duration("fast-window", 0, "override the quiet window of vigil-fast in which false failures are counted (full run: 10m)")
		skip      = flag.String("skip", "", "comma-separated phases to skip (hook, pair, fast, http, scale); for debugging the harness")
		maxTime   = flag.Duration("max-time", 0, "hard limit on the run; everything is killed past it (default 2h, 10m with -quick)")
		report    = flag.String("report", "", "only rewrite the CSV files, plots and -doc from this results.json (no measurement)")
		pprofDir  = flag.String("pprof", "", "instead of the benchmark: profile one in-process vigil agent in an idle cluster and write cpu/heap/allocs profiles to this directory")
		pprofN    = flag.Int("pprof-n", 20, "cluster size for -pprof")
		pprofWin  = flag.Duration("pprof-window", time.Minute, "CPU profile window for -pprof")
		pprofProf = flag.String("pprof-profile", "local", "memberlist profile for -pprof")
		joinOnly  = flag.String("join-only", "", "instead of the benchmark: only join convergence, one graceful rejoin and a churn of 3 graceful rejoins 5 s apart, for these comma-separated setups (e.g. vigil-lan,vigil-local,serf-local), at the sizes of -ns (default 50), one cluster at a time; writes join.json to -out")
		joinRuns  = flag.Int("join-runs", 3, "runs per setup and size for -join-only")
		joinWait  = flag.Duration("join-timeout", 60*time.Second, "how long -join-only waits for a convergence or a rejoin")
		joinStyle = flag.String("join-style", "start", "join styles for -join-only, comma-separated: start (the seed first, then N-1 agents at once with -join / serf -retry-join) and cli (N agents alone, then N-1 told at once to join the seed through their API, as `vigil join` and `serf join` do)")
		joinLog   = flag.String("join-log-level", "warn", "with -join-only, the agents' -log-level (debug shows each join and round of anti-entropy in the logs -scratch keeps)")
		joinKeep  = flag.Bool("join-keep", false, "with -join-only and -scratch, keep the agent logs of every run (default: only of runs past 5 s)")
		joinChurn = flag.Bool("join-churn", true, "with -join-only, run the churn of 3 graceful rejoins 5 s apart after each rejoin (false: skip it, shorter runs)")
	)
	// Targeted runs of the comparison and scale phases.
	var (
		pairProf    = flag.String("profile", "", "memberlist profile of the comparison phases' vigil and serf agent clusters (default local; e.g. lan)")
		scaleNs     = flag.String("scale-ns", "", "override the scale phase's sizes, comma-separated (full run: 100,150,200)")
		scaleWin    = flag.Duration("scale-window", 0, "override the scale phase's quiet window (full run: 5m)")
		scaleTrials = flag.Int("scale-trials", -1, "override the scale phase's detection trials per setup and size (full run: 3)")
		scaleOnly   = flag.String("scale-setups", "", "run only these of the scale phase's setups, comma-separated (e.g. vigil-local)")
	)
	flag.Parse()
	if *report != "" {
		rewrite(*report, *outDir, *doc, *micro)
		return
	}
	if *pprofDir != "" {
		if *vigilBin == "" {
			fatal(fmt.Errorf("-pprof needs -vigil"))
		}
		dir, err := os.MkdirTemp("", "vigil-pprof-")
		if err != nil {
			fatal(err)
		}
		env := &bench.Env{VigilBin: abs(*vigilBin), Dir: dir, Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }}
		err = env.ProfileVigil(*pprofN, *pprofProf, *pprofWin, *pprofDir)
		env.KillAll()
		os.RemoveAll(dir)
		if err != nil {
			fatal(err)
		}
		fmt.Println("profiles in", *pprofDir)
		return
	}
	if *joinOnly != "" {
		os.Exit(runJoinOnly(*joinOnly, *joinStyle, *ns, *scratch, *joinRuns, *joinWait, *joinChurn, *joinKeep, *joinLog, *vigilBin, *serfBin, *outDir))
	}
	if *vigilBin == "" || *serfBin == "" || *outDir == "" {
		fmt.Fprintln(os.Stderr, "usage: vigil-bench -vigil BIN -serf BIN -out DIR [-doc FILE] [-micro FILE] [-quick]")
		os.Exit(2)
	}
	cfg := bench.FullConfig()
	if *quick {
		cfg = bench.QuickConfig()
	}
	if *trials > 0 {
		cfg.Trials, cfg.FastTrials = *trials, *trials
	}
	if *ns != "" {
		cfg.Ns = nil
		for _, f := range strings.Split(*ns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				fmt.Fprintf(os.Stderr, "vigil-bench: -ns %q: want cluster sizes of at least 2\n", *ns)
				os.Exit(2)
			}
			cfg.Ns = append(cfg.Ns, n)
		}
		if !slices.Contains(cfg.Ns, cfg.FastLongN) {
			cfg.FastLongN = cfg.Ns[len(cfg.Ns)-1]
		}
	}
	if *fastWin > 0 {
		cfg.FastLongWindow = *fastWin
	}
	if *skip != "" {
		cfg.Skip = strings.Split(*skip, ",")
	}
	if *pairProf != "" {
		cfg.Profile = *pairProf
	}
	if *scaleNs != "" {
		cfg.ScaleNs = nil
		for _, f := range strings.Split(*scaleNs, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				fmt.Fprintf(os.Stderr, "vigil-bench: -scale-ns %q: want cluster sizes of at least 2\n", *scaleNs)
				os.Exit(2)
			}
			cfg.ScaleNs = append(cfg.ScaleNs, n)
		}
	}
	if *scaleWin > 0 {
		cfg.ScaleWindow = *scaleWin
	}
	if *scaleTrials >= 0 {
		cfg.ScaleTrials = *scaleTrials
	}
	if *scaleOnly != "" {
		cfg.ScaleOnly = strings.Split(*scaleOnly, ",")
	}
	limit := *maxTime
	if limit == 0 {
		limit = 2 * time.Hour // the full run's plan is about 85 minutes
		if *quick {
			limit = 10 * time.Minute
		}
	}

	logf := func(format string, args ...any) {
		fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	dir, tempDir := *scratch, false
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-bench-")
		if err != nil {
			fatal(err)
		}
		dir, tempDir = d, true
		defer os.RemoveAll(d)
	}
	env := &bench.Env{VigilBin: abs(*vigilBin), SerfBin: abs(*serfBin), Dir: dir, Logf: logf}

	// Whatever happens, no agent outlives the harness: a signal or the hard
	// limit kills every agent it started (by PID), and each agent also has
	// SIGKILL as its parent-death signal.
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

	res := &bench.Results{
		Started: time.Now().UTC().Format(time.RFC3339),
		Command: *command,
		Machine: bench.DescribeMachine(*goVersion),
		Config:  cfg,
	}
	res.VigilCommit = strings.TrimSpace(os.Getenv("VIGIL_BENCH_COMMIT"))
	res.SerfVersion = "v0.11.0"

	res.Quiet, res.QuietWaitS = waitForQuiet(*waitQuiet, logf)

	if *goBench != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			fatal(err)
		}
		p := filepath.Join(*outDir, "micro.txt")
		logf("== microbenchmarks: go test -bench, -benchtime %s (output in %s)", *goBench, p)
		t0 := time.Now()
		if err := bench.RunMicro(*goBench, p, 5*time.Minute); err != nil {
			res.Notes = append(res.Notes, "microbenchmarks: "+err.Error())
			logf("   microbenchmarks failed: %v", err)
		}
		logf("   done in %.0f s", time.Since(t0).Seconds())
		*micro = p
	}

	plan := cfg.Plan()
	total := 0.0
	logf("budget (estimated):")
	for _, p := range plan {
		logf("  %6.0f s  %s", float64(p.PlannedS), p.Phase)
		total += float64(p.PlannedS)
	}
	logf("  %6.0f s  total (%.1f min), hard limit %s", total, total/60, limit)

	r := &bench.Runner{Env: env, Cfg: cfg, Res: res}
	t0 := time.Now()
	r.Run()
	env.KillAll()
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	logf("measurements done in %.1f min (planned %.1f)", time.Since(t0).Minutes(), total/60)

	if *micro != "" {
		if b, err := os.ReadFile(*micro); err == nil {
			res.Micro = bench.ParseMicro(string(b))
		} else {
			res.Notes = append(res.Notes, "microbenchmarks: "+err.Error())
		}
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(*outDir, "results.json"), append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	files, err := bench.WriteOutputs(res, *outDir, *doc)
	if err != nil {
		fatal(err)
	}
	logf("wrote %s", filepath.Join(*outDir, "results.json"))
	for _, f := range files {
		logf("wrote %s", f)
	}
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
func runJoinOnly(setups, styles, ns, scratch string, runs int, timeout time.Duration, churn, keep bool, logLevel, vigilBin, serfBin, outDir string) int {
	if outDir == "" {
		fmt.Fprintln(os.Stderr, "vigil-bench: -join-only needs -out")
		return 2
	}
	sizes := []int{50}
	if ns != "" {
		sizes = nil
		for _, f := range strings.Split(ns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 3 {
				fmt.Fprintf(os.Stderr, "vigil-bench: -ns %q: want cluster sizes of at least 3\n", ns)
				return 2
			}
			sizes = append(sizes, n)
		}
	}
	var list []bench.Setup
	for _, name := range strings.Split(setups, ",") {
		s, err := bench.ParseSetup(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vigil-bench:", err)
			return 2
		}
		if (s.Kind == bench.Vigil && vigilBin == "") || (s.Kind == bench.Serf && serfBin == "") {
			fmt.Fprintf(os.Stderr, "vigil-bench: %s needs -%s\n", s.Name(), s.Kind)
			return 2
		}
		list = append(list, s)
	}
	joinStyles, err := bench.ParseJoinStyles(styles)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench: -join-style:", err)
		return 2
	}
	// Without -scratch a temp dir, removed at the end; with it, the logs
	// of every run that missed bench.JoinTarget stay there.
	dir := scratch
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vigil-bench-join-"); err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	logf := func(format string, args ...any) {
		fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	env := &bench.Env{Dir: dir, Logf: logf}
	if vigilBin != "" {
		env.VigilBin = abs(vigilBin)
	}
	if serfBin != "" {
		env.SerfBin = abs(serfBin)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("got %s: killing every agent", s)
		env.KillAll()
		if scratch == "" {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}()
	var all []bench.JoinRun
	for _, n := range sizes {
		for _, st := range joinStyles {
			for _, s := range list {
				all = append(all, env.MeasureJoin(s, bench.JoinOptions{Style: st, N: n, Runs: runs, Timeout: timeout, Churn: churn, Keep: keep && scratch != "", LogLevel: logLevel})...)
			}
		}
	}
	env.KillAll()
	fmt.Println("| Setup | Join | N | Run | Converged (s) | Last | Rejoin (s) | Last | Churn (s) | Note |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Printf("| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", r.Setup, r.Style, r.N, r.Run, (r.ConvergedMS / 1000).Fmt(2), r.Last,
			(r.RejoinMS / 1000).Fmt(2), r.RejoinLast, (r.ChurnMS / 1000).Fmt(2), strings.TrimSpace(r.Note+" "+r.RejoinNote+" "+r.ChurnNote))
	}
	fmt.Println()
	fmt.Print(bench.JoinTable(bench.SummarizeJoin(all, bench.JoinTarget), bench.JoinTarget))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fatal(err)
	}
	b, _ := json.MarshalIndent(all, "", "  ")
	if err := os.WriteFile(filepath.Join(outDir, "join.json"), append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	return 0
}
