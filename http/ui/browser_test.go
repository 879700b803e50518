package ui_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/membership"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// browserToken is the agents' API token in the browser test.
const browserToken = "dashboard-test-token-0123456789"

// chromium returns the path of Debian's chromium. Where there is none the
// test is skipped, saying so, unless CI=true: CI must run it (.ci/run
// installs the package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no chromium on PATH: the dashboard's browser test drives Debian's chromium " +
		"(apt-get install chromium; .ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// console collects what the page writes to the console: console API calls,
// uncaught exceptions and the browser's log (failed loads, CSP
// violations).
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (c *console) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s:%d, source %q)", m, m.URL, m.Line, m.Source))
		}
	}
	return out
}

func (c *console) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		out = append(out, m.String())
	}
	return out
}

// detectionTime is the longest a cluster of n agents with profile takes
// to declare a killed member failed when nothing goes wrong: one probe
// interval to notice, then the longest suspicion timeout
// (SuspicionMaxTimeoutMult × SuspicionMult × max(1, log10 n) × probe
// interval; docs/architecture.md's failure detection time).
func detectionTime(t *testing.T, profile string, n int) time.Duration {
	t.Helper()
	c, err := membership.MemberlistConfig(membership.Profile(profile))
	if err != nil {
		t.Fatal(err)
	}
	min := time.Duration(float64(c.SuspicionMult) * math.Max(1, math.Log10(float64(n))) * float64(c.ProbeInterval))
	return c.ProbeInterval + time.Duration(c.SuspicionMaxTimeoutMult)*min
}

// forward listens on a free loopback port and copies every connection to
// and from addr, as an SSH tunnel does; it returns the port's address.
// The test's end closes the listener and every connection.
func forward(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			track(c)
			track(up)
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// page is headless chromium with one tab, and what the tab's console said.
type page struct {
	t   *testing.T
	ctx context.Context
	con console
}

// openBrowser starts chromium for the test (closed when it ends) and
// collects its console from the start.
func openBrowser(t *testing.T) *page {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run its sandbox as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser; subscribed from here on
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.con.mu.Lock()
			p.con.msgs = append(p.con.msgs, m)
			p.con.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// load navigates the tab to url.
func (p *page) load(url string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("load %s: %v", url, err)
	}
}

// wait polls, in the page, until the JavaScript expression is true; after
// d the test fails with the page's text and console. An expression that
// throws fails at once, so one that reads an element must allow for its
// absence (?.): a -count=3 run polled before the members table had its
// row ("Cannot read properties of null").
func (p *page) wait(what, expr string, d time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("waiting for %s (%s): %v\nconsole: %q\npage:\n%s", what, expr, err, p.con.all(), body)
	}
}

// noConsoleErrors fails the test for every console error, exception or
// error entry of the browser log (a failed load, a CSP violation).
func (p *page) noConsoleErrors() {
	p.t.Helper()
	if errs := p.con.errors(); len(errs) > 0 {
		p.t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	p.t.Logf("console: %q", p.con.all())
}

// serviceConfig gives every agent the service web with a TTL check, which
// starts critical.
const serviceConfig = `service: {name: web, port: 8080}
checks:
  - id: heartbeat
    ttl: 1m
`

// TestDashboardInBrowser loads the dashboard of one agent of a real
// 3-agent cluster (fast gossip profile, on loopback) in headless chromium:
// the page loads without a console error, lists the three members alive,
// follows the event stream, shows the service's passing and critical
// instances and the check's output (as text), says hook runs need the
// token, shows a killed member failed within the detection time plus 2 s,
// with the token typed in shows the hook run that the failure started,
// and works through a tunnel on another port.
func TestDashboardInBrowser(t *testing.T) {
	p := openBrowser(t)
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte(serviceConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 3
	agents := clustertest.StartLocalCluster(t, n, "-profile", "fast", "-http-token", browserToken,
		"-hook", "member-failed=/bin/true", "-config", cfg)
	// n0 and n1 pass their check, n2's stays critical. The note is
	// markup, which the page must show as text.
	const note = `all good <b id="injected">bold</b>`
	for _, a := range agents[:2] {
		if err := a.Do("PUT", "/v1/checks/heartbeat/pass", map[string]string{"note": note}, nil); err != nil {
			t.Fatal(err)
		}
	}

	p.load("http://" + agents[0].HTTPAddr() + "/ui/")
	p.wait("the three members alive", `document.querySelectorAll('#members tr[data-status="alive"]').length === 3 && `+
		`["n0","n1","n2"].every(n => document.querySelector('#members tr[data-member="'+n+'"]'))`, 20*time.Second)
	p.wait("the live event stream", `document.getElementById("stream-state").dataset.state === "live"`, 10*time.Second)
	p.wait("the events replayed", `document.querySelectorAll('#events tr[data-event="member-join"]').length >= 1`, 10*time.Second)
	p.wait("the service: n0 and n1 passing, n2 critical",
		`(() => { const s = document.querySelector('#services [data-service="web"]'); if (!s) return false;`+
			` const h = n => (s.querySelector('tr[data-node="'+n+'"]') || {dataset: {}}).dataset.health;`+
			` return h("n0") === "passing" && h("n1") === "passing" && h("n2") === "critical" &&`+
			` s.querySelector("h3").textContent.includes("2 passing, 1 critical"); })()`, 10*time.Second)
	p.wait("the check's output, as text", `(() => { const r = document.querySelector('#checks tr[data-check="heartbeat"]');`+
		` return r && r.textContent.includes(`+"`"+note+"`"+`) && !document.getElementById("injected"); })()`, 10*time.Second)
	p.wait("the hook-token note", `!document.getElementById("hooks-note").hidden && `+
		`document.getElementById("hooks-note").textContent.includes("need the API token")`, 10*time.Second)
	p.wait("the failover guards", `document.getElementById("failover-quorum").textContent.includes("yes") && `+
		`document.getElementById("failover-brake").textContent.includes("none")`, 10*time.Second)

	// Kill n2 without a word: the page, following n0's event stream, must
	// show it failed within the detection time plus 2 s.
	bound := detectionTime(t, "fast", n) + 2*time.Second
	killed := time.Now()
	agents[2].Kill()
	p.wait(fmt.Sprintf("n2 shown failed within %s", bound),
		`document.querySelector('#members tr[data-member="n2"]')?.dataset.status === "failed"`, bound)
	shown := time.Since(killed)
	t.Logf("n2 killed; the dashboard showed it failed %s later (bound: detection %s + 2 s)", shown.Round(time.Millisecond), bound-2*time.Second)
	if shown > bound {
		t.Errorf("n2 shown failed %s after the kill, over %s", shown, bound)
	}
	p.wait("the member-failed event", `[...document.querySelectorAll('#events tr[data-event="member-failed"]')].some(r => r.textContent.includes("n2"))`, 5*time.Second)

	// With the token typed in, the hook runs show: the member-failed hook
	// ran for n2.
	if err := chromedp.Do(p.ctx,
		chromedp.SendKeys("#token-input", browserToken),
		chromedp.Click("#token-use"),
	); err != nil {
		t.Fatal(err)
	}
	p.wait("the hook run, with the token", `document.getElementById("hooks-note").hidden && `+
		`[...document.querySelectorAll('#hooks tr[data-outcome="ok"]')].some(r => r.textContent.includes("n2"))`, 10*time.Second)
	if path := os.Getenv("VIGIL_DASHBOARD_SCREENSHOT"); path != "" {
		// A picture (PNG) of the page at this point, for whoever changes it.
		png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Errorf("VIGIL_DASHBOARD_SCREENSHOT=%s: %v", path, err)
		}
	}
	stored, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`sessionStorage.getItem("vigil-api-token")`))
	if err != nil || stored != browserToken {
		t.Errorf("sessionStorage holds %q (%v), want the token typed", stored, err)
	}

	// Through a tunnel on another local port (ssh -L 8080:127.0.0.1:PORT,
	// docs/dashboard.md), the page's reads carry no Origin and pass the
	// guard: the same page works.
	p.load("http://" + forward(t, agents[0].HTTPAddr()) + "/ui/")
	p.wait("the members through the tunnel", `document.querySelectorAll('#members tr[data-status="alive"]').length === 2 && `+
		`document.querySelector('#members tr[data-member="n2"]')?.dataset.status === "failed"`, 10*time.Second)
	p.wait("the live event stream through the tunnel", `document.getElementById("stream-state").dataset.state === "live"`, 10*time.Second)

	p.noConsoleErrors()
}

// TestDashboardOpenAPI: on an agent whose API needs no token (-dev), the
// page says so and shows the hook runs at once (the dev agent's built-in
// dev-log hook), without a console error.
func TestDashboardOpenAPI(t *testing.T) {
	p := openBrowser(t)
	a := clustertest.StartLocal(t, "d0", "-dev")
	p.load("http://" + a.HTTPAddr() + "/ui/")
	p.wait("the hook runs without a token", `document.getElementById("hooks-note").hidden && `+
		`document.querySelector('#hooks tr[data-hook="dev-log"]') !== null && `+
		`document.getElementById("token-state").textContent.includes("needs no token")`, 20*time.Second)
	p.wait("the member", `document.querySelector('#members tr[data-member="d0"]')?.dataset.status === "alive"`, 10*time.Second)
	p.noConsoleErrors()
}
